import { describe, expect, it } from "vitest";
import { createBufferPool } from "./buffer-pool.js";
import { createJsonWriter } from "./json-writer.js";

describe("createJsonWriter", () => {
  it("writes punctuation, integers and spliced JSON text", () => {
    const writer = createJsonWriter(8, createBufferPool(16));
    const spliced = Buffer.from(`x{"k":"${"\u65e5".repeat(100)}"}x`);
    writer.raw("[");
    writer.integer(7);
    writer.raw(",");
    writer.integer(10);
    writer.raw(",");
    writer.bytes(Buffer.from('x{"k":"v"}x'), 1, 10);
    writer.raw(",");
    writer.bytes(spliced, 1, spliced.length - 1);
    writer.raw("]");
    expect(JSON.parse(writer.finish().toString())).toEqual([7, 10, { k: "v" }, { k: "\u65e5".repeat(100) }]);
  });

  it("outgrows its first buffer and gives the pooled one back", () => {
    const pool = createBufferPool(64);
    const pooled = pool.acquire(4096);
    pool.release(pooled);
    const writer = createJsonWriter(1, pool);
    const long = Buffer.from(JSON.stringify("x".repeat(10_000)));
    writer.bytes(long, 0, long.length);
    const written = writer.finish();
    expect(written.toString()).toBe(long.toString());
    expect(written.buffer).not.toBe(pooled.buffer);
    expect(pool.acquire(4096).buffer).toBe(pooled.buffer);
  });
});
