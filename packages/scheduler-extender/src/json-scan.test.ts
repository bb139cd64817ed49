import { describe, expect, it } from "vitest";
import { seededRandom } from "../test/support/seeded-random.js";
import { JsonSyntaxError } from "./extender-args.js";
import { jsonText, memberIs, memberKey, memberStartsWith, parseSpan, skipValue } from "./json-scan.js";

// String contents around every byte the four-byte skipping must stop at, and bytes that look like them.
const pieces = ["a", "Zz", "\\\"", "\\\\", "\\n", "\\u00e9", "é", "日本", "\u007f", " ", "!", "#", "[", "]", "{", "}", ":", ","];

function scan(text: string): number {
  return skipValue(jsonText(Buffer.from(text)), 0);
}

describe("skipValue", () => {
  it("finds the end of strings of every length and alignment, escapes at every position", () => {
    const next = seededRandom(7);
    for (let round = 0; round < 3000; round++) {
      const content = Array.from({ length: Math.floor(next() * 12) }, () => pieces[Math.floor(next() * pieces.length)]).join("");
      const padding = " ".repeat(Math.floor(next() * 4));
      const text = `${padding}["${content}",1]`;
      expect(scan(text)).toBe(Buffer.byteLength(text));
      expect(JSON.parse(text)).toEqual([JSON.parse(`"${content}"`), 1]);
    }
  });

  it("rejects a raw control character anywhere in a string", () => {
    for (let position = 0; position < 9; position++) {
      const content = "abcdefgh".slice(0, position) + "\u0001" + "abcdefgh".slice(position);
      expect(() => scan(`"${content}"`)).toThrow(new JsonSyntaxError(`control character in string at byte ${position + 1}`));
    }
  });

  it("rejects a string cut short at every length", () => {
    const whole = '"abc\\"defghij\\\\"';
    for (let length = 1; length < whole.length; length++) {
      expect(() => scan(whole.slice(0, length))).toThrow(JsonSyntaxError);
    }
    expect(scan(whole)).toBe(whole.length);
  });

  it("validates the structure around the strings it skips", () => {
    const valid = '{"a":[1,{"b":null}],"c":"d"} ';
    expect(scan(valid)).toBe(valid.length - 1);
    for (const bad of ['{"a" 1}', '{"a":1,}', "[1 2]", '{"a":tru}', "[01]", '{"a":"b"']) {
      expect(() => scan(bad)).toThrow(JsonSyntaxError);
    }
  });
});

describe("member names", () => {
  const text = jsonText(Buffer.from('"metadata" "m\\u0065tadata" "capacity.topolvm.cybozu.com/ssd" "name"'));

  it("matches a member name by its bytes, or by its decoded text when it is escaped", () => {
    const key = memberKey("metadata");
    expect(memberIs(text, 0, 10, key)).toBe(true);
    expect(memberIs(text, 11, 26, key)).toBe(true);
    expect(memberIs(text, 61, 67, key)).toBe(false);
  });

  it("matches a prefix", () => {
    const prefix = memberKey("capacity.topolvm.cybozu.com/");
    expect(memberStartsWith(text, 27, 60, prefix)).toBe(true);
    expect(memberStartsWith(text, 0, 10, prefix)).toBe(false);
    expect(parseSpan(text, 27, 60)).toBe("capacity.topolvm.cybozu.com/ssd");
  });
});
