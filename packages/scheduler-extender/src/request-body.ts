import type { IncomingMessage } from "node:http";
import type { BufferPool } from "./buffer-pool.js";

/** An error the HTTP layer answers with its status code and message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** Upstream's limit too: 5,000 Nodes of about 2 KB each fit, a runaway client does not. */
export const defaultBodyLimitBytes = 10 * 1024 * 1024;

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(413, `request body is larger than the limit of ${limitBytes} bytes`);
}

/**
 * Reads a request body of at most `limitBytes`. On overflow it stops reading and rejects with 413 without consuming
 * the rest, so the caller must close the connection after answering.
 */
export function readBody(request: IncomingMessage, limitBytes: number, pool?: BufferPool): Promise<Buffer> {
  const declared = request.headers["content-length"];
  const declaredBytes = declared === undefined ? undefined : Number(declared);
  if (declaredBytes !== undefined && declaredBytes > limitBytes) {
    return Promise.reject(tooLarge(limitBytes));
  }
  // With a declared length the body lands in one buffer as it arrives: no list of chunks and no second copy of a
  // body that can be 10 MiB.
  const whole =
    declaredBytes === undefined || !Number.isSafeInteger(declaredBytes)
      ? undefined
      : (pool?.acquire(declaredBytes) ?? Buffer.allocUnsafe(declaredBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("aborted", onAborted);
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > limitBytes) {
        cleanup();
        if (whole !== undefined) {
          pool?.release(whole);
        }
        request.pause();
        reject(tooLarge(limitBytes));
        return;
      }
      if (whole === undefined) {
        chunks.push(chunk);
      } else {
        // node:http never delivers more than Content-Length says.
        chunk.copy(whole, received);
      }
      received += chunk.length;
    };
    const onEnd = (): void => {
      cleanup();
      resolve(whole ?? Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => {
      cleanup();
      if (whole !== undefined) {
        pool?.release(whole);
      }
      reject(new HttpError(400, `reading the request body failed: ${error.message}`));
    };
    const onAborted = (): void => {
      onError(new Error("the client closed the connection"));
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
    request.on("aborted", onAborted);
  });
}
