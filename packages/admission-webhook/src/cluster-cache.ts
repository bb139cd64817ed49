import { createInformer, type Informer, isKubeApiError, type KubeClient, type KubeObject } from "@topolvm/kube-client";
import type { Logger } from "pino";
import { type ClaimInfo, type ClusterLookup, LookupUnavailableError, type StorageClassInfo } from "./cluster-lookup.js";
import type { WebhookMetrics } from "./metrics.js";
import { defaultClassAnnotations } from "./storage-class.js";

/** Options of createClusterCache. */
export interface ClusterCacheOptions {
  /** Lists and watches for the informers, gets for the fallback reads; the caller owns (and closes) it. */
  readonly kube: Pick<KubeClient, "get" | "list" | "watch">;
  /** Only the pod hook reads PVCs; without it no PVC informer runs. */
  readonly watchClaims: boolean;
  /** Deadline of the API read made when an object is missing from the cache. */
  readonly fallbackTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
}

/** Informer caches of the cluster state the hooks read, with their lifecycle. */
export interface ClusterCache {
  /**
   * The lookups of one review. Objects missing from the cache are read from the API server, each at most once, at
   * most maxFallbackReadsPerReview of them; when the signal aborts (answer sent or deadline passed), the reads in
   * flight are cancelled and no other starts.
   */
  forReview(signal: AbortSignal): ClusterLookup;
  /** Starts listing and watching; returns at once. Failed lists and broken watches are retried with backoff. */
  start(): void;
  /** Whether every informer has completed its first list. */
  synced(): boolean;
  /** Stops watching. */
  stop(): Promise<void>;
}

/**
 * API reads one review may cause. A fallback read covers a PVC created a moment before its pod, so a pod rarely needs
 * more than a few; a pod naming thousands of claims that do not exist must not turn into thousands of API reads.
 */
export const maxFallbackReadsPerReview = 64;

const initialRetryMs = 500;
const maxRetryMs = 30_000;

/** A StorageClass as the API sends it, as far as the hooks read it. */
interface StorageClassObject extends KubeObject {
  readonly metadata?: KubeObject["metadata"] & {
    readonly annotations?: Readonly<Record<string, string>>;
    readonly creationTimestamp?: string;
  };
  readonly provisioner?: string;
  readonly parameters?: Readonly<Record<string, string>>;
}

/** A PersistentVolumeClaim as the API sends it, as far as the pod hook reads it. */
interface ClaimObject extends KubeObject {
  readonly spec?: {
    readonly storageClassName?: string;
    readonly resources?: { readonly requests?: Readonly<Record<string, string>> };
  };
  readonly status?: { readonly phase?: string };
}

type CachedStorageClass = StorageClassInfo & KubeObject;
type CachedClaim = ClaimInfo & KubeObject;

/**
 * What the cache keeps of a StorageClass: its name, creation time and default-class annotations (for picking the
 * cluster default), provisioner and parameters. Other annotations (kubectl's last-applied-configuration), labels and
 * managedFields are dropped: every cached object is held for the life of the process.
 */
export function cachedStorageClassOf(object: StorageClassObject): CachedStorageClass {
  const { name, creationTimestamp, annotations } = object.metadata ?? {};
  const kept = defaultClassAnnotations.flatMap((key) => {
    const value = annotations?.[key];
    return value === undefined ? [] : [[key, value] as const];
  });
  return {
    metadata: {
      ...(name === undefined ? {} : { name }),
      ...(creationTimestamp === undefined ? {} : { creationTimestamp }),
      ...(kept.length === 0 ? {} : { annotations: Object.fromEntries(kept) }),
    },
    provisioner: object.provisioner ?? "",
    ...(object.parameters === undefined ? {} : { parameters: object.parameters }),
  };
}

/**
 * What the cache keeps of a PVC: namespace and name, StorageClass, requested storage and phase. A cluster's PVCs
 * are many; their labels, annotations, managedFields, access modes and status conditions are read by no hook.
 */
export function cachedClaimOf(object: ClaimObject): CachedClaim {
  const { name, namespace } = object.metadata ?? {};
  const storageClassName = object.spec?.storageClassName;
  const storage = object.spec?.resources?.requests?.storage;
  const phase = object.status?.phase;
  return {
    metadata: { ...(name === undefined ? {} : { name }), ...(namespace === undefined ? {} : { namespace }) },
    spec: {
      ...(storageClassName === undefined ? {} : { storageClassName }),
      resources: storage === undefined ? {} : { requests: { storage } },
    },
    status: phase === undefined ? {} : { phase },
  };
}

/** One informer with its kind, for messages and metrics. */
interface WatchedKind<T extends KubeObject, S extends KubeObject> {
  readonly kind: string;
  readonly informer: Informer<S>;
  /** The object's path for a fallback read. */
  readonly pathOf: (name: string, namespace: string | undefined) => string;
  /** The informer's transform, applied to fallback reads too, so lookups answer in one shape. */
  readonly transform: (object: T) => S;
}

/**
 * Informer-backed lookups of StorageClasses and PVCs. Requests read the caches only; an object missing from a synced
 * cache is read once from the API server (as upstream's RetryMissingGetter does), because a PVC created a moment
 * before its pod may not have reached the watch yet. Before the first list completes every lookup is unavailable.
 */
export function createClusterCache(options: ClusterCacheOptions): ClusterCache {
  const { kube, logger, metrics, fallbackTimeoutMs } = options;
  const informerOptions = { initialRetryMs, maxRetryMs } as const;
  const storageClasses: WatchedKind<StorageClassObject, CachedStorageClass> = {
    kind: "StorageClass",
    informer: createInformer(kube, {
      path: "/apis/storage.k8s.io/v1/storageclasses",
      transform: cachedStorageClassOf,
      ...informerOptions,
    }),
    pathOf: (name) => `/apis/storage.k8s.io/v1/storageclasses/${encodeURIComponent(name)}`,
    transform: cachedStorageClassOf,
  };
  const claims: WatchedKind<ClaimObject, CachedClaim> | undefined = options.watchClaims
    ? {
        kind: "PersistentVolumeClaim",
        informer: createInformer(kube, { path: "/api/v1/persistentvolumeclaims", transform: cachedClaimOf, ...informerOptions }),
        pathOf: (name, namespace) =>
          `/api/v1/namespaces/${encodeURIComponent(namespace ?? "")}/persistentvolumeclaims/${encodeURIComponent(name)}`,
        transform: cachedClaimOf,
      }
    : undefined;
  const kinds: readonly { readonly kind: string; readonly informer: Informer<KubeObject> }[] = claims === undefined ? [storageClasses] : [storageClasses, claims];
  for (const { kind, informer } of kinds) {
    logInformer(kind, informer, logger);
  }

  /** The lookups of one review: cache first; on a miss in a synced cache, one bounded API read per object. */
  function forReview(signal: AbortSignal): ClusterLookup {
    const reads = new Map<string, Promise<KubeObject | undefined>>();

    async function lookup<T extends KubeObject, S extends KubeObject>(
      watched: WatchedKind<T, S>,
      name: string,
      namespace: string | undefined,
    ): Promise<S | undefined> {
      if (!watched.informer.synced()) {
        throw new LookupUnavailableError(`the ${watched.kind} cache has not synced with the API server yet`);
      }
      // No object can have such a name, so there is nothing to read; in a path, "" would turn the read into a LIST.
      if (!isObjectName(name) || (namespace !== undefined && !isNamespaceName(namespace))) {
        return undefined;
      }
      const cached = watched.informer.get(name, namespace);
      if (cached !== undefined) {
        return cached;
      }
      const path = watched.pathOf(name, namespace);
      let read = reads.get(path) as Promise<S | undefined> | undefined;
      if (read === undefined) {
        if (reads.size >= maxFallbackReadsPerReview) {
          throw new LookupUnavailableError(
            `more than ${maxFallbackReadsPerReview} objects the review reads are missing from the cache; ` +
              "not reading more from the API server for one review",
          );
        }
        read = fallbackRead(watched, name, namespace, path, signal);
        reads.set(path, read);
      }
      return read;
    }

    return {
      storageClass(name): Promise<StorageClassInfo | undefined> {
        return lookup(storageClasses, name, undefined);
      },
      storageClasses(): Promise<readonly StorageClassInfo[]> {
        if (!storageClasses.informer.synced()) {
          return Promise.reject(new LookupUnavailableError("the StorageClass cache has not synced with the API server yet"));
        }
        return Promise.resolve(storageClasses.informer.list());
      },
      persistentVolumeClaim(namespace, name): Promise<ClaimInfo | undefined> {
        if (claims === undefined) {
          return Promise.reject(new LookupUnavailableError("PersistentVolumeClaims are not watched: the pod hook is disabled"));
        }
        return lookup(claims, name, namespace);
      },
    };
  }

  /** One API read of an object missing from the cache. 404 means the object does not exist. */
  async function fallbackRead<T extends KubeObject, S extends KubeObject>(
    watched: WatchedKind<T, S>,
    name: string,
    namespace: string | undefined,
    path: string,
    signal: AbortSignal,
  ): Promise<S | undefined> {
    try {
      const object = await kube.get<T>(path, { timeoutMs: fallbackTimeoutMs, signal });
      metrics.lookupFallbacks.inc({ kind: watched.kind, result: "found" });
      return watched.transform(object);
    } catch (error) {
      if (isKubeApiError(error) && error.status === 404) {
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
      for (const { informer } of kinds) {
        informer.start();
      }
    },
    synced() {
      return kinds.every(({ informer }) => informer.synced());
    },
    async stop() {
      await Promise.all(kinds.map(({ informer }) => informer.stop()));
    },
    forReview,
  };
}

/** A DNS-1123 subdomain, as the names of StorageClasses and PVCs are. */
function isObjectName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}

/** A DNS-1123 label, as namespace names are. */
function isNamespaceName(name: string): boolean {
  return name.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name);
}

/** Logs an informer's first sync and its failures; the informer itself retries with backoff. */
function logInformer(kind: string, informer: Informer<KubeObject>, logger: Logger): void {
  informer.on("synced", () => {
    logger.info({ kind }, "informer cache synced");
  });
  informer.on("error", (error, retryInMs) => {
    if (retryInMs === undefined) {
      logger.error({ kind, err: describe(error) }, "informer event handler failed");
      return;
    }
    logger.warn({ kind, err: describe(error), retryMs: retryInMs }, "list or watch failed; retrying");
  });
}

function describe(error: unknown): string {
  if (isKubeApiError(error)) {
    return `HTTP ${error.status}: ${error.serverMessage.split("\n")[0] ?? ""}`;
  }
  return error instanceof Error ? error.message : String(error);
}
