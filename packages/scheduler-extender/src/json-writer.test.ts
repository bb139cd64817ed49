import { describe, expect, it } from "vitest";
import { createBufferPool } from "./buffer-pool.js";
import { createJsonWriter } from "./json-writer.js";

describe("createJsonWriter", () => {
  it("writes strings JSON.parse reads back, escapes and non-ASCII included", () => {
    const values = ["plain", 'quo"te', "back\\slash", "new\nline", "tab\t", "é", "日本", "\u007f", "\ud800", ""];
    const writer = createJsonWriter(8, createBufferPool(16));
    writer.raw("[");
    values.forEach((value, index) => {
      if (index > 0) {
        writer.raw(",");
      }
      writer.string(value);
    });
    writer.raw(",");
    writer.integer(10);
    writer.raw(",");
    writer.bytes(Buffer.from('x{"k":"v"}x'), 1, 10);
    writer.raw("]");
    expect(JSON.parse(writer.finish().toString())).toEqual([...values, 10, { k: "v" }]);
  });

  it("outgrows its first buffer and gives the pooled one back", () => {
    const pool = createBufferPool(64);
    const pooled = pool.acquire(4096);
    pool.release(pooled);
    const writer = createJsonWriter(1, pool);
    const long = "x".repeat(10_000);
    writer.string(long);
    const written = writer.finish();
    expect(written.toString()).toBe(JSON.stringify(long));
    expect(written.buffer).not.toBe(pooled.buffer);
    expect(pool.acquire(4096).buffer).toBe(pooled.buffer);
  });
});
