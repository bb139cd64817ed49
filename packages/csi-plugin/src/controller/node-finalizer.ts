import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  StorageV1Api,
  V1DeleteOptions,
  type V1Node,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  V1Preconditions,
  type V1StorageClass,
} from "@kubernetes/client-node";
import { driverName, logicalVolumeFinalizer, nodeFinalizer, pendingDeletionAnnotation, provisionerName, topologyKey } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { abortableRequest, isMarkedForDeletion, startController, type CachedInformer, type RunningController } from "../informer.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { isApiStatus, type LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import type { Reconcile } from "../work-queue.js";

/** Kubernetes' own annotations on PVCs: the node kube-scheduler chose, and the provisioner the PV controller asked. */
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node";
const storageProvisionerAnnotations = ["volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner"];

/** The Kubernetes calls the Node finalizer makes; CoreV1Api and StorageV1Api have them. */
export interface NodeFinalizerApi {
  readonly core: Pick<
    CoreV1Api,
    "readNode" | "patchNode" | "listPersistentVolumeClaimForAllNamespaces" | "deleteNamespacedPersistentVolumeClaim" | "listPersistentVolume"
  >;
  readonly storage: Pick<StorageV1Api, "listStorageClass">;
  readonly logicalVolumes: Pick<LogicalVolumeClient, "list" | "patch" | "setFinalizers" | "delete">;
}

export interface NodeFinalizerOptions extends NodeFinalizerApi {
  readonly logger: Logger;
  /** --skip-node-finalize: leave the node's PVCs and LogicalVolumes alone, only let the Node go. */
  readonly skipNodeFinalize: boolean;
}

/** What the finalizer reads of the cluster to find a node's claims. */
export interface ClusterVolumes {
  readonly claims: readonly V1PersistentVolumeClaim[];
  readonly volumes: readonly V1PersistentVolume[];
  readonly storageClasses: readonly V1StorageClass[];
  /** The LogicalVolumes of the node. */
  readonly logicalVolumes: readonly LogicalVolume[];
}

/** Whether a Node is being deleted and still waits for our finalizer: the only Nodes this controller acts on. */
export function needsNodeFinalize(node: V1Node): boolean {
  return isMarkedForDeletion(node) && (node.metadata?.finalizers ?? []).includes(nodeFinalizer);
}

/** Whether a PV's required node affinity pins it to `node` through TopoLVM's topology key. */
function volumeAffinityNode(volume: V1PersistentVolume, node: string): boolean {
  return (volume.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).some((term) =>
    (term.matchExpressions ?? []).some(
      (expression) => expression.key === topologyKey && expression.operator === "In" && (expression.values ?? []).includes(node),
    ),
  );
}

/**
 * The PVCs on `node` that are TopoLVM's and not yet being deleted. A claim is on the node when kube-scheduler selected
 * the node for it (upstream's only test), or when its PV is pinned there by our topology key, or when its PV is a
 * volume of one of the node's LogicalVolumes (by volume handle or name); the last two also find claims bound without
 * the scheduler (static or pre-bound PVs). It is TopoLVM's when its PV is our CSI driver's or, for a claim without a
 * PV, when its StorageClass (or the provisioner annotation the PV controller set) names our provisioner.
 */
export function claimsOnNode(node: string, cluster: ClusterVolumes): V1PersistentVolumeClaim[] {
  const ourClasses = new Set(
    cluster.storageClasses.filter((storageClass) => storageClass.provisioner === provisionerName).map((storageClass) => storageClass.metadata?.name),
  );
  const volumeIds = new Set(cluster.logicalVolumes.map((lv) => lv.status?.volumeID).filter((id) => id !== undefined && id !== ""));
  const volumeNames = new Set(cluster.logicalVolumes.map((lv) => lv.spec.name));
  const volumes = new Map(cluster.volumes.map((volume) => [volume.metadata?.name, volume]));

  return cluster.claims.filter((claim) => {
    if (isMarkedForDeletion(claim)) {
      return false;
    }
    const volumeName = claim.spec?.volumeName;
    const volume = volumeName === undefined || volumeName === "" ? undefined : volumes.get(volumeName);
    const annotations = claim.metadata?.annotations ?? {};
    const ours =
      volume === undefined
        ? ourClasses.has(claim.spec?.storageClassName) || storageProvisionerAnnotations.some((key) => annotations[key] === provisionerName)
        : volume.spec?.csi?.driver === driverName;
    if (!ours) {
      return false;
    }
    if (annotations[selectedNodeAnnotation] === node) {
      return true;
    }
    if (volume === undefined) {
      return false;
    }
    const handle = volume.spec?.csi?.volumeHandle;
    return (
      volumeAffinityNode(volume, node) ||
      (handle !== undefined && volumeIds.has(handle)) ||
      (volume.metadata?.name !== undefined && volumeNames.has(volume.metadata.name))
    );
  });
}

/**
 * The reconcile of the Node finalizer, keyed by Node name. For a Node being deleted that carries
 * `topolvm.cybozu.com/node`: deletes the node's TopoLVM PVCs (so StatefulSets recreate them elsewhere), then releases
 * every LogicalVolume of the node (annotated pending-deletion so a surviving topolvm-node leaves its LV alone, our
 * finalizer removed, deleted; the LVM data on the node is never touched), then removes the Node finalizer. Nothing
 * here needs the node's topolvm-node, so it finishes when that node is gone. The PVs of the deleted claims follow by
 * themselves: Released, the provisioner's DeleteVolume finds no LogicalVolume, which is success, and the PV goes
 * (a Retain PV stays, as its policy asks). With skipNodeFinalize only the finalizer is removed, as upstream does.
 * Every step is idempotent; a failure is thrown so the queue retries the Node with backoff.
 */
export function createNodeFinalizerReconcile(options: NodeFinalizerOptions): Reconcile {
  const { core, storage, logicalVolumes, skipNodeFinalize } = options;
  const logger = options.logger.child({ controller: "node-finalizer" });

  async function deleteClaims(nodeName: string, signal: AbortSignal, log: Logger): Promise<void> {
    const request = abortableRequest(signal);
    const [claims, volumes, storageClasses, nodeVolumes] = await Promise.all([
      core.listPersistentVolumeClaimForAllNamespaces({}, request),
      core.listPersistentVolume({}, request),
      storage.listStorageClass({}, request),
      logicalVolumes.list({ nodeName }),
    ]);
    const targets = claimsOnNode(nodeName, {
      claims: claims.items,
      volumes: volumes.items,
      storageClasses: storageClasses.items,
      logicalVolumes: nodeVolumes.filter((lv) => lv.spec.nodeName === nodeName),
    });
    for (const claim of targets) {
      const namespace = claim.metadata?.namespace ?? "";
      const name = claim.metadata?.name ?? "";
      // The UID precondition spares a claim recreated under the same name since the list.
      const body = Object.assign(new V1DeleteOptions(), {
        preconditions: Object.assign(new V1Preconditions(), { uid: claim.metadata?.uid }),
      });
      try {
        await core.deleteNamespacedPersistentVolumeClaim({ namespace, name, body }, request);
        log.info({ pvc: `${namespace}/${name}` }, "deleted the PVC of the deleted node");
      } catch (error) {
        if (isApiStatus(error, 404) || isApiStatus(error, 409)) {
          log.info({ pvc: `${namespace}/${name}` }, "the PVC is already gone");
          continue;
        }
        throw error;
      }
    }
  }

  async function releaseLogicalVolume(lv: LogicalVolume, log: Logger): Promise<void> {
    const name = lv.metadata.name;
    try {
      let current = lv;
      if ((current.metadata.finalizers ?? []).includes(logicalVolumeFinalizer)) {
        if (current.metadata.annotations?.[pendingDeletionAnnotation] !== "true") {
          current = await logicalVolumes.patch(name, { metadata: { annotations: { [pendingDeletionAnnotation]: "true" } } });
        }
        const remaining = (current.metadata.finalizers ?? []).filter((finalizer) => finalizer !== logicalVolumeFinalizer);
        current = await logicalVolumes.setFinalizers(current, remaining);
        log.info({ logicalVolume: name }, "released the LogicalVolume of the deleted node (pending deletion, finalizer removed)");
      }
      if (!isMarkedForDeletion(current) && (await logicalVolumes.delete(name))) {
        log.info({ logicalVolume: name }, "deleted the LogicalVolume of the deleted node");
      }
    } catch (error) {
      if (isApiStatus(error, 404)) {
        return;
      }
      throw error;
    }
  }

  async function removeFinalizer(node: V1Node, signal: AbortSignal): Promise<void> {
    const metadata = node.metadata;
    const finalizers = (metadata?.finalizers ?? []).filter((finalizer) => finalizer !== nodeFinalizer);
    // The resourceVersion makes the merge patch fail with 409 if the Node changed since it was read.
    const body = { metadata: { resourceVersion: metadata?.resourceVersion, finalizers } };
    await core.patchNode(
      { name: metadata?.name ?? "", body },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch, abortableRequest(signal)),
    );
  }

  return async (nodeName, signal) => {
    const log = logger.child({ node: nodeName });
    let node: V1Node;
    try {
      node = await core.readNode({ name: nodeName }, abortableRequest(signal));
    } catch (error) {
      if (isApiStatus(error, 404)) {
        return undefined;
      }
      throw error;
    }
    if (!needsNodeFinalize(node)) {
      return undefined;
    }
    if (skipNodeFinalize) {
      log.info("the Node is being deleted; --skip-node-finalize leaves its PVCs and LogicalVolumes");
    } else {
      log.info("the Node is being deleted; cleaning up its PVCs and LogicalVolumes");
      await deleteClaims(nodeName, signal, log);
      // Listed again after the claims: a volume provisioned meanwhile for one of them is released too.
      const nodeVolumes = (await logicalVolumes.list({ nodeName })).filter((lv) => lv.spec.nodeName === nodeName);
      for (const lv of nodeVolumes) {
        signal.throwIfAborted();
        await releaseLogicalVolume(lv, log);
      }
    }
    try {
      await removeFinalizer(node, signal);
    } catch (error) {
      if (isApiStatus(error, 404)) {
        return undefined;
      }
      throw error;
    }
    log.info({ finalizer: nodeFinalizer }, "removed the Node finalizer; the Node can go");
    return undefined;
  };
}

/** The key of a Node that needs the finalizer, for the informer. */
function nodeKey(node: V1Node): string | undefined {
  return needsNodeFinalize(node) ? node.metadata?.name : undefined;
}

export interface NodeFinalizerControllerOptions extends NodeFinalizerOptions {
  /** Informer over Nodes: not started, or the process's shared one with `shared` (see startController). */
  readonly nodes: CachedInformer<V1Node>;
  readonly shared?: { readonly synced: () => boolean };
  /** Work queue backoff (tests shorten it). */
  readonly baseDelayMs?: number;
}

/** Runs the Node finalizer: an informer on Nodes enqueues those being deleted with our finalizer. */
export function startNodeFinalizerController(options: NodeFinalizerControllerOptions): RunningController {
  return startController({
    name: "node-finalizer",
    informer: options.nodes,
    ...(options.shared === undefined ? {} : { shared: options.shared }),
    keyOf: nodeKey,
    reconcile: createNodeFinalizerReconcile(options),
    logger: options.logger,
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
  });
}

/**
 * The Node finalizer over a cluster's API, its clients made from `kubeConfig`. It watches Nodes through `nodes`, the
 * process's running Node informer, when given (one Node cache per process), else through its own.
 */
export function startNodeFinalizer(options: {
  readonly kubeConfig: KubeConfig;
  readonly logicalVolumes: LogicalVolumeClient;
  readonly logger: Logger;
  readonly skipNodeFinalize: boolean;
  readonly nodes?: { readonly informer: CachedInformer<V1Node>; readonly synced: () => boolean };
}): RunningController {
  const { kubeConfig, nodes } = options;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return startNodeFinalizerController({
    core,
    storage: kubeConfig.makeApiClient(StorageV1Api),
    logicalVolumes: options.logicalVolumes,
    logger: options.logger,
    skipNodeFinalize: options.skipNodeFinalize,
    ...(nodes === undefined
      ? { nodes: makeInformer(kubeConfig, "/api/v1/nodes", () => core.listNode()) }
      : { nodes: nodes.informer, shared: { synced: nodes.synced } }),
  });
}
