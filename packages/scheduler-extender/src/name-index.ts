/** Reads values by name, or by a name's UTF-8 encoding `bytes[start, end)`. */
export interface NameLookup<T> {
  get(name: string): T | undefined;
  /**
   * Finds only names without a backslash, so that bytes taken from between a JSON string's quotes can be looked up
   * as they are: when they match, they hold no escape and are the name.
   */
  getByUtf8(bytes: Buffer, start: number, end: number): T | undefined;
}

/**
 * A map from names to values that can also be read by a name's UTF-8 bytes. A names-only request carries 5,000 node
 * names as JSON text; looking each up by its bytes skips decoding 5,000 strings only to find them in a Map.
 */
export interface NameIndex<T> extends NameLookup<T> {
  set(name: string, value: T): void;
  delete(name: string): void;
  size(): number;
}

interface Entry<T> {
  readonly name: string;
  /** The name's UTF-8 bytes when it is not plain ASCII; an ASCII name is compared against its characters. */
  readonly utf8: Buffer | undefined;
  readonly hash: number;
  value: T;
  /** The next entry with the same hash. */
  next: Entry<T> | undefined;
}

/** 30-bit FNV-1a over `bytes[start, end)`: 30 bits stay small integers, which a Map keys without boxing. */
function hashOf(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ (bytes[i] ?? 0), 0x01000193);
  }
  return hash & 0x3fffffff;
}

function isAscii(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    if (name.charCodeAt(i) > 0x7f) {
      return false;
    }
  }
  return true;
}

/** Whether `bytes[start, end)` spell `text` one byte per character; callers pass ASCII bytes or an ASCII `text`. */
export function bytesAreAscii(bytes: Buffer, start: number, end: number, text: string): boolean {
  if (text.length !== end - start) {
    return false;
  }
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== bytes[start + i]) {
      return false;
    }
  }
  return true;
}

function matches(entry: Entry<unknown>, bytes: Buffer, start: number, end: number): boolean {
  const expected = entry.utf8;
  if (expected === undefined) {
    return bytesAreAscii(bytes, start, end, entry.name);
  }
  return expected.length === end - start && expected.equals(bytes.subarray(start, end));
}

/**
 * Creates an empty index. Only the index's own names go into its hash chains, never the bytes a request asks for,
 * so requests cannot lengthen a chain. Lookups touch few cache lines: the chain head, the entry, and the name's
 * characters stored inline in the string.
 */
export function createNameIndex<T>(): NameIndex<T> {
  const byName = new Map<string, Entry<T>>();
  const byHash = new Map<number, Entry<T>>();
  return {
    get: (name) => byName.get(name)?.value,
    getByUtf8(bytes, start, end) {
      for (let entry = byHash.get(hashOf(bytes, start, end)); entry !== undefined; entry = entry.next) {
        if (matches(entry, bytes, start, end)) {
          return entry.value;
        }
      }
      return undefined;
    },
    set(name, value) {
      const known = byName.get(name);
      if (known !== undefined) {
        known.value = value;
        return;
      }
      const ascii = isAscii(name);
      const utf8 = Buffer.from(name);
      const entry: Entry<T> = { name, utf8: ascii ? undefined : utf8, hash: hashOf(utf8, 0, utf8.length), value, next: undefined };
      byName.set(name, entry);
      if (name.includes("\\")) {
        // Bytes that match a name without backslashes are that name in JSON too, escape-free; others are not.
        return;
      }
      entry.next = byHash.get(entry.hash);
      byHash.set(entry.hash, entry);
    },
    delete(name) {
      const entry = byName.get(name);
      if (entry === undefined) {
        return;
      }
      byName.delete(name);
      let head = byHash.get(entry.hash);
      if (head === entry) {
        head = entry.next;
      } else {
        for (let before = head; before !== undefined; before = before.next) {
          if (before.next === entry) {
            before.next = entry.next;
            break;
          }
        }
      }
      if (head === undefined) {
        byHash.delete(entry.hash);
      } else {
        byHash.set(entry.hash, head);
      }
    },
    size: () => byName.size,
  };
}
