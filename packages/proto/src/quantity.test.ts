import { describe, expect, it } from "vitest";
import { maxQuantityValue, parseQuantity, QuantityError } from "./quantity.js";

describe("parseQuantity", () => {
  it.each([
    ["0", 0n],
    ["1", 1n],
    ["10Gi", 10n << 30n],
    ["1Ki", 1024n],
    ["1Ei", 1n << 60n],
    ["1G", 1_000_000_000n],
    ["500M", 500_000_000n],
    ["1k", 1000n],
    ["1.5Gi", 3n << 29n],
    [".5Ki", 512n],
    ["2.Mi", 2n << 20n],
    ["1e9", 1_000_000_000n],
    ["1E9", 1_000_000_000n],
    ["1e+3", 1000n],
    ["1.5e3", 1500n],
    ["1E", 1_000_000_000_000_000_000n],
    ["+7", 7n],
    ["-7", -7n],
    ["007", 7n],
  ])("reads %s as %s", (text, expected) => {
    expect(parseQuantity(text)).toBe(expected);
  });

  it.each([
    ["1500m", 2n],
    ["1000m", 1n],
    ["1m", 1n],
    ["1.1", 2n],
    ["0.1Ki", 103n],
    ["1e-9", 1n],
    ["1e-99999999", 1n],
    ["-1.5", -2n],
    ["0.0m", 0n],
  ])("rounds the fractional bytes of %s up to %s", (text, expected) => {
    expect(parseQuantity(text)).toBe(expected);
  });

  it("accepts the largest int64 value and nothing above it", () => {
    expect(parseQuantity("9223372036854775807")).toBe(maxQuantityValue);
    expect(() => parseQuantity("9223372036854775808")).toThrow(/larger than 9223372036854775807/);
    expect(() => parseQuantity("8Ei")).toThrow(QuantityError);
    expect(() => parseQuantity("1e20")).toThrow(/larger than/);
    expect(() => parseQuantity("1e99999999999999999999")).toThrow(/larger than/);
  });

  it.each([
    ["", /empty/],
    ["abc", /expected a decimal number/],
    [".", /expected a decimal number/],
    ["1 Gi", /unknown suffix " Gi"/],
    ["1K", /unknown suffix "K"/],
    ["1gi", /unknown suffix "gi"/],
    ["1e", /unknown suffix "e"/],
    ["1e1.5", /unknown suffix "e1.5"/],
    ["1Gi ", /unknown suffix "Gi "/],
    ["--1", /expected a decimal number/],
    ["1".repeat(65), /longer than 64 characters/],
  ])("rejects %j naming the problem", (text, message) => {
    expect(() => parseQuantity(text)).toThrow(message);
  });

  it("quotes the rejected text in the message", () => {
    expect(() => parseQuantity("ten")).toThrow('invalid quantity "ten"');
  });
});
