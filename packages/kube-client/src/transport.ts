import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { KubeApiError } from "./kube-api-error.js";
import { KubeConfigError } from "./kube-config-error.js";
import type { KubeCredentials } from "./kube-credentials.js";
import { isKubeStatus } from "./kube-object.js";
import { KubeRequestError } from "./kube-request-error.js";
import { readBody } from "./response-body.js";

/** Query parameters; undefined values are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface TransportRequest {
  readonly method: HttpMethod;
  /** The path under the server's URL, with or without a query. */
  readonly path: string;
  readonly query?: Query;
  readonly accept: string;
  readonly contentType?: string;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** Time allowed until the response's status and headers arrive. */
  readonly responseTimeoutMs: number;
  /** Time allowed until the response body has been read to its end; unlimited when undefined. */
  readonly totalTimeoutMs?: number;
}

/** A 2xx response whose body is still to be read. */
export interface TransportResponse {
  readonly message: IncomingMessage;
  /** Maps an error met while reading the body to what the caller sees: a timeout, the caller's abort reason, ... */
  failure(error: unknown): unknown;
}

/** Sends authenticated requests to one API server over keep-alive connections. */
export interface Transport {
  readonly server: string;
  /** Resolves with a 2xx response; rejects with KubeApiError for other statuses, KubeRequestError without one. */
  send(request: TransportRequest): Promise<TransportResponse>;
  /** Destroys every connection, idle or in use: call it once whatever uses the transport has stopped. */
  close(): void;
}

/** The Status reason client-go assumes when an error response carries no Status object. */
const reasonByStatus: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Gone",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** How much of an error response is read for its Status. */
const maxErrorBodyBytes = 64 * 1024;

/** The request path as error messages show it: without its query, which can hold long continue tokens. */
export function shownPath(path: string): string {
  const query = path.indexOf("?");
  return query === -1 ? path : path.slice(0, query);
}

async function apiError(method: string, path: string, response: IncomingMessage): Promise<KubeApiError> {
  const status = response.statusCode ?? 0;
  let text = "";
  try {
    const body = await readBody(response, maxErrorBodyBytes, () => new Error("error body too large"));
    text = body.toString("utf8");
  } catch {
    // A truncated or oversized error body still leaves the status to report.
  }
  let reason = "";
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isKubeStatus(parsed)) {
      reason = parsed.reason ?? "";
      message = parsed.message ?? "";
    }
  } catch {
    // Not JSON (a proxy's page): the text is the message.
  }
  return new KubeApiError({
    method,
    path: shownPath(path),
    status,
    reason: reason === "" ? (reasonByStatus[status] ?? "") : reason,
    serverMessage: message,
  });
}

export interface TransportOptions {
  /** Sent as User-Agent; default "topolvm-kube-client". */
  readonly userAgent?: string;
}

/** Creates a transport for these credentials; nothing is connected until the first request. */
export function createTransport(credentials: KubeCredentials, options: TransportOptions = {}): Transport {
  let server: URL;
  try {
    server = new URL(credentials.server);
  } catch {
    throw new KubeConfigError(`${credentials.source}: server ${JSON.stringify(credentials.server)} is not a URL`);
  }
  const secure = server.protocol === "https:";
  if (!secure && server.protocol !== "http:") {
    throw new KubeConfigError(`${credentials.source}: server ${JSON.stringify(credentials.server)} is not an http(s) URL`);
  }
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        rejectUnauthorized: !credentials.insecureSkipTlsVerify,
        ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
        ...(credentials.cert === undefined ? {} : { cert: credentials.cert }),
        ...(credentials.key === undefined ? {} : { key: credentials.key }),
        ...(credentials.tlsServerName === undefined ? {} : { servername: credentials.tlsServerName }),
      })
    : new HttpAgent({ keepAlive: true });
  const basePath = server.pathname.replace(/\/$/, "");
  const userAgent = options.userAgent ?? "topolvm-kube-client";

  async function send(request: TransportRequest): Promise<TransportResponse> {
    const { method, path, signal } = request;
    const shown = shownPath(path);
    signal?.throwIfAborted();
    const url = new URL(basePath + path, server);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) {
        url.searchParams.set(name, String(value));
      }
    }
    const headers: OutgoingHttpHeaders = { accept: request.accept, "user-agent": userAgent };
    if (credentials.token !== undefined) {
      headers.authorization = `Bearer ${await credentials.token()}`;
    }
    if (request.body !== undefined) {
      headers["content-type"] = request.contentType ?? "application/json";
      headers["content-length"] = Buffer.byteLength(request.body);
    }

    // One controller aborts the exchange for the caller's signal and for either deadline.
    const controller = new AbortController();
    let timedOut: string | undefined;
    const onAbort = (): void => {
      controller.abort(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const expire = (why: string): void => {
      timedOut = why;
      controller.abort();
    };
    const responseTimer = setTimeout(() => {
      expire(`no response within ${request.responseTimeoutMs} ms`);
    }, request.responseTimeoutMs);
    const { totalTimeoutMs } = request;
    const totalTimer =
      totalTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            expire(`not finished within ${totalTimeoutMs} ms`);
          }, totalTimeoutMs);
    const cleanUp = (): void => {
      clearTimeout(responseTimer);
      clearTimeout(totalTimer);
      signal?.removeEventListener("abort", onAbort);
    };
    const failure = (error: unknown): unknown => {
      if (timedOut !== undefined) {
        return new KubeRequestError(method, shown, timedOut, { cause: error });
      }
      if (signal?.aborted === true) {
        return signal.reason;
      }
      if (error instanceof KubeApiError || error instanceof KubeRequestError) {
        return error;
      }
      return new KubeRequestError(method, shown, error instanceof Error ? error.message : String(error), { cause: error });
    };

    let message: IncomingMessage;
    try {
      message = await new Promise<IncomingMessage>((resolve, reject) => {
        const outgoing = (secure ? httpsRequest : httpRequest)(url, { method, agent, headers, signal: controller.signal });
        outgoing.on("response", resolve);
        outgoing.on("error", reject);
        outgoing.end(request.body);
      });
    } catch (error) {
      cleanUp();
      throw failure(error);
    }
    clearTimeout(responseTimer);
    message.once("close", cleanUp);
    const status = message.statusCode ?? 0;
    if (status < 200 || status > 299) {
      throw failure(await apiError(method, path, message));
    }
    return { message, failure };
  }

  return {
    server: credentials.server,
    send,
    close() {
      agent.destroy();
    },
  };
}
