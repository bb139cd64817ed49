const newline = 0x0a;

/**
 * Splits a byte stream into its non-blank lines, decoded as UTF-8 once whole (so a character split across chunks
 * stays intact). A line longer than `maxLineBytes` throws the error `tooLong` makes, before it is buffered whole.
 */
export async function* jsonLines(
  chunks: AsyncIterable<Buffer>,
  maxLineBytes: number,
  tooLong: () => Error,
): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(newline, start); end !== -1; end = chunk.indexOf(newline, start)) {
      const piece = chunk.subarray(start, end);
      start = end + 1;
      if (pendingBytes + piece.length > maxLineBytes) {
        throw tooLong();
      }
      const line = (pending.length === 0 ? piece : Buffer.concat([...pending, piece])).toString("utf8");
      pending = [];
      pendingBytes = 0;
      if (line.trim() !== "") {
        yield line;
      }
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxLineBytes) {
        throw tooLong();
      }
      pending.push(chunk.subarray(start));
    }
  }
  const last = Buffer.concat(pending).toString("utf8");
  if (last.trim() !== "") {
    yield last;
  }
}
