import type { IncomingMessage } from "node:http";

/**
 * Reads a response body whole, refusing more than `maxBytes` (by Content-Length up front, else as it arrives) with
 * the error `tooLarge` makes; the response is destroyed then so the rest is not downloaded.
 */
export async function readBody(response: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const declared = Number(response.headers["content-length"] ?? Number.NaN);
  if (declared > maxBytes) {
    response.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    if (bytes > maxBytes) {
      response.destroy();
      throw tooLarge();
    }
    chunks.push(buffer);
  }
  return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, bytes);
}
