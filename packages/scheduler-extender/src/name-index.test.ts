import { describe, expect, it } from "vitest";
import { createNameIndex } from "./name-index.js";

describe("createNameIndex", () => {
  it("finds values by name and by the name's UTF-8 bytes inside a larger buffer", () => {
    const index = createNameIndex<number>();
    index.set("node-1", 1);
    index.set("nœud-2", 2);
    const bytes = Buffer.from('["node-1","nœud-2","node-3"]');
    expect(index.getByUtf8(bytes, 2, 8)).toBe(1);
    expect(index.getByUtf8(bytes, 11, 18)).toBe(2);
    expect(index.getByUtf8(bytes, 21, 27)).toBeUndefined();
    expect(index.getByUtf8(bytes, 2, 7)).toBeUndefined();
    expect(index.get("nœud-2")).toBe(2);
  });

  it("updates in place and forgets deleted names", () => {
    const index = createNameIndex<string>();
    index.set("a", "first");
    index.set("a", "second");
    index.set("b", "other");
    index.delete("a");
    index.delete("missing");
    expect(index.get("a")).toBeUndefined();
    expect(index.getByUtf8(Buffer.from("a"), 0, 1)).toBeUndefined();
    expect(index.getByUtf8(Buffer.from("b"), 0, 1)).toBe("other");
    expect(index.size()).toBe(1);
  });

  it("finds every one of many similar names", () => {
    const index = createNameIndex<number>();
    const names = Array.from({ length: 20_000 }, (_, i) => `n${i}`);
    for (const [i, name] of names.entries()) {
      index.set(name, i);
    }
    for (const [i, name] of names.entries()) {
      const bytes = Buffer.from(name);
      expect(index.getByUtf8(bytes, 0, bytes.length)).toBe(i);
    }
  });

  it("keeps names whose hashes collide apart, and deletes either of them", () => {
    // The index's 30-bit FNV-1a, to find two names that share a chain.
    const hash = (name: string): number => {
      let h = 0x811c9dc5;
      for (const byte of Buffer.from(name)) {
        h = Math.imul(h ^ byte, 0x01000193);
      }
      return h & 0x3fffffff;
    };
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const name = `node-${i}`;
      const other = seen.get(hash(name));
      if (other === undefined) {
        seen.set(hash(name), name);
      } else {
        pair = [other, name];
      }
    }
    const [first, second] = pair;
    const lookup = (index: ReturnType<typeof createNameIndex<string>>, name: string) => {
      const bytes = Buffer.from(name);
      return index.getByUtf8(bytes, 0, bytes.length);
    };
    for (const deleted of [first, second]) {
      const index = createNameIndex<string>();
      index.set(first, "first");
      index.set(second, "second");
      expect([lookup(index, first), lookup(index, second)]).toEqual(["first", "second"]);
      index.delete(deleted);
      const kept = deleted === first ? second : first;
      expect(lookup(index, deleted)).toBeUndefined();
      expect(lookup(index, kept)).toBe(kept === first ? "first" : "second");
    }
  });
});
