// A validating JSON scanner over raw bytes. The extender reads a handful of fields out of request bodies of up to
// 10 MiB (5,000 full Node objects) and echoes most of the nodes back verbatim; scanning for the byte ranges and
// decoding only the small parts it reads costs a fraction of JSON.parse plus JSON.stringify of the whole body, in
// time and in memory. Most of a Node's bytes are inside strings, so strings are skipped four bytes at a time.

import { JsonSyntaxError } from "./extender-args.js";

/** A JsonSyntaxError that names the byte offset. */
function syntaxError(message: string, offset: number): JsonSyntaxError {
  return new JsonSyntaxError(`${message} at byte ${offset}`);
}

/** JSON text to scan: its bytes, and a view over them for reading four bytes at a time. */
export interface JsonText {
  readonly bytes: Buffer;
  readonly words: DataView;
}

/** Wraps bytes for scanning. */
export function jsonText(bytes: Buffer): JsonText {
  return { bytes, words: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

const quote = 0x22;
const backslash = 0x5c;
const comma = 0x2c;
const colon = 0x3a;
const openBrace = 0x7b;
const closeBrace = 0x7d;
const openBracket = 0x5b;
const closeBracket = 0x5d;

/** Containers may nest this deep; deeper input is refused rather than walked. */
const maxDepth = 1000;

/** 1 at the four whitespace bytes JSON allows. A table read is cheap enough to inline everywhere it is needed. */
const whitespace = new Uint8Array(256);
for (const byte of [0x20, 0x0a, 0x0d, 0x09]) {
  whitespace[byte] = 1;
}

function isWhitespace(byte: number | undefined): boolean {
  return whitespace[byte ?? 0] === 1;
}

/** The offset of the first non-whitespace byte at or after `offset`. */
export function skipWhitespace(text: JsonText, offset: number): number {
  const { bytes } = text;
  let i = offset;
  while (isWhitespace(bytes[i])) {
    i++;
  }
  return i;
}

function describe(bytes: Buffer, offset: number): string {
  const byte = bytes[offset];
  return byte === undefined ? "unexpected end of input" : `unexpected ${JSON.stringify(String.fromCharCode(byte))}`;
}

/**
 * Marks the bytes of a four-byte little-endian `word` that end a string's plain run, a quote, a backslash or a
 * control character, with their high bit (the usual has-zero-byte test on `word` xor the byte, and its
 * has-byte-below-0x20 variant). Bytes above the first marked one may be marked wrongly; the first is always right.
 */
function stringStops(word: number): number {
  const quotes = word ^ 0x22222222;
  const backslashes = word ^ 0x5c5c5c5c;
  return (
    (((quotes - 0x01010101) & ~quotes) | ((backslashes - 0x01010101) & ~backslashes) | ((word - 0x20202020) & ~word)) &
    0x80808080
  );
}

/** Skips a string starting at its opening quote; returns the offset after the closing quote. */
function skipString(text: JsonText, offset: number): number {
  const { bytes, words } = text;
  const wordsEnd = bytes.length - 4;
  let i = offset + 1;
  for (;;) {
    let at = i;
    if (i <= wordsEnd) {
      const stops = stringStops(words.getUint32(i, true));
      if (stops === 0) {
        i += 4;
        continue;
      }
      // The lowest marked bit is the first stop: the byte at its index.
      at = i + ((31 - Math.clz32(stops & -stops)) >> 3);
    }
    const byte = bytes[at];
    if (byte === quote) {
      return at + 1;
    }
    if (byte === backslash) {
      i = at + 2;
    } else if (byte === undefined) {
      throw syntaxError("unterminated string", offset);
    } else if (byte < 0x20) {
      throw syntaxError("control character in string", at);
    } else {
      // Fewer than four bytes are left: one at a time.
      i = at + 1;
    }
  }
}

const numberPattern = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/** Skips a number or a literal (true, false, null); returns the offset after it. */
function skipScalar(bytes: Buffer, offset: number): number {
  let i = offset;
  for (;;) {
    const byte = bytes[i];
    if (byte === undefined || byte === comma || byte === closeBrace || byte === closeBracket || byte === colon || isWhitespace(byte)) {
      break;
    }
    i++;
  }
  const text = String.fromCharCode(...bytes.subarray(offset, Math.min(i, offset + 64)));
  if (i - offset > 64 || !(text === "true" || text === "false" || text === "null" || numberPattern.test(text))) {
    throw syntaxError(i === offset ? describe(bytes, offset) : `invalid value ${JSON.stringify(text)}`, offset);
  }
  return i;
}

// The open containers of the value skipValue is in, innermost last: 1 for an object, 0 for an array. skipValue runs
// to completion without calling out, so one stack serves every call.
const containers = new Uint8Array(maxDepth);

/**
 * Validates the JSON value starting at `offset` (after any whitespace) and returns the offset just after it. Strings
 * are checked for termination and raw control characters, not for escape or UTF-8 validity: the parts the extender
 * reads are decoded strictly (parseSpan), the names it echoes have their escapes checked (checkEscapes), and the rest
 * is echoed to the kube-scheduler that sent it.
 */
export function skipValue(text: JsonText, offset: number): number {
  const { bytes } = text;
  let i = skipWhitespace(text, offset);
  if (bytes[i] === quote) {
    return skipString(text, i);
  }
  let depth = 0;
  for (;;) {
    // Here a value is expected. Whitespace is checked for before calling out: Go's encoder writes none.
    let byte = bytes[i];
    if (byte === quote) {
      i = skipString(text, i);
    } else if (byte === openBrace || byte === openBracket) {
      if (depth >= maxDepth) {
        throw syntaxError(`nesting deeper than ${maxDepth}`, i);
      }
      const isObject = byte === openBrace;
      i += 1;
      if (whitespace[bytes[i] ?? 0] === 1) {
        i = skipWhitespace(text, i);
      }
      if (bytes[i] === (isObject ? closeBrace : closeBracket)) {
        i += 1;
      } else {
        containers[depth++] = isObject ? 1 : 0;
        if (isObject) {
          i = skipMemberKey(text, i);
        }
        continue;
      }
    } else {
      i = skipScalar(bytes, i);
    }
    // A value ended: close containers or move to the next element.
    for (;;) {
      if (depth === 0) {
        return i;
      }
      byte = bytes[i];
      if (whitespace[byte ?? 0] === 1) {
        i = skipWhitespace(text, i);
        byte = bytes[i];
      }
      const inObject = containers[depth - 1] === 1;
      if (byte === comma) {
        i += 1;
        if (whitespace[bytes[i] ?? 0] === 1) {
          i = skipWhitespace(text, i);
        }
        if (inObject) {
          i = skipMemberKey(text, i);
        }
        break;
      }
      if (byte === (inObject ? closeBrace : closeBracket)) {
        depth -= 1;
        i += 1;
        continue;
      }
      throw syntaxError(describe(bytes, i), i);
    }
  }
}

/** Skips `"key" :` and the whitespace after it; returns the offset of the member's value. */
function skipMemberKey(text: JsonText, offset: number): number {
  if (text.bytes[offset] !== quote) {
    throw syntaxError(`${describe(text.bytes, offset)}, expected a member name`, offset);
  }
  return skipColon(text, skipString(text, offset));
}

/** Skips the `:` after a member name that ends at `offset`; returns the offset of the member's value. */
function skipColon(text: JsonText, offset: number): number {
  const { bytes } = text;
  if (bytes[offset] === colon && !isWhitespace(bytes[offset + 1])) {
    return offset + 1;
  }
  const i = skipWhitespace(text, offset);
  if (bytes[i] !== colon) {
    throw syntaxError(`${describe(bytes, i)}, expected ":"`, i);
  }
  return skipWhitespace(text, i + 1);
}

/** Checks that only whitespace follows the document's value. */
export function expectEnd(text: JsonText, offset: number): void {
  const rest = skipWhitespace(text, offset);
  if (rest !== text.bytes.length) {
    throw syntaxError("unexpected data after the JSON value", rest);
  }
}

/** What kind of value starts at `offset`, from its first byte. */
export function valueKind(text: JsonText, offset: number): "object" | "array" | "string" | "null" | "other" {
  switch (text.bytes[offset]) {
    case quote:
      return "string";
    case openBrace:
      return "object";
    case openBracket:
      return "array";
    case 0x6e:
      return "null";
    default:
      return "other";
  }
}

/** Whether the string at `[start, end)` (quotes included) is plain ASCII without escapes: its bytes are its text. */
export function isPlain(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start + 1; i < end - 1; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === backslash || byte >= 0x80) {
      return false;
    }
  }
  return true;
}

/** Whether the string at `[start, end)` (quotes included) has an escape sequence, so its bytes are not its text. */
function hasEscape(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start + 1; i < end - 1; i++) {
    if (bytes[i] === backslash) {
      return true;
    }
  }
  return false;
}

/**
 * Decodes the JSON value at `[start, end)`, which skipValue has checked for structure; plain strings (all of
 * Kubernetes' names) skip JSON.parse. Throws JsonSyntaxError for what skipValue leaves unchecked, a bad escape.
 */
export function parseSpan(text: JsonText, start: number, end: number): unknown {
  const { bytes } = text;
  if (bytes[start] === quote && isPlain(bytes, start, end)) {
    return bytes.toString("latin1", start + 1, end - 1);
  }
  try {
    return JSON.parse(bytes.toString("utf8", start, end));
  } catch {
    throw syntaxError(bytes[start] === quote ? "bad escape in string" : "bad escape in a string of the value", start);
  }
}

/**
 * Checks the escapes of the string at `[start, end)` (quotes included), for a string that is echoed as it arrived
 * rather than decoded: JSON with a bad escape must not go back out.
 */
export function checkEscapes(text: JsonText, start: number, end: number): void {
  if (hasEscape(text.bytes, start, end)) {
    parseSpan(text, start, end);
  }
}

/** Decodes the JSON string at `[start, end)` (quotes included): a member name, or a string value. */
export function stringAt(text: JsonText, start: number, end: number): string {
  return parseSpan(text, start, end) as string;
}

/** A member name's text after its first `skip` characters, for names known to start with a plain ASCII prefix. */
export function memberNameAfter(text: JsonText, start: number, end: number, skip: number): string {
  if (isPlain(text.bytes, start, end)) {
    return text.bytes.toString("latin1", start + 1 + skip, end - 1);
  }
  return stringAt(text, start, end).slice(skip);
}

/** A member name to compare against the scanned text without decoding it: `key` encoded with its quotes. */
export interface MemberKey {
  readonly name: string;
  readonly encoded: Buffer;
}

/** Prepares a member name for memberIs. */
export function memberKey(name: string): MemberKey {
  return { name, encoded: Buffer.from(JSON.stringify(name)) };
}

/** Whether the member name at `[start, end)` (quotes included) is `key`; escaped spellings are decoded. */
export function memberIs(text: JsonText, start: number, end: number, key: MemberKey): boolean {
  const { bytes } = text;
  const { encoded } = key;
  if (end - start === encoded.length) {
    let i = 0;
    while (i < encoded.length && bytes[start + i] === encoded[i]) {
      i++;
    }
    if (i === encoded.length) {
      return true;
    }
  }
  return hasEscape(bytes, start, end) && stringAt(text, start, end) === key.name;
}

/** Whether the member name at `[start, end)` starts with the plain ASCII `prefix`; escaped spellings are decoded. */
export function memberStartsWith(text: JsonText, start: number, end: number, prefix: MemberKey): boolean {
  const { bytes } = text;
  // The prefix's encoding without its closing quote.
  const length = prefix.encoded.length - 1;
  if (end - start > length) {
    let i = 0;
    while (i < length && bytes[start + i] === prefix.encoded[i]) {
      i++;
    }
    if (i === length) {
      return true;
    }
  }
  return hasEscape(bytes, start, end) && stringAt(text, start, end).startsWith(prefix.name);
}

/**
 * Walks the object starting at `offset` (its `{`) in one pass: `onMember` gets where each member's name starts and
 * ends (quotes included, not decoded: see memberIs, memberName) and the offset of its value, and returns the offset just
 * after that value (from skipValue, or from walking into it). Returns the offset after the closing `}`.
 */
export function walkObject(
  text: JsonText,
  offset: number,
  onMember: (nameStart: number, nameEnd: number, valueOffset: number) => number,
): number {
  const { bytes } = text;
  let i = skipWhitespace(text, offset + 1);
  if (bytes[i] === closeBrace) {
    return i + 1;
  }
  for (;;) {
    if (bytes[i] !== quote) {
      throw syntaxError(`${describe(bytes, i)}, expected a member name`, i);
    }
    const nameEnd = skipString(text, i);
    const valueOffset = skipColon(text, nameEnd);
    i = skipWhitespace(text, onMember(i, nameEnd, valueOffset));
    if (bytes[i] === closeBrace) {
      return i + 1;
    }
    if (bytes[i] !== comma) {
      throw syntaxError(`${describe(bytes, i)}, expected "," or "}"`, i);
    }
    i = skipWhitespace(text, i + 1);
  }
}

/** Walks the array starting at `offset` (its `[`) like walkObject, giving each element's index and offset. */
export function walkArray(text: JsonText, offset: number, onElement: (index: number, valueOffset: number) => number): number {
  const { bytes } = text;
  let i = skipWhitespace(text, offset + 1);
  if (bytes[i] === closeBracket) {
    return i + 1;
  }
  for (let index = 0; ; index++) {
    i = skipWhitespace(text, onElement(index, i));
    if (bytes[i] === closeBracket) {
      return i + 1;
    }
    if (bytes[i] !== comma) {
      throw syntaxError(`${describe(bytes, i)}, expected "," or "]"`, i);
    }
    i = skipWhitespace(text, i + 1);
  }
}
