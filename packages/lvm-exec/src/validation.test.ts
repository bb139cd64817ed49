import { describe, expect, it } from "vitest";
import { thrown } from "../test/support.js";
import {
  maxTagCount,
  reservedLvSubstrings,
  validateCount,
  validateLvName,
  validateLvPath,
  validateSizeBytes,
  validateTag,
  validateTags,
  validateVgName,
} from "./validation.js";


describe("volume group and logical volume names", () => {
  it.each(["vg0", "a", "A.b_c+d-e", "0", "...", ".x", "x..", "_internal-looking", "a".repeat(127)])("accepts %j", (name) => {
    expect(validateVgName(name)).toBe(name);
    expect(validateLvName(name)).toBe(name);
  });

  it.each([
    ["", /non-empty/],
    ["-lead", /must not start with "-"/],
    [".", /must not be "\."/],
    ["..", /must not be "\.\."/],
    ["a".repeat(128), /longer than 127/],
    ["x; touch /tmp/pwned", /may contain only/],
    ["a b", /may contain only/],
    ["a/b", /may contain only/],
    ["tab\there", /may contain only/],
    ["new\nline", /may contain only/],
    ["é", /may contain only/],
    ["$(id)", /may contain only/],
    ["`id`", /may contain only/],
    ["a\0b", /may contain only/],
  ])("rejects %j", (name, message) => {
    expect(thrown(() => validateVgName(name)).message).toMatch(message);
    expect(thrown(() => validateLvName(name)).message).toMatch(message);
  });

  it("names the field and the value in the message", () => {
    expect(thrown(() => validateLvName("a b", "sourceName")).message).toBe('sourceName "a b" may contain only A-Z a-z 0-9 + _ . -');
  });

  it.each([undefined, null, 3, ["vg"], {}])("rejects the non-string %j", (value) => {
    expect(thrown(() => validateVgName(value)).message).toMatch(/vgName must be a non-empty string/);
  });

  it.each(["snapshot", "snapshot1", "pvmove0", "pvmove"])("rejects the LV name %j with a reserved prefix", (name) => {
    expect(thrown(() => validateLvName(name)).message).toMatch(/which LVM reserves/);
  });

  it.each(["my-snapshot", "xpvmove"])("accepts %j: the reserved words are prefixes only", (name) => {
    expect(validateLvName(name)).toBe(name);
  });

  it.each(reservedLvSubstrings)("rejects LV names containing %j anywhere", (reserved) => {
    expect(thrown(() => validateLvName(`data${reserved}`)).message).toContain(`contains "${reserved}"`);
    expect(thrown(() => validateLvName(`a${reserved}b`)).message).toContain(`contains "${reserved}"`);
  });

  it("allows the reserved LV words in VG names", () => {
    expect(validateVgName("snapshot_tmeta")).toBe("snapshot_tmeta");
  });

  it("limits the full vg/lv name to 127 characters", () => {
    expect(validateLvPath("vg1", "a".repeat(123))).toBe(`vg1/${"a".repeat(123)}`);
    expect(thrown(() => validateLvPath("vg1", "a".repeat(124))).message).toMatch(/"vg\/lv" may have at most 127/);
  });
});

describe("tags", () => {
  it.each(["a", "topolvm/x=1", "a_b+c.d-e/f=g!h:i&j#k", "-starts-with-dash", "t".repeat(1024)])("accepts %j", (tag) => {
    expect(validateTag(tag)).toBe(tag);
  });

  it.each([
    ["", /non-empty/],
    ["t".repeat(1025), /longer than 1024/],
    ["a b", /may contain only/],
    ["a,b", /may contain only/],
    ["@tag", /may contain only/],
    ["a;b", /may contain only/],
    ["a$b", /may contain only/],
    ['a"b', /may contain only/],
  ])("rejects %j", (tag, message) => {
    expect(thrown(() => validateTag(tag)).message).toMatch(message);
  });

  it("treats an absent list as empty and checks every entry of a list", () => {
    expect(validateTags(undefined)).toEqual([]);
    expect(validateTags(["a", "b"])).toEqual(["a", "b"]);
    expect(thrown(() => validateTags(["a", "b c"])).message).toMatch(/tags entry "b c"/);
    expect(thrown(() => validateTags("a")).message).toMatch(/must be an array/);
  });

  it("accepts up to 32 tags in one list and rejects more, naming the limit and the count", () => {
    const tags = Array.from({ length: maxTagCount }, (_, i) => `t${i}`);
    expect(validateTags(tags)).toEqual(tags);
    const error = thrown(() => validateTags([...tags, "one-more"]));
    expect(error.code).toBe("InvalidArgument");
    expect(error.message).toBe("tags may hold at most 32 tags, got 33");
  });
});

describe("sizes and counts", () => {
  it.each([1, 512, 2 ** 40, Number.MAX_SAFE_INTEGER])("accepts the size %d", (size) => {
    expect(validateSizeBytes(size)).toBe(size);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "1G", 10n])("rejects the size %s", (size) => {
    expect(thrown(() => validateSizeBytes(size)).message).toMatch(/sizeBytes must be a positive integer number of bytes/);
  });

  it("checks counts against their range", () => {
    expect(validateCount(undefined, "stripes", 128)).toBeUndefined();
    expect(validateCount(2, "stripes", 128)).toBe(2);
    expect(thrown(() => validateCount(0, "stripes", 128)).message).toBe("stripes must be an integer from 1 to 128, got 0");
    expect(thrown(() => validateCount(129, "stripes", 128)).message).toMatch(/from 1 to 128/);
    expect(thrown(() => validateCount(1.5, "stripes", 128)).message).toMatch(/from 1 to 128/);
  });
});
