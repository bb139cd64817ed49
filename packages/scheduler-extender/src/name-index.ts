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
  readonly utf8: Buffer;
  readonly hash: number;
  value: T;
}

/** 32-bit FNV-1a over `bytes[start, end)`. */
function hashOf(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ (bytes[i] ?? 0), 0x01000193);
  }
  return hash >>> 0;
}

function sameBytes(entry: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (entry.length !== end - start) {
    return false;
  }
  for (let i = 0; i < entry.length; i++) {
    if (entry[i] !== bytes[start + i]) {
      return false;
    }
  }
  return true;
}

/**
 * Creates an empty index. Only the index's own names go into its hash chains, never the bytes a request asks for,
 * so requests cannot lengthen a chain.
 */
export function createNameIndex<T>(): NameIndex<T> {
  const byName = new Map<string, Entry<T>>();
  const byHash = new Map<number, Entry<T>[]>();
  return {
    get: (name) => byName.get(name)?.value,
    getByUtf8(bytes, start, end) {
      const chain = byHash.get(hashOf(bytes, start, end));
      if (chain === undefined) {
        return undefined;
      }
      for (const entry of chain) {
        if (sameBytes(entry.utf8, bytes, start, end)) {
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
      const utf8 = Buffer.from(name);
      const entry: Entry<T> = { utf8, hash: hashOf(utf8, 0, utf8.length), value };
      byName.set(name, entry);
      if (name.includes("\\")) {
        // Bytes that match a name without backslashes are that name in JSON too, escape-free; others are not.
        return;
      }
      const chain = byHash.get(entry.hash);
      if (chain === undefined) {
        byHash.set(entry.hash, [entry]);
      } else {
        chain.push(entry);
      }
    },
    delete(name) {
      const entry = byName.get(name);
      if (entry === undefined) {
        return;
      }
      byName.delete(name);
      const rest = (byHash.get(entry.hash) ?? []).filter((other) => other !== entry);
      if (rest.length === 0) {
        byHash.delete(entry.hash);
      } else {
        byHash.set(entry.hash, rest);
      }
    },
    size: () => byName.size,
  };
}
