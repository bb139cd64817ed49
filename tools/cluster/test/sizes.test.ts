import { describe, expect, it } from "vitest";

import { formatSize, parseSize } from "../src/sizes.js";

describe("parseSize", () => {
  it.each([
    ["4096", 4096],
    ["10K", 10 * 1024],
    ["512M", 512 * 2 ** 20],
    ["10G", 10 * 2 ** 30],
    ["10Gi", 10 * 2 ** 30],
    ["10GiB", 10 * 2 ** 30],
    ["1t", 2 ** 40],
  ])("reads %s as %i bytes", (text, bytes) => {
    expect(parseSize(text, "--vg-size")).toBe(bytes);
  });

  it.each(["", "G", "1.5G", "10X", "-1G", "10 GB extra"])("rejects %j, naming the option", (text) => {
    expect(() => parseSize(text, "--vg-size")).toThrow(`--vg-size: "${text}" is not a size`);
  });

  it("rejects zero", () => {
    expect(() => parseSize("0G", "--vg-size")).toThrow('--vg-size: "0G" must be a positive size');
  });
});

describe("formatSize", () => {
  it.each([
    [10 * 2 ** 30, "10G"],
    [1536 * 2 ** 20, "1536M"],
    [2 ** 40, "1T"],
    [1000, "1000B"],
  ])("writes %i bytes as %s", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});
