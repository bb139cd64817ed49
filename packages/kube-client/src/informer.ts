import { setTimeout as sleep } from "node:timers/promises";
import { isKubeApiError } from "./kube-api-error.js";
import type { KubeClient } from "./kube-client.js";
import type { KubeObject } from "./kube-object.js";
import type { WatchEvent } from "./watch.js";

export interface InformerOptions<T extends KubeObject> {
  /** The collection: "/api/v1/nodes", "/api/v1/namespaces/ns/pods", "/apis/topolvm.cybozu.com/v1/logicalvolumes". */
  readonly path: string;
  readonly fieldSelector?: string;
  readonly labelSelector?: string;
  /** List and watch PartialObjectMetadata: only apiVersion, kind and metadata reach the cache. */
  readonly metadataOnly?: boolean;
  /** Reduces each listed or watched object before it is cached and handed to the handlers (drop what is not read). */
  readonly transform?: (object: T) => T;
  /** Items per list page; default 500. */
  readonly pageSize?: number;
  /** First restart delay after an error, doubled per consecutive error up to maxRetryMs; default 500 ms. */
  readonly initialRetryMs?: number;
  /** Default 30 s. */
  readonly maxRetryMs?: number;
  /** How long each watch lasts before it is renewed; default a random 300–600 s, spreading the renewals of many. */
  readonly watchTimeoutSeconds?: number;
}

/** InformerOptions whose transform turns the API's `T` into the cached `S`. */
export type TransformingInformerOptions<T extends KubeObject, S extends KubeObject> = Omit<
  InformerOptions<T>,
  "transform"
> & { readonly transform: (object: T) => S };

export interface InformerHandlers<S> {
  add: (object: S) => void;
  update: (object: S, old: S) => void;
  delete: (object: S) => void;
  /** Once, after the first list has been applied to the cache. */
  synced: () => void;
  /**
   * A list or watch failed and restarts in `retryInMs` (a 410 Gone re-lists at once and is not reported), or a
   * handler threw (`retryInMs` undefined: the informer goes on).
   */
  error: (error: unknown, retryInMs: number | undefined) => void;
}

/**
 * A cache of one collection kept current by list and watch, in client-go's shape: it lists (in pages), watches from
 * the list's resourceVersion with bookmarks, renews the watch when the server ends it, lists again after 410 Gone,
 * and restarts after any other error with exponential backoff.
 */
export interface Informer<S extends KubeObject> {
  on<E extends keyof InformerHandlers<S>>(event: E, handler: InformerHandlers<S>[E]): void;
  off<E extends keyof InformerHandlers<S>>(event: E, handler: InformerHandlers<S>[E]): void;
  /** A cached object by name (and namespace, for namespaced objects). */
  get(name: string, namespace?: string): S | undefined;
  /** The cached objects, of one namespace when given. */
  list(namespace?: string): S[];
  /** Starts listing and watching; returns at once. */
  start(): void;
  /** Stops watching and waits for the running request to end; start() again lists anew. */
  stop(): Promise<void>;
  /** Whether a first list has been applied since the informer was created (stays true through restarts). */
  synced(): boolean;
}

/** The cache key of an object: "namespace/name", or the name of a cluster-scoped object. */
export function objectKey(name: string, namespace?: string): string {
  return namespace === undefined || namespace === "" ? name : `${namespace}/${name}`;
}

function keyOf(object: KubeObject): string | undefined {
  const name = object.metadata?.name;
  return name === undefined || name === "" ? undefined : objectKey(name, object.metadata?.namespace);
}

/** A watch that ends sooner than this without an event counts as failed, as in client-go. */
const minWatchMs = 1000;

type HandlerSets<S> = { [E in keyof InformerHandlers<S>]: Set<InformerHandlers<S>[E]> };

/** Creates an informer over `client`; it does nothing until started. */
export function createInformer<T extends KubeObject>(
  client: Pick<KubeClient, "list" | "watch">,
  options: InformerOptions<T>,
): Informer<T>;
export function createInformer<T extends KubeObject, S extends KubeObject>(
  client: Pick<KubeClient, "list" | "watch">,
  options: TransformingInformerOptions<T, S>,
): Informer<S>;
export function createInformer<T extends KubeObject, S extends KubeObject>(
  client: Pick<KubeClient, "list" | "watch">,
  options: TransformingInformerOptions<T, S> | InformerOptions<T>,
): Informer<S> {
  const { path } = options;
  // Without a transform S is T (the first overload).
  const transform = (options.transform ?? ((object: T) => object)) as (object: T) => S;
  const pageSize = options.pageSize ?? 500;
  const initialRetryMs = options.initialRetryMs ?? 500;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const selectors = {
    ...(options.fieldSelector === undefined ? {} : { fieldSelector: options.fieldSelector }),
    ...(options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector }),
    ...(options.metadataOnly === undefined ? {} : { metadataOnly: options.metadataOnly }),
  };
  const handlers: HandlerSets<S> = {
    add: new Set(),
    update: new Set(),
    delete: new Set(),
    synced: new Set(),
    error: new Set(),
  };
  let cache = new Map<string, S>();
  let resourceVersion = "";
  let synced = false;
  let abort = new AbortController();
  let running: Promise<void> | undefined;
  let retryMs = initialRetryMs;

  function emit<E extends keyof InformerHandlers<S>>(event: E, ...args: Parameters<InformerHandlers<S>[E]>): void {
    for (const handler of handlers[event]) {
      try {
        (handler as (...values: Parameters<InformerHandlers<S>[E]>) => void)(...args);
      } catch (error) {
        if (event === "error") {
          continue;
        }
        emit("error", error, undefined);
      }
    }
  }

  /** Lists every page, then applies the result as client-go's Replace: deletes, updates and adds. */
  async function relist(signal: AbortSignal): Promise<void> {
    const listed = new Map<string, S>();
    let continueToken: string | undefined;
    let version = "";
    do {
      const page = await client.list<T>(path, {
        ...selectors,
        limit: pageSize,
        signal,
        ...(continueToken === undefined ? {} : { continue: continueToken }),
      });
      for (const item of page.items) {
        const object = transform(item);
        const key = keyOf(object);
        if (key !== undefined) {
          listed.set(key, object);
        }
      }
      continueToken = page.metadata.continue === "" ? undefined : page.metadata.continue;
      version = page.metadata.resourceVersion ?? "";
    } while (continueToken !== undefined);
    const old = cache;
    cache = listed;
    resourceVersion = version;
    for (const [key, object] of old) {
      if (!listed.has(key)) {
        emit("delete", object);
      }
    }
    for (const [key, object] of listed) {
      const previous = old.get(key);
      if (previous === undefined) {
        emit("add", object);
      } else {
        emit("update", object, previous);
      }
    }
    if (!synced) {
      synced = true;
      emit("synced");
    }
  }

  function apply(event: WatchEvent<T>): void {
    retryMs = initialRetryMs;
    if (event.type === "BOOKMARK") {
      resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
      return;
    }
    const object = transform(event.object);
    resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
    const key = keyOf(object);
    if (key === undefined) {
      return;
    }
    const previous = cache.get(key);
    if (event.type === "DELETED") {
      cache.delete(key);
      emit("delete", object);
    } else {
      cache.set(key, object);
      if (previous === undefined) {
        emit("add", object);
      } else {
        emit("update", object, previous);
      }
    }
  }

  async function run(signal: AbortSignal): Promise<void> {
    // A function, not a property read, so the compiler does not assume it unchanged across awaits.
    const stopped = (): boolean => signal.aborted;
    while (!stopped()) {
      try {
        if (resourceVersion === "") {
          await relist(signal);
          retryMs = initialRetryMs;
        }
        const watchStartedMs = Date.now();
        let events = 0;
        await client.watch<T>(
          path,
          {
            ...selectors,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: options.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300),
            signal,
          },
          (event) => {
            events += 1;
            apply(event);
          },
        );
        if (events === 0 && Date.now() - watchStartedMs < minWatchMs) {
          // A server that ends every watch at once would otherwise be asked again in a tight loop.
          throw new Error(`the watch of ${path} ended after ${Date.now() - watchStartedMs} ms without an event`);
        }
      } catch (error) {
        if (stopped()) {
          return;
        }
        if (isKubeApiError(error) && error.status === 410 && resourceVersion !== "") {
          // The watch's version is compacted away: list again now.
          resourceVersion = "";
          continue;
        }
        const delayMs = retryMs;
        retryMs = Math.min(retryMs * 2, maxRetryMs);
        emit("error", error, delayMs);
        // A watch resumes from its last version after the delay; a failed list starts over.
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  return {
    on(event, handler) {
      handlers[event].add(handler);
    },
    off(event, handler) {
      handlers[event].delete(handler);
    },
    get: (name, namespace) => cache.get(objectKey(name, namespace)),
    list(namespace) {
      const all = [...cache.values()];
      return namespace === undefined ? all : all.filter((object) => (object.metadata?.namespace ?? "") === namespace);
    },
    start() {
      if (running !== undefined) {
        return;
      }
      abort = new AbortController();
      resourceVersion = "";
      retryMs = initialRetryMs;
      running = run(abort.signal);
    },
    async stop() {
      abort.abort();
      await running;
      running = undefined;
    },
    synced: () => synced,
  };
}
