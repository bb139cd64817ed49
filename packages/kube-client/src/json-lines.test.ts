import { describe, expect, it } from "vitest";
import { jsonLines } from "./json-lines.js";

async function* chunksOf(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const part of parts) {
    yield await Promise.resolve(typeof part === "string" ? Buffer.from(part) : part);
  }
}

async function collect(chunks: AsyncIterable<Buffer>, maxLineBytes = 1024): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of jsonLines(chunks, maxLineBytes, () => new Error("line too long"))) {
    lines.push(line);
  }
  return lines;
}

describe("jsonLines", () => {
  it("joins lines split across chunks and splits chunks holding several lines", async () => {
    expect(await collect(chunksOf('{"a"', ":1}\n{", '"b":2}\n{"c":3}\n', "\n"))).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it("keeps a UTF-8 character split between chunks intact", async () => {
    const bytes = Buffer.from('{"name":"ノード"}\n');
    expect(await collect(chunksOf(bytes.subarray(0, 12), bytes.subarray(12)))).toEqual(['{"name":"ノード"}']);
  });

  it("yields a last line without a newline and skips blank lines", async () => {
    expect(await collect(chunksOf("\n \n{}\n", "[1]"))).toEqual(["{}", "[1]"]);
  });

  it("throws on a line longer than the limit, whether it ends in the chunk or not", async () => {
    await expect(collect(chunksOf("x".repeat(11), "\n"), 10)).rejects.toThrow("line too long");
    await expect(collect(chunksOf("x".repeat(6), "x".repeat(6)), 10)).rejects.toThrow("line too long");
    await expect(collect(chunksOf("x".repeat(10), "\n"), 10)).resolves.toEqual(["x".repeat(10)]);
  });
});
