import type { Informer, KubeObject } from "@topolvm/kube-client";
import type { Logger } from "pino";
import { createWorkQueue, type Reconcile, type WorkQueue } from "./work-queue.js";

/** The part of an informer a controller uses: events and the cache (kube-client's Informer has it). */
export type CachedInformer<T extends KubeObject> = Pick<Informer<T>, "on" | "off" | "get" | "list">;

/** An informer the controller starts and stops itself (see startController). */
export type OwnedInformer<T extends KubeObject> = Pick<Informer<T>, "on" | "off" | "get" | "list" | "start" | "stop" | "synced">;

/**
 * Logs an informer's list and watch failures (it restarts by itself, with backoff) and its first sync. kube-client's
 * informer re-watches when a watch ends, lists again on 410 Gone and retries every other error; this only reports.
 */
export function logInformer(informer: Pick<Informer<KubeObject>, "on">, options: { readonly kind: string; readonly logger: Logger }): void {
  const { kind, logger } = options;
  informer.on("synced", () => {
    logger.info({ kind }, "informer cache synced");
  });
  informer.on("error", (error, retryInMs) => {
    if (retryInMs === undefined) {
      logger.error({ kind, err: describeError(error) }, "an informer event handler failed");
    } else {
      logger.warn({ kind, err: describeError(error), retryMs: retryInMs }, "list or watch failed; the informer restarts");
    }
  });
}

/** A running controller: an informer feeding a work queue. */
export interface RunningController {
  /** Whether the informer has listed once (the controller has seen every object). */
  synced(): boolean;
  /** Stops watching, then stops the queue and waits for the running reconciles. */
  stop(): Promise<void>;
}

interface ControllerBaseOptions<T extends KubeObject> {
  /** Name of the controller, for the logs. */
  readonly name: string;
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

export type ControllerOptions<T extends KubeObject> = ControllerBaseOptions<T> &
  (
    | {
        /** The watched objects; not started yet: startController starts and stops it. */
        readonly informer: OwnedInformer<T>;
        readonly shared?: undefined;
      }
    | {
        /** Another's informer, started and stopped by it (a process's one cache of a kind). */
        readonly informer: CachedInformer<T>;
        /** The controller only subscribes, and offers what is cached already when it starts. */
        readonly shared: { readonly synced: () => boolean };
      }
  );

/**
 * Starts a controller in the client-go shape: informer events pass through `keyOf` into a rate-limited work queue
 * (deduplicated, one reconcile per key at a time, backoff on errors); the informer restarts itself after errors,
 * and a periodic resync offers every cached object again so nothing waits on an event that was missed.
 */
export function startController<T extends KubeObject>(options: ControllerOptions<T>): RunningController {
  const { name, keyOf, logger } = options;
  const log = logger.child({ controller: name });
  const queue: WorkQueue = createWorkQueue({
    name,
    reconcile: options.reconcile,
    logger: log,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
    ...(options.maxDelayMs === undefined ? {} : { maxDelayMs: options.maxDelayMs }),
  });
  const informer: CachedInformer<T> = options.informer;
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
  const owned = options.shared === undefined ? options.informer : undefined;
  const resync = setInterval(offerAll, options.resyncMs ?? 300_000);
  resync.unref();
  if (owned === undefined) {
    offerAll();
  } else {
    logInformer(owned, { kind: name, logger: log });
    owned.start();
  }
  log.info({ sharedInformer: owned === undefined }, "controller started");
  const { shared } = options;
  return {
    synced: () => (owned === undefined ? (shared?.synced() ?? false) : owned.synced()),
    async stop() {
      clearInterval(resync);
      informer.off("add", offer);
      informer.off("update", offer);
      await owned?.stop();
      await queue.stop();
      log.info("controller stopped");
    },
  };
}

/** Whether the API server has marked the object for deletion. */
export function isMarkedForDeletion(object: { metadata?: { deletionTimestamp?: unknown } | undefined }): boolean {
  const timestamp = object.metadata?.deletionTimestamp;
  return timestamp !== undefined && timestamp !== null;
}

/**
 * An object's metadata without `managedFields`, which the API server adds to every object for server-side apply and
 * which is often most of its bytes: nothing here reads it, so informers drop it before caching.
 */
export function withoutManagedFields<T extends { metadata?: object | undefined }>(object: T): T {
  if (object.metadata === undefined || !("managedFields" in object.metadata)) {
    return object;
  }
  const metadata: Record<string, unknown> = { ...object.metadata };
  delete metadata.managedFields;
  return { ...object, metadata };
}

/**
 * A short description of a Kubernetes client error for the logs: a KubeApiError's message has the verb, the path, the
 * HTTP status, the reason and the server's message; a KubeRequestError's says why no answer came.
 */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
