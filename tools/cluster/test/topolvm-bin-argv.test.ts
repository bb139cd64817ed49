import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { topolvmBinArgv, topolvmBinPath } from "../src/topolvm-flags.js";

describe("topolvmBinArgv", () => {
  it("runs a bin with the variables and node flags of its first line, as the kernel would", () => {
    const path = topolvmBinPath("topolvm-scheduler");
    const first = readFileSync(path, "utf8").split("\n", 1)[0] ?? "";
    const argv = topolvmBinArgv("topolvm-scheduler", ["--version"]);
    expect(first).toMatch(/^#!\/usr\/bin\/env -S MALLOC_MMAP_THRESHOLD_=\d+ node --/);
    expect(argv.slice(0, 3)).toEqual(["/usr/bin/env", first.split(" ")[2], process.execPath]);
    expect(argv.slice(3, -2)).toEqual(first.split(" ").slice(4));
    expect(execFileSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8" })).toBe("topolvm-scheduler 0.1.0\n");
  });

  it("runs a bin whose first line sets no variables with this process's node directly", () => {
    const argv = topolvmBinArgv("lvmd", ["--version"]);
    expect(argv[0]).toBe(process.execPath);
    expect(argv.slice(-2)).toEqual([topolvmBinPath("lvmd"), "--version"]);
  });
});
