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
});
