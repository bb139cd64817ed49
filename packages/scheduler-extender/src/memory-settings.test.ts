import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { binShebang, createGcHint, mallocEnv, missingMemorySettings, nodeFlags } from "./memory-settings.js";

describe("memory settings", () => {
  it("are what the bin's first line gives its process", () => {
    const bin = readFileSync(new URL("./bin/topolvm-scheduler.ts", import.meta.url), "utf8");
    expect(bin.split("\n")[0]).toBe(binShebang);
    expect(binShebang).toBe(
      "#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node --heap-growing-percent=300 --semi-space-growth-factor=1 --expose-gc",
    );
  });

  it("names each one a process lacks", () => {
    expect(missingMemorySettings([...nodeFlags], { ...mallocEnv })).toEqual([]);
    expect(missingMemorySettings(["--expose-gc"], { MALLOC_MMAP_THRESHOLD_: "131072" })).toEqual([
      "--heap-growing-percent=300",
      "--semi-space-growth-factor=1",
      "MALLOC_MMAP_THRESHOLD_=32768",
    ]);
  });
});

describe("createGcHint", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs a young-generation GC at each hint and one full GC once the hints stop for the quiet period", () => {
    vi.useFakeTimers();
    const runs: (string | undefined)[] = [];
    const gc = ((options?: NodeJS.GCOptions | boolean) => {
      runs.push(typeof options === "object" ? options.type : String(options));
    }) as NodeJS.GCFunction;
    const hint = createGcHint(gc, 1000);
    hint();
    vi.advanceTimersByTime(600);
    hint();
    vi.advanceTimersByTime(600);
    expect(runs).toEqual(["minor", "minor"]);
    vi.advanceTimersByTime(400);
    expect(runs).toEqual(["minor", "minor", "major"]);
    hint();
    vi.advanceTimersByTime(1000);
    expect(runs).toEqual(["minor", "minor", "major", "minor", "major"]);
  });

  it("does nothing in a process started without --expose-gc", () => {
    expect(() => {
      createGcHint(undefined)();
    }).not.toThrow();
  });
});
