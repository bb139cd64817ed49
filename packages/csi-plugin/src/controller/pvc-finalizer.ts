import type { V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import { createInformer, type KubeClient, type KubeObject } from "@topolvm/kube-client";
import { pvcFinalizer } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { describeError, isMarkedForDeletion, startController, type OwnedInformer, type RunningController } from "../informer.js";
import { isApiStatus } from "../logical-volume/logical-volume-client.js";
import type { Reconcile } from "../work-queue.js";

/** The Kubernetes calls the PVC finalizer makes: get and merge-patch a PVC, list and delete pods. */
export interface PvcFinalizerApi {
  readonly kube: Pick<KubeClient, "get" | "list" | "patch" | "delete">;
}

/** What the PVC informer keeps of a claim: what needsPvcFinalize reads and the key. */
export interface CachedClaim extends KubeObject {
  readonly metadata: {
    readonly name?: string;
    readonly namespace?: string;
    readonly finalizers?: string[];
    /** As the API server wrote it (a string; client-node's V1ObjectMeta types it Date): only its presence is read. */
    readonly deletionTimestamp?: unknown;
  };
}

/** Reduces a claim (PartialObjectMetadata) to what the informer keeps. */
export function cachedClaimOf(claim: KubeObject & { metadata?: CachedClaim["metadata"] }): CachedClaim {
  const { name, namespace, finalizers, deletionTimestamp } = claim.metadata ?? {};
  return {
    metadata: {
      ...(name === undefined ? {} : { name }),
      ...(namespace === undefined ? {} : { namespace }),
      ...(finalizers === undefined ? {} : { finalizers }),
      ...(deletionTimestamp === undefined || deletionTimestamp === null ? {} : { deletionTimestamp }),
    },
  };
}

const claimPath = (namespace: string, name: string): string =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims/${encodeURIComponent(name)}`;
const podsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;

export interface PvcFinalizerOptions extends PvcFinalizerApi {
  readonly logger: Logger;
  /** Grace period of the pods deleted for a claim; default 1 s, as upstream's PVC controller. */
  readonly podGracePeriodSeconds?: number;
  /**
   * Failed attempts at deleting a claim's pods after which the finalizer is removed anyway, so the claim does not
   * stay Terminating because of us; default 5 (with the queue's backoff, about 15 s).
   */
  readonly maxPodDeletionAttempts?: number;
}

/**
 * Whether a PVC waits only for us: it is being deleted and `topolvm.cybozu.com/pvc` is its last finalizer (duplicates
 * of ours, which an old webhook bug could add, count as ours). While another finalizer remains, notably
 * kube-controller-manager's `kubernetes.io/pvc-protection` that stays as long as a scheduled, running pod uses the
 * claim, nothing is done: deleting pods is not ours to decide before Kubernetes lets the claim go.
 */
export function needsPvcFinalize(claim: Pick<CachedClaim, "metadata"> | V1PersistentVolumeClaim): boolean {
  const finalizers = claim.metadata?.finalizers ?? [];
  return isMarkedForDeletion(claim) && finalizers.length > 0 && finalizers.every((finalizer) => finalizer === pvcFinalizer);
}

/**
 * The pods that still use the claim `claimName`, not yet being deleted: by a persistentVolumeClaim volume, or by a
 * generic ephemeral volume (whose claim is named `<pod>-<volume>`). Once pvc-protection is gone these are pods that
 * never started (unscheduled, or Pending for the lost claim) or have finished: deleted, their StatefulSet or Job
 * recreates them, and with them their claims.
 */
export function podsUsingClaim(pods: readonly V1Pod[], claimName: string): V1Pod[] {
  return pods.filter((pod) => {
    if (isMarkedForDeletion(pod)) {
      return false;
    }
    return (pod.spec?.volumes ?? []).some(
      (volume) =>
        volume.persistentVolumeClaim?.claimName === claimName ||
        (volume.ephemeral !== undefined && `${pod.metadata?.name ?? ""}-${volume.name}` === claimName),
    );
  });
}

/** Splits a `namespace/name` key. */
function claimOfKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/**
 * The reconcile of the PVC finalizer (the classic PVC hook's counterpart), keyed by `namespace/name`. For a claim that
 * waits only for `topolvm.cybozu.com/pvc`: deletes the pods still using it (grace 1 s), then removes the finalizer
 * with a merge patch guarded by the resourceVersion. If the pods cannot be deleted after a few attempts the finalizer
 * is removed all the same: a PVC must never stay Terminating because of TopoLVM.
 */
export function createPvcFinalizerReconcile(options: PvcFinalizerOptions): Reconcile {
  const { kube } = options;
  const logger = options.logger.child({ controller: "pvc-finalizer" });
  const gracePeriodSeconds = options.podGracePeriodSeconds ?? 1;
  const maxAttempts = options.maxPodDeletionAttempts ?? 5;
  const failedAttempts = new Map<string, number>();

  async function deletePods(claim: V1PersistentVolumeClaim, signal: AbortSignal, log: Logger): Promise<void> {
    const namespace = claim.metadata?.namespace ?? "";
    const pods = await kube.list<V1Pod>(podsPath(namespace), { signal });
    for (const pod of podsUsingClaim(pods.items, claim.metadata?.name ?? "")) {
      const name = pod.metadata?.name ?? "";
      const uid = pod.metadata?.uid;
      try {
        // The UID precondition spares a pod recreated under the same name since the list.
        await kube.delete(`${podsPath(namespace)}/${encodeURIComponent(name)}`, {
          gracePeriodSeconds,
          ...(uid === undefined ? {} : { preconditions: { uid } }),
          signal,
        });
        log.info({ pod: `${namespace}/${name}`, gracePeriodSeconds }, "deleted a pod that still uses the deleted PVC");
      } catch (error) {
        if (!isApiStatus(error, 404) && !isApiStatus(error, 409)) {
          throw error;
        }
      }
    }
  }

  return async (key, signal) => {
    const { namespace, name } = claimOfKey(key);
    const log = logger.child({ pvc: key });
    let claim: V1PersistentVolumeClaim;
    try {
      claim = await kube.get<V1PersistentVolumeClaim>(claimPath(namespace, name), { signal });
    } catch (error) {
      if (isApiStatus(error, 404)) {
        failedAttempts.delete(key);
        return undefined;
      }
      throw error;
    }
    if (!needsPvcFinalize(claim)) {
      failedAttempts.delete(key);
      return undefined;
    }

    try {
      await deletePods(claim, signal, log);
    } catch (error) {
      const attempts = (failedAttempts.get(key) ?? 0) + 1;
      if (attempts < maxAttempts && !signal.aborted) {
        failedAttempts.set(key, attempts);
        throw error;
      }
      log.warn(
        { err: describeError(error), attempts },
        "could not delete the pods that still use the PVC; removing the finalizer anyway so the PVC does not stay Terminating",
      );
    }

    const finalizers = (claim.metadata?.finalizers ?? []).filter((finalizer) => finalizer !== pvcFinalizer);
    const body = { metadata: { resourceVersion: claim.metadata?.resourceVersion, finalizers } };
    try {
      await kube.patch(claimPath(namespace, name), body, { type: "merge", signal });
    } catch (error) {
      if (!isApiStatus(error, 404)) {
        throw error;
      }
    }
    failedAttempts.delete(key);
    log.info({ finalizer: pvcFinalizer }, "removed the PVC finalizer");
    return undefined;
  };
}

/** The key of a claim that needs the finalizer, for the informer. */
function claimKey(claim: CachedClaim): string | undefined {
  return needsPvcFinalize(claim) ? `${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}` : undefined;
}

export interface PvcFinalizerControllerOptions extends PvcFinalizerOptions {
  /** Informer over PVCs of every namespace, not started. */
  readonly claims: OwnedInformer<CachedClaim>;
  /** Work queue backoff (tests shorten it). */
  readonly baseDelayMs?: number;
}

/** Runs the PVC finalizer: an informer on PVCs enqueues deleted claims whose last finalizer is ours. */
export function startPvcFinalizerController(options: PvcFinalizerControllerOptions): RunningController {
  return startController({
    name: "pvc-finalizer",
    informer: options.claims,
    keyOf: claimKey,
    reconcile: createPvcFinalizerReconcile(options),
    logger: options.logger,
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
  });
}

/**
 * The PVC finalizer over a cluster's API. Its informer asks for the claims' metadata only and keeps their names and
 * finalizers: the reconcile reads the claim itself before acting.
 */
export function startPvcFinalizer(options: { readonly kube: KubeClient; readonly logger: Logger }): RunningController {
  const { kube } = options;
  return startPvcFinalizerController({
    kube,
    logger: options.logger,
    claims: createInformer(kube, { path: "/api/v1/persistentvolumeclaims", metadataOnly: true, transform: cachedClaimOf }),
  });
}
