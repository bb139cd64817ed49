import { describe, expect, it } from "vitest";
import { capacityScore } from "./score.js";

const gib = 1n << 30n;
const tib = 1n << 40n;

describe("capacityScore", () => {
  it.each([
    { capacity: "0", bytes: 0n, divisor: 1, score: 0 },
    { capacity: "1 GiB", bytes: gib, divisor: 1, score: 0 },
    { capacity: "3 GiB", bytes: 3n * gib, divisor: 1, score: 1 },
    { capacity: "1 TiB", bytes: tib, divisor: 1, score: 10 },
    { capacity: "2 TiB", bytes: 2n * tib, divisor: 1, score: 10 },
    { capacity: "0", bytes: 0n, divisor: 10, score: 0 },
    { capacity: "1 GiB", bytes: gib, divisor: 10, score: 0 },
    { capacity: "3 GiB", bytes: 3n * gib, divisor: 10, score: 0 },
    { capacity: "1 TiB", bytes: tib, divisor: 10, score: 6 },
    { capacity: "2 TiB", bytes: 2n * tib, divisor: 10, score: 7 },
  ])("scores $capacity with divisor $divisor as $score", ({ bytes, divisor, score }) => {
    expect(capacityScore(bytes, divisor)).toBe(score);
  });

  it("counts whole GiB only, so just under 2 GiB scores like 1 GiB", () => {
    expect(capacityScore(2n * gib - 1n, 1)).toBe(0);
    expect(capacityScore(2n * gib, 1)).toBe(1);
  });

  it("handles byte counts past 2^53 exactly", () => {
    expect(capacityScore(2n ** 64n - 1n, 1)).toBe(10);
    expect(capacityScore(2n ** 64n - 1n, 2 ** 30)).toBe(3);
  });

  it("accepts fractional divisors", () => {
    expect(capacityScore(gib, 0.25)).toBe(2);
  });
});
