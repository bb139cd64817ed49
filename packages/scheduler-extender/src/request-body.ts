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

/** The client closed the connection before its body was all sent: nothing to answer, nothing wrong here. */
export class ClientAbortError extends HttpError {
  constructor() {
    super(400, "the client closed the connection before the end of the request body");
    this.name = "ClientAbortError";
  }
}

/**
 * The client did not send the whole request within the server's request timeout: node:http has already answered 408
 * and closed the connection.
 */
export class RequestTimeoutError extends HttpError {
  constructor() {
    super(408, "the request was not all sent within the request timeout");
    this.name = "RequestTimeoutError";
  }
}

/** Why a request's body stopped arriving: node:http's request timeout, or the client going away. */
function cutShort(request: IncomingMessage): HttpError {
  const cause: NodeJS.ErrnoException | null = request.socket.errored;
  return cause?.code === "ERR_HTTP_REQUEST_TIMEOUT" ? new RequestTimeoutError() : new ClientAbortError();
}

/** Upstream's limit too: 5,000 Nodes of about 2 KB each fit, a runaway client does not. */
export const defaultBodyLimitBytes = 10 * 1024 * 1024;

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(413, `request body is larger than the limit of ${limitBytes} bytes`);
}

/** Admits request bodies while both their number and their declared bytes stay under a cap. */
export interface BodyBudget {
  /** Reserves `bytes` for one body; returns the release function, or undefined when over a cap. */
  admit(bytes: number): (() => void) | undefined;
}

/**
 * kube-scheduler sends one request at a time, so these caps only bite a misbehaving client or a burst of them: six
 * or seven 5,000-Node bodies at once, any number of small ones up to `maxBodies`.
 */
export const defaultMaxBodies = 32;
export const defaultMaxBodyBytes = 64 * 1024 * 1024;

/** Creates a budget of at most `maxBodies` bodies and `maxBytes` declared bytes in flight. */
export function createBodyBudget(maxBodies = defaultMaxBodies, maxBytes = defaultMaxBodyBytes): BodyBudget {
  let bodies = 0;
  let bytesReserved = 0;
  return {
    admit(bytes) {
      if (bodies + 1 > maxBodies || bytesReserved + bytes > maxBytes) {
        return undefined;
      }
      bodies += 1;
      bytesReserved += bytes;
      let released = false;
      return () => {
        if (!released) {
          released = true;
          bodies -= 1;
          bytesReserved -= bytes;
        }
      };
    },
  };
}

/** The body's declared length, or undefined when it has none (chunked) or it is not a number. */
export function declaredLength(request: IncomingMessage): number | undefined {
  const declared = request.headers["content-length"];
  const declaredBytes = declared === undefined ? undefined : Number(declared);
  return declaredBytes !== undefined && Number.isSafeInteger(declaredBytes) ? declaredBytes : undefined;
}

/**
 * Reads a request body of at most `limitBytes`. On overflow it stops reading and rejects with 413 without consuming
 * the rest, so the caller must close the connection after answering. Memory grows with the bytes that arrive, never
 * with the length a client declares: a body lands in the pool's buffer as it arrives only when that buffer already
 * exists and is free (the steady state of one-at-a-time 5,000-Node requests), else in a list of chunks.
 */
export function readBody(request: IncomingMessage, limitBytes: number, pool?: BufferPool): Promise<Buffer> {
  const declaredBytes = declaredLength(request);
  if (declaredBytes !== undefined && declaredBytes > limitBytes) {
    return Promise.reject(tooLarge(limitBytes));
  }
  const whole = declaredBytes === undefined ? undefined : pool?.acquireExisting(declaredBytes);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("error", onError);
      request.off("aborted", onAborted);
    };
    const fail = (error: HttpError): void => {
      cleanup();
      if (whole !== undefined) {
        pool?.release(whole);
      }
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > limitBytes) {
        request.pause();
        fail(tooLarge(limitBytes));
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
      if (whole !== undefined) {
        resolve(whole);
        return;
      }
      const body = pool?.acquire(received) ?? Buffer.allocUnsafe(received);
      let at = 0;
      for (const chunk of chunks) {
        at += chunk.copy(body, at);
      }
      resolve(body);
    };
    const onError = (error: Error): void => {
      fail(
        "code" in error && error.code === "ECONNRESET"
          ? cutShort(request)
          : new HttpError(400, `reading the request body failed: ${error.message}`),
      );
    };
    const onAborted = (): void => {
      fail(cutShort(request));
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
    request.on("aborted", onAborted);
  });
}
