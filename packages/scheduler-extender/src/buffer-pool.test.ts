import { describe, expect, it } from "vitest";
import { createBufferPool } from "./buffer-pool.js";

describe("createBufferPool", () => {
  it("reuses one buffer for large bodies once it is released", () => {
    const pool = createBufferPool(1024);
    const first = pool.acquire(4096);
    const whileBusy = pool.acquire(4096);
    expect(whileBusy.buffer).not.toBe(first.buffer);
    pool.release(whileBusy);
    pool.release(first);
    const again = pool.acquire(2048);
    expect(again.buffer).toBe(first.buffer);
    expect(again.length).toBe(2048);
  });

  it("grows its buffer for a larger body and leaves small bodies out", () => {
    const pool = createBufferPool(1024);
    const small = pool.acquire(100);
    pool.release(pool.acquire(2048));
    const large = pool.acquire(8192);
    expect(large.length).toBe(8192);
    pool.release(large);
    expect(pool.acquire(8000).buffer).toBe(large.buffer);
    expect(small.length).toBe(100);
  });
});
