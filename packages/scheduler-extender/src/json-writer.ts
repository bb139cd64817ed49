import type { BufferPool } from "./buffer-pool.js";

/**
 * Writes JSON text into one buffer, for the scan's answers (full-object-scan.ts): megabytes of Nodes' JSON copied as
 * they arrived, and thousands of names and reasons. Written in place, they need no object per Node for
 * JSON.stringify, and a pooled buffer is not a fresh allocation per answer.
 */
export interface JsonWriter {
  /** Appends ASCII JSON text as it is: punctuation, member names. */
  raw(text: string): void;
  /** Appends `bytes[start, end)`, JSON text taken from a request. */
  bytes(bytes: Buffer, start: number, end: number): void;
  /** Appends a non-negative integer. */
  integer(value: number): void;
  /** The text written so far; the writer must not be used afterwards. */
  finish(): Buffer;
}

/**
 * Starts a writer. `expectedBytes` sizes the first buffer, taken from `pool`, with some room to spare; a longer text
 * moves to a larger, unpooled buffer. The caller gives the finished buffer back to the pool once it is no longer read.
 */
export function createJsonWriter(expectedBytes: number, pool: BufferPool): JsonWriter {
  let out = pool.acquire(Math.ceil(expectedBytes * 1.125) + 1024);
  let length = 0;

  function reserve(bytes: number): void {
    if (length + bytes <= out.length) {
      return;
    }
    const larger = Buffer.allocUnsafe(Math.max(out.length * 2, length + bytes));
    out.copy(larger, 0, 0, length);
    pool.release(out);
    out = larger;
  }

  // The loops below work on locals: `out` and `length` live in this closure's context, slow to touch per byte.
  function copy(bytes: Buffer, start: number, end: number): void {
    reserve(end - start);
    if (end - start > 128) {
      length += bytes.copy(out, length, start, end);
      return;
    }
    // Below a hundred bytes or so a loop beats the native call, which also creates a view of the bytes it copies.
    const target = out;
    let at = length;
    for (let i = start; i < end; i++) {
      target[at++] = bytes[i] ?? 0;
    }
    length = at;
  }

  function raw(text: string): void {
    reserve(text.length);
    const target = out;
    let at = length;
    for (let i = 0; i < text.length; i++) {
      target[at++] = text.charCodeAt(i);
    }
    length = at;
  }

  return {
    raw,
    bytes: copy,
    integer(value) {
      if (value >= 0 && value < 10) {
        // Scores are 0-10: most take one byte and no string.
        reserve(1);
        out[length++] = 0x30 + value;
      } else {
        raw(String(value));
      }
    },
    finish() {
      return out.subarray(0, length);
    },
  };
}
