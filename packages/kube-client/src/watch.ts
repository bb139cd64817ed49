import { jsonLines } from "./json-lines.js";
import { KubeApiError } from "./kube-api-error.js";
import type { KubeObject, KubeStatus } from "./kube-object.js";
import { KubeRequestError } from "./kube-request-error.js";
import { shownPath, type Transport } from "./transport.js";

/** A change to a watched object; BOOKMARK carries only a newer resourceVersion in its object's metadata. */
export type WatchEvent<T> =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly object: T }
  | { readonly type: "BOOKMARK"; readonly object: KubeObject };

export interface WatchOptions {
  /** Start after this version (a list's metadata.resourceVersion); unset: the current state, as ADDED events. */
  readonly resourceVersion?: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** The server ends the watch after this long; the client gives up this long plus its response timeout later. */
  readonly timeoutSeconds?: number;
  readonly allowWatchBookmarks?: boolean;
  /** Ask for PartialObjectMetadata (metadata only: far less to parse and keep). */
  readonly metadataOnly?: boolean;
  readonly signal?: AbortSignal;
  /** Time allowed until the watch's response starts; default the client's timeout. */
  readonly timeoutMs?: number;
}

/** Settings a watch takes from its client. */
export interface WatchSettings {
  readonly timeoutMs: number;
  readonly maxEventBytes: number;
}

const watchAccept = "application/json";
const metadataWatchAccept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const objectEventTypes = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]);

/** Reads one line of a watch stream as an event; an ERROR event becomes the KubeApiError it reports. */
function eventOf<T>(line: string, path: string): WatchEvent<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw new KubeRequestError("GET", path, `malformed watch event: ${(error as Error).message}`, { cause: error });
  }
  const { type, object } = (parsed ?? {}) as { type?: unknown; object?: unknown };
  if (typeof object !== "object" || object === null) {
    throw new KubeRequestError("GET", path, `watch event without an object: ${line.slice(0, 200)}`);
  }
  if (type === "ERROR") {
    const status = object as KubeStatus;
    throw new KubeApiError({
      method: "GET",
      path,
      status: status.code ?? 500,
      reason: status.reason ?? "",
      serverMessage: status.message ?? "",
    });
  }
  if (typeof type !== "string" || !objectEventTypes.has(type)) {
    throw new KubeRequestError("GET", path, `unknown watch event type ${JSON.stringify(type)}`);
  }
  return { type, object } as WatchEvent<T>;
}

/**
 * Watches a collection path, calling `onEvent` for each event in order (awaiting it when it returns a promise).
 * Resolves when the server ends the stream; rejects on a failed request or stream, a malformed or oversized event,
 * or an ERROR event (as KubeApiError with the Status's code and reason: 410 "Expired" means list again).
 */
export async function watchPath<T>(
  transport: Transport,
  settings: WatchSettings,
  path: string,
  options: WatchOptions,
  onEvent: (event: WatchEvent<T>) => void | Promise<void>,
): Promise<void> {
  const shown = shownPath(path);
  const responseTimeoutMs = options.timeoutMs ?? settings.timeoutMs;
  const { timeoutSeconds } = options;
  const response = await transport.send({
    method: "GET",
    path,
    query: {
      watch: true,
      resourceVersion: options.resourceVersion,
      fieldSelector: options.fieldSelector,
      labelSelector: options.labelSelector,
      timeoutSeconds,
      allowWatchBookmarks: options.allowWatchBookmarks,
    },
    accept: options.metadataOnly === true ? metadataWatchAccept : watchAccept,
    responseTimeoutMs,
    // A watch the server should have ended but did not (a half-open connection) ends here.
    ...(timeoutSeconds === undefined ? {} : { totalTimeoutMs: timeoutSeconds * 1000 + responseTimeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const tooLong = (): Error =>
    new KubeRequestError("GET", shown, `a watch event exceeds ${settings.maxEventBytes} bytes (maxEventBytes)`);
  // The handler's own errors reach the caller as they are; the stream's are mapped (timeouts, aborts).
  let handlerFailed = false;
  try {
    for await (const line of jsonLines(response.message, settings.maxEventBytes, tooLong)) {
      const event = eventOf<T>(line, shown);
      handlerFailed = true;
      await onEvent(event);
      handlerFailed = false;
    }
  } catch (error) {
    throw handlerFailed ? error : response.failure(error);
  } finally {
    response.message.destroy();
  }
}
