// A validating JSON scanner over raw bytes. The extender reads a handful of fields out of request bodies of up to
// 10 MiB (5,000 full Node objects) and echoes most of the nodes back verbatim; scanning for the byte ranges and
// parsing only the small parts it reads costs a fraction of JSON.parse plus JSON.stringify of the whole body, in
// time and in memory.

/** Thrown for bytes that are not JSON; the message names the byte offset. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = "JsonSyntaxError";
  }
}

/** The byte range of one JSON value inside a buffer. */
export interface JsonSpan {
  readonly start: number;
  readonly end: number;
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

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** The offset of the first non-whitespace byte at or after `offset`. */
export function skipWhitespace(bytes: Buffer, offset: number): number {
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

/** Skips a string starting at its opening quote; returns the offset after the closing quote. */
function skipString(bytes: Buffer, offset: number): number {
  let i = offset + 1;
  for (;;) {
    const byte = bytes[i];
    if (byte === quote) {
      return i + 1;
    }
    if (byte === undefined) {
      throw new JsonSyntaxError("unterminated string", offset);
    }
    if (byte < 0x20) {
      throw new JsonSyntaxError("control character in string", i);
    }
    i += byte === backslash ? 2 : 1;
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
    throw new JsonSyntaxError(i === offset ? describe(bytes, offset) : `invalid value ${JSON.stringify(text)}`, offset);
  }
  return i;
}

/**
 * Validates the JSON value starting at `offset` (after any whitespace) and returns the offset just after it. Strings
 * are checked for termination and raw control characters, not for escape or UTF-8 validity: the parts the extender
 * reads go through JSON.parse, and the rest is echoed to the kube-scheduler that sent it.
 */
export function skipValue(bytes: Buffer, offset: number): number {
  // One entry per open container: true for an object, false for an array.
  const stack: boolean[] = [];
  let i = skipWhitespace(bytes, offset);
  for (;;) {
    // Here a value is expected.
    const byte = bytes[i];
    if (byte === openBrace || byte === openBracket) {
      if (stack.length >= maxDepth) {
        throw new JsonSyntaxError(`nesting deeper than ${maxDepth}`, i);
      }
      const isObject = byte === openBrace;
      i = skipWhitespace(bytes, i + 1);
      if (bytes[i] === (isObject ? closeBrace : closeBracket)) {
        i += 1;
      } else {
        stack.push(isObject);
        if (isObject) {
          i = skipMemberKey(bytes, i);
        }
        continue;
      }
    } else if (byte === quote) {
      i = skipString(bytes, i);
    } else {
      i = skipScalar(bytes, i);
    }
    // A value ended: close containers or move to the next element.
    for (;;) {
      if (stack.length === 0) {
        return i;
      }
      i = skipWhitespace(bytes, i);
      const inObject = stack[stack.length - 1] === true;
      const next = bytes[i];
      if (next === comma) {
        i = skipWhitespace(bytes, i + 1);
        if (inObject) {
          i = skipMemberKey(bytes, i);
        }
        break;
      }
      if (next === (inObject ? closeBrace : closeBracket)) {
        stack.pop();
        i += 1;
        continue;
      }
      throw new JsonSyntaxError(describe(bytes, i), i);
    }
  }
}

/** Skips `"key" :` and the whitespace after it; returns the offset of the member's value. */
function skipMemberKey(bytes: Buffer, offset: number): number {
  if (bytes[offset] !== quote) {
    throw new JsonSyntaxError(`${describe(bytes, offset)}, expected a member name`, offset);
  }
  return skipColon(bytes, skipString(bytes, offset));
}

/** Skips the `:` after a member name that ends at `offset`; returns the offset of the member's value. */
function skipColon(bytes: Buffer, offset: number): number {
  const i = skipWhitespace(bytes, offset);
  if (bytes[i] !== colon) {
    throw new JsonSyntaxError(`${describe(bytes, i)}, expected ":"`, i);
  }
  return skipWhitespace(bytes, i + 1);
}

/** Checks that only whitespace follows the document's value. */
export function expectEnd(bytes: Buffer, offset: number): void {
  const rest = skipWhitespace(bytes, offset);
  if (rest !== bytes.length) {
    throw new JsonSyntaxError("unexpected data after the JSON value", rest);
  }
}

/** What kind of value starts at `offset`, from its first byte. */
export function valueKind(bytes: Buffer, offset: number): "object" | "array" | "string" | "null" | "other" {
  switch (bytes[offset]) {
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

/** Decodes the JSON text of a span the scanner found. */
export function parseSpan(bytes: Buffer, span: JsonSpan): unknown {
  return JSON.parse(bytes.toString("utf8", span.start, span.end));
}

/** Decodes a member name; plain ASCII names (all of Kubernetes') skip JSON.parse. */
function memberName(bytes: Buffer, start: number, end: number): string {
  for (let i = start + 1; i < end - 1; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === backslash || byte >= 0x80) {
      return JSON.parse(bytes.toString("utf8", start, end)) as string;
    }
  }
  return bytes.toString("latin1", start + 1, end - 1);
}

/**
 * Walks the object starting at `offset` (its `{`) in one pass: `onMember` gets each member's name and the offset of
 * its value, and returns the offset just after that value (from skipValue, or from walking into it). Returns the
 * offset after the closing `}`.
 */
export function walkObject(bytes: Buffer, offset: number, onMember: (name: string, valueOffset: number) => number): number {
  let i = skipWhitespace(bytes, offset + 1);
  if (bytes[i] === closeBrace) {
    return i + 1;
  }
  for (;;) {
    if (bytes[i] !== quote) {
      throw new JsonSyntaxError(`${describe(bytes, i)}, expected a member name`, i);
    }
    const nameEnd = skipString(bytes, i);
    const valueOffset = skipColon(bytes, nameEnd);
    i = skipWhitespace(bytes, onMember(memberName(bytes, i, nameEnd), valueOffset));
    if (bytes[i] === closeBrace) {
      return i + 1;
    }
    if (bytes[i] !== comma) {
      throw new JsonSyntaxError(`${describe(bytes, i)}, expected "," or "}"`, i);
    }
    i = skipWhitespace(bytes, i + 1);
  }
}

/** Walks the array starting at `offset` (its `[`) like walkObject, giving each element's index and offset. */
export function walkArray(bytes: Buffer, offset: number, onElement: (index: number, valueOffset: number) => number): number {
  let i = skipWhitespace(bytes, offset + 1);
  if (bytes[i] === closeBracket) {
    return i + 1;
  }
  for (let index = 0; ; index++) {
    i = skipWhitespace(bytes, onElement(index, i));
    if (bytes[i] === closeBracket) {
      return i + 1;
    }
    if (bytes[i] !== comma) {
      throw new JsonSyntaxError(`${describe(bytes, i)}, expected "," or "]"`, i);
    }
    i = skipWhitespace(bytes, i + 1);
  }
}
