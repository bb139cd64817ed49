import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  V1DeleteOptions,
  type V1PersistentVolumeClaim,
  type V1Pod,
  V1Preconditions,
} from "@kubernetes/client-node";
import { pvcFinalizer } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { abortableRequest, describeError, isMarkedForDeletion, startController, type CachedInformer, type RunningController } from "../informer.js";
import { isApiStatus } from "../logical-volume/logical-volume-client.js";
import type { Reconcile } from "../work-queue.js";

/** The Kubernetes calls the PVC finalizer makes; CoreV1Api has them. */
export interface PvcFinalizerApi {
  readonly core: Pick<
    CoreV1Api,
    "readNamespacedPersistentVolumeClaim" | "patchNamespacedPersistentVolumeClaim" | "listNamespacedPod" | "deleteNamespacedPod"
  >;
}

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
export function needsPvcFinalize(claim: V1PersistentVolumeClaim): boolean {
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
  const { core } = options;
  const logger = options.logger.child({ controller: "pvc-finalizer" });
  const gracePeriodSeconds = options.podGracePeriodSeconds ?? 1;
  const maxAttempts = options.maxPodDeletionAttempts ?? 5;
  const failedAttempts = new Map<string, number>();

  async function deletePods(claim: V1PersistentVolumeClaim, signal: AbortSignal, log: Logger): Promise<void> {
    const namespace = claim.metadata?.namespace ?? "";
    const request = abortableRequest(signal);
    const pods = await core.listNamespacedPod({ namespace }, request);
    for (const pod of podsUsingClaim(pods.items, claim.metadata?.name ?? "")) {
      const name = pod.metadata?.name ?? "";
      // The UID precondition spares a pod recreated under the same name since the list.
      const body = Object.assign(new V1DeleteOptions(), {
        gracePeriodSeconds,
        preconditions: Object.assign(new V1Preconditions(), { uid: pod.metadata?.uid }),
      });
      try {
        await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds, body }, request);
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
      claim = await core.readNamespacedPersistentVolumeClaim({ namespace, name }, abortableRequest(signal));
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
      await core.patchNamespacedPersistentVolumeClaim(
        { namespace, name, body },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch, abortableRequest(signal)),
      );
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
function claimKey(claim: V1PersistentVolumeClaim): string | undefined {
  return needsPvcFinalize(claim) ? `${claim.metadata?.namespace ?? ""}/${claim.metadata?.name ?? ""}` : undefined;
}

export interface PvcFinalizerControllerOptions extends PvcFinalizerOptions {
  /** Informer over PVCs of every namespace, not started. */
  readonly claims: CachedInformer<V1PersistentVolumeClaim>;
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

/** The PVC finalizer over a cluster's API: its informer and client made from `kubeConfig`. */
export function startPvcFinalizer(options: { readonly kubeConfig: KubeConfig; readonly logger: Logger }): RunningController {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  return startPvcFinalizerController({
    core,
    logger: options.logger,
    claims: makeInformer(options.kubeConfig, "/api/v1/persistentvolumeclaims", () => core.listPersistentVolumeClaimForAllNamespaces()),
  });
}
