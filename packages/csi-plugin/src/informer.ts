import {
  ApiException,
  type ConfigurationOptions,
  type Informer,
  type KubernetesObject,
  Observable,
  type ObjectCache,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { createWorkQueue, type Reconcile, type WorkQueue } from "./work-queue.js";

/** An informer with its cache, as client-node's makeInformer and ListWatch build them. */
export type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

/** An informer that keeps itself running: see watchInformer. */
export interface WatchedInformer<T extends KubernetesObject> {
  readonly informer: CachedInformer<T>;
  /** Starts listing and watching; returns at once. */
  start(): void;
  /** Whether a first list has completed since start (later watch breaks keep the last known state). */
  synced(): boolean;
  /** Stops watching and cancels a pending restart. */
  stop(): Promise<void>;
}

export interface WatchInformerOptions {
  /** Kind of the watched objects, for the logs. */
  readonly kind: string;
  readonly logger: Logger;
  /** First restart delay after an error, doubled per consecutive error; default 500 ms. */
  readonly initialRetryMs?: number;
  /** Longest restart delay; default 30 s. */
  readonly maxRetryMs?: number;
}

/**
 * Keeps an informer running. client-node's ListWatch re-watches by itself when a watch ends normally and re-lists on
 * 410 Gone, but after a failed list or a broken watch it only calls its error callbacks and stops: this starts it
 * again after a growing delay, reset by the next successful start.
 */
export function watchInformer<T extends KubernetesObject>(
  informer: CachedInformer<T>,
  options: WatchInformerOptions,
): WatchedInformer<T> {
  const { kind, logger } = options;
  const initialRetryMs = options.initialRetryMs ?? 500;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let retryMs = initialRetryMs;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopped = true;
  let synced = false;
  // Each start is an attempt; an error reported while it runs means it did not list.
  let attempt = 0;
  let failedAttempt = -1;

  informer.on("error", (error: unknown) => {
    failedAttempt = attempt;
    if (stopped || retryTimer !== undefined) {
      return;
    }
    logger.warn({ kind, err: describeError(error), retryMs }, "list or watch failed; restarting the informer");
    retryTimer = setTimeout(run, retryMs);
    retryMs = Math.min(retryMs * 2, maxRetryMs);
  });

  function run(): void {
    retryTimer = undefined;
    if (stopped) {
      return;
    }
    attempt += 1;
    const current = attempt;
    informer.start().then(
      () => {
        if (failedAttempt !== current && !stopped) {
          retryMs = initialRetryMs;
          if (!synced) {
            synced = true;
            logger.info({ kind }, "informer cache synced");
          }
        }
      },
      (error: unknown) => {
        // ListWatch reports list and watch failures through its callbacks; a rejection is anything else.
        if (stopped || retryTimer !== undefined) {
          return;
        }
        logger.error({ kind, err: describeError(error), retryMs }, "informer failed to start; restarting it");
        retryTimer = setTimeout(run, retryMs);
        retryMs = Math.min(retryMs * 2, maxRetryMs);
      },
    );
  }

  return {
    informer,
    start() {
      if (!stopped) {
        return;
      }
      stopped = false;
      run();
    },
    synced: () => synced,
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      await informer.stop();
    },
  };
}

/** A running controller: an informer feeding a work queue. */
export interface RunningController {
  /** Whether the informer has listed once (the controller has seen every object). */
  synced(): boolean;
  /** Stops watching, then stops the queue and waits for the running reconciles. */
  stop(): Promise<void>;
}

export interface ControllerOptions<T extends KubernetesObject> {
  /** Name of the controller, for the logs. */
  readonly name: string;
  /** The watched objects; not started yet (startController starts and stops it), unless `shared` is given. */
  readonly informer: CachedInformer<T>;
  /**
   * The informer is another's, started and stopped by it (a process's one cache of a kind): the controller only
   * subscribes, and offers what is cached already when it starts.
   */
  readonly shared?: { readonly synced: () => boolean };
  /** The key to reconcile for an added or changed object, or undefined when the object needs nothing. */
  readonly keyOf: (object: T) => string | undefined;
  readonly reconcile: Reconcile;
  readonly logger: Logger;
  /** Period at which every cached object is offered to keyOf again, as controller-runtime's resync; default 5 min. */
  readonly resyncMs?: number;
  /** Work queue tuning (tests shorten the backoff). */
  readonly concurrency?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Starts a controller in the client-go shape: informer events pass through `keyOf` into a rate-limited work queue
 * (deduplicated, one reconcile per key at a time, backoff on errors); the informer restarts itself after errors,
 * and a periodic resync offers every cached object again so nothing waits on an event that was missed.
 */
export function startController<T extends KubernetesObject>(options: ControllerOptions<T>): RunningController {
  const { name, informer, keyOf, logger } = options;
  const log = logger.child({ controller: name });
  const queue: WorkQueue = createWorkQueue({
    name,
    reconcile: options.reconcile,
    logger: log,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
    ...(options.maxDelayMs === undefined ? {} : { maxDelayMs: options.maxDelayMs }),
  });
  const offer = (object: T): void => {
    const key = keyOf(object);
    if (key !== undefined) {
      queue.add(key);
    }
  };
  const offerAll = (): void => {
    for (const object of informer.list()) {
      offer(object);
    }
  };
  informer.on("add", offer);
  informer.on("update", offer);
  const { shared } = options;
  const watched = shared === undefined ? watchInformer(informer, { kind: name, logger: log }) : undefined;
  const resync = setInterval(offerAll, options.resyncMs ?? 300_000);
  resync.unref();
  if (watched === undefined) {
    offerAll();
  } else {
    watched.start();
  }
  log.info({ sharedInformer: shared !== undefined }, "controller started");
  return {
    synced: () => (watched === undefined ? (shared?.synced() ?? false) : watched.synced()),
    async stop() {
      clearInterval(resync);
      informer.off("add", offer);
      informer.off("update", offer);
      await watched?.stop();
      await queue.stop();
      log.info("controller stopped");
    },
  };
}

/**
 * Request options for client-node's generated APIs that abort the request with `signal`, so a stopping controller
 * or a deadline does not wait on a slow API server.
 */
export function abortableRequest(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: "append",
  };
}

/** Whether the API server has marked the object for deletion (a Date from a list, a string from a watch). */
export function isMarkedForDeletion(object: { metadata?: { deletionTimestamp?: unknown } }): boolean {
  const timestamp = object.metadata?.deletionTimestamp;
  return timestamp !== undefined && timestamp !== null;
}

/** A short description of a Kubernetes client error for the logs: the HTTP status and the API server's message. */
export function describeError(error: unknown): string {
  if (error instanceof ApiException) {
    return `HTTP ${error.code}: ${statusMessage(error.body)}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The message of a Status body, which client-node hands over as text or as parsed JSON. */
function statusMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body) as unknown;
    } catch {
      return body.slice(0, 200);
    }
  }
  if (typeof parsed === "object" && parsed !== null && "message" in parsed && typeof parsed.message === "string") {
    return parsed.message;
  }
  return "no message";
}
