import { describe, expect, it, vi } from "vitest";
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

  it("replaces its buffer rather than reuse one over four times the size asked for, so a burst's buffer does not stay", () => {
    const pool = createBufferPool(1024);
    const big = pool.acquire(64 * 1024);
    pool.release(big);
    expect(pool.acquireExisting(4096)).toBeUndefined();
    const ordinary = pool.acquire(4096);
    expect(ordinary.buffer).not.toBe(big.buffer);
    pool.release(ordinary);
    expect(pool.acquireExisting(4000)?.buffer).toBe(ordinary.buffer);
  });

  it("lets its buffer go once it was unused for idleReleaseMs, and not while it is in use", () => {
    vi.useFakeTimers();
    try {
      const pool = createBufferPool(1024, 1000);
      const first = pool.acquire(4096);
      vi.advanceTimersByTime(1500);
      pool.release(first);
      vi.advanceTimersByTime(500);
      const second = pool.acquire(4096);
      expect(second.buffer).toBe(first.buffer);
      pool.release(second);
      vi.advanceTimersByTime(1000);
      expect(pool.acquire(4096).buffer).not.toBe(first.buffer);
    } finally {
      vi.useRealTimers();
    }
  });
});
