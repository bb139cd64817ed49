import { getHeapStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { tuneHeap } from "./heap-tuning.js";

describe("tuneHeap", () => {
  it("returns a function that runs a young-generation GC", () => {
    const collectYoungGarbage = tuneHeap();
    // Young garbage, which only a GC frees.
    let garbage: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      garbage.push(String(i).repeat(10));
    }
    garbage = [];
    const before = getHeapStatistics().used_heap_size;
    collectYoungGarbage();
    expect(getHeapStatistics().used_heap_size).toBeLessThan(before);
    expect(garbage).toEqual([]);
  });

  it("runs a full GC once no large body came for the quiet period", async () => {
    const collectYoungGarbage = tuneHeap(200);
    // Garbage that survived two young-generation GCs lives in the old generation, which only a full GC frees.
    let garbage: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      garbage.push(String(i).repeat(10));
    }
    collectYoungGarbage();
    collectYoungGarbage();
    garbage = [];
    const before = getHeapStatistics().used_heap_size;
    collectYoungGarbage();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(getHeapStatistics().used_heap_size).toBeLessThan(before - 1_000_000);
    expect(garbage).toEqual([]);
  });
});
