import {
  ApiException,
  type ConfigurationOptions,
  CoreV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  Observable,
  type ObjectCache,
  type RequestContext,
  type ResponseContext,
  StorageV1Api,
  type V1PersistentVolumeClaim,
  type V1StorageClass,
  makeInformer,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { type ClaimInfo, type ClusterLookup, LookupUnavailableError, type StorageClassInfo } from "./cluster-lookup.js";
import type { WebhookMetrics } from "./metrics.js";

/** Options of createClusterCache. */
export interface ClusterCacheOptions {
  readonly kubeConfig: KubeConfig;
  /** Only the pod hook reads PVCs; without it no PVC informer runs. */
  readonly watchClaims: boolean;
  /** Deadline of the API read made when an object is missing from the cache. */
  readonly fallbackTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
}

/** ClusterLookup served by informers, with their lifecycle. */
export interface ClusterCache extends ClusterLookup {
  /** Starts listing and watching; returns at once. Failed lists and broken watches are retried with backoff. */
  start(): void;
  /** Whether every informer has completed its first list. */
  synced(): boolean;
  /** Stops watching. */
  stop(): Promise<void>;
}

const initialRetryMs = 500;
const maxRetryMs = 30_000;

type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

interface WatchedKind<T extends KubernetesObject> {
  readonly kind: string;
  readonly informer: CachedInformer<T>;
  readonly isSynced: () => boolean;
  readonly start: () => void;
  readonly stop: () => Promise<void>;
}

/**
 * Informer-backed lookups of StorageClasses and PVCs. Requests read the caches only; an object missing from a synced
 * cache is read once from the API server (as upstream's RetryMissingGetter does), because a PVC created a moment
 * before its pod may not have reached the watch yet. Before the first list completes every lookup is unavailable.
 */
export function createClusterCache(options: ClusterCacheOptions): ClusterCache {
  const { kubeConfig, logger, metrics, fallbackTimeoutMs } = options;
  const coreApi = kubeConfig.makeApiClient(CoreV1Api);
  const storageApi = kubeConfig.makeApiClient(StorageV1Api);
  const storageClasses = watchKind<V1StorageClass>(
    "StorageClass",
    (list) => makeInformer(kubeConfig, "/apis/storage.k8s.io/v1/storageclasses", list(() => storageApi.listStorageClass())),
    logger,
  );
  const claims = options.watchClaims
    ? watchKind<V1PersistentVolumeClaim>(
        "PersistentVolumeClaim",
        (list) =>
          makeInformer(
            kubeConfig,
            "/api/v1/persistentvolumeclaims",
            list(() => coreApi.listPersistentVolumeClaimForAllNamespaces()),
          ),
        logger,
      )
    : undefined;
  const kinds = claims === undefined ? [storageClasses] : [storageClasses, claims];

  // Bounds each fallback read; client-node's generated API takes the abort signal through a middleware.
  const requestOptions: ConfigurationOptions = {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(AbortSignal.timeout(fallbackTimeoutMs));
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: "append",
  };

  /** Cache first; on a miss in a synced cache, one API read. 404 means the object does not exist. */
  async function lookup<T extends KubernetesObject>(
    watched: WatchedKind<T>,
    name: string,
    namespace: string | undefined,
    read: () => Promise<T>,
  ): Promise<T | undefined> {
    if (!watched.isSynced()) {
      throw new LookupUnavailableError(`the ${watched.kind} cache has not synced with the API server yet`);
    }
    const cached = watched.informer.get(name, namespace);
    if (cached !== undefined) {
      return cached;
    }
    try {
      const object = await read();
      metrics.lookupFallbacks.inc({ kind: watched.kind, result: "found" });
      return object;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) {
        metrics.lookupFallbacks.inc({ kind: watched.kind, result: "not_found" });
        return undefined;
      }
      metrics.lookupFallbacks.inc({ kind: watched.kind, result: "error" });
      const target = namespace === undefined ? name : `${namespace}/${name}`;
      throw new LookupUnavailableError(`reading ${watched.kind} ${target} from the API server failed: ${describe(error)}`, {
        cause: error,
      });
    }
  }

  return {
    start() {
      for (const kind of kinds) {
        kind.start();
      }
    },
    synced() {
      return kinds.every((kind) => kind.isSynced());
    },
    async stop() {
      await Promise.all(kinds.map((kind) => kind.stop()));
    },
    storageClass(name): Promise<StorageClassInfo | undefined> {
      return lookup(storageClasses, name, undefined, () => storageApi.readStorageClass({ name }, requestOptions));
    },
    storageClasses(): Promise<readonly StorageClassInfo[]> {
      if (!storageClasses.isSynced()) {
        return Promise.reject(new LookupUnavailableError("the StorageClass cache has not synced with the API server yet"));
      }
      return Promise.resolve(storageClasses.informer.list());
    },
    persistentVolumeClaim(namespace, name): Promise<ClaimInfo | undefined> {
      if (claims === undefined) {
        return Promise.reject(new LookupUnavailableError("PersistentVolumeClaims are not watched: the pod hook is disabled"));
      }
      return lookup(claims, name, namespace, () =>
        coreApi.readNamespacedPersistentVolumeClaim({ namespace, name }, requestOptions),
      );
    },
  };
}

/** Wraps an informer's list call so the caller learns when a list succeeded. */
type ListWrapper = <L>(list: () => Promise<L>) => () => Promise<L>;

/**
 * One informer with the restarts client-node leaves to its user: after a failed list or a broken watch it calls the
 * error callbacks and stops, so it is started again after a growing delay. The cache counts as synced from its first
 * successful list on; later watch breaks keep serving the last known state while the informer reconnects.
 */
function watchKind<T extends KubernetesObject>(
  kind: string,
  create: (list: ListWrapper) => CachedInformer<T>,
  logger: Logger,
): WatchedKind<T> {
  let synced = false;
  let stopped = false;
  let retryMs = initialRetryMs;
  let retryTimer: NodeJS.Timeout | undefined;

  const informer = create((list) => async () => {
    const result = await list();
    retryMs = initialRetryMs;
    if (!synced) {
      synced = true;
      logger.info({ kind }, "informer cache synced");
    }
    return result;
  });
  informer.on("error", (error: unknown) => {
    if (stopped) {
      return;
    }
    logger.warn({ kind, err: describe(error), retryMs }, "list or watch failed; retrying");
    retryTimer = setTimeout(run, retryMs);
    retryMs = Math.min(retryMs * 2, maxRetryMs);
  });

  function run(): void {
    retryTimer = undefined;
    informer.start().catch((error: unknown) => {
      logger.error({ kind, err: describe(error) }, "informer failed to start");
    });
  }

  return {
    kind,
    informer,
    isSynced: () => synced,
    start: run,
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      await informer.stop();
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof ApiException) {
    return `HTTP ${error.code}: ${error.message.split("\n")[0] ?? ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}
