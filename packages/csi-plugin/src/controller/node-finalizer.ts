import type { V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from "@kubernetes/client-node";
import { createInformer, type KubeClient, type KubeObject } from "@topolvm/kube-client";
import { driverName, logicalVolumeFinalizer, nodeFinalizer, pendingDeletionAnnotation, provisionerName, topologyKey } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { isMarkedForDeletion, startController, type CachedInformer, type OwnedInformer, type RunningController } from "../informer.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { isApiStatus, type LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import type { Reconcile } from "../work-queue.js";

/** Kubernetes' own annotations on PVCs: the node kube-scheduler chose, and the provisioner the PV controller asked. */
const selectedNodeAnnotation = "volume.kubernetes.io/selected-node";
const storageProvisionerAnnotations = ["volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner"];

/** The Kubernetes calls the Node finalizer makes: get and merge-patch a Node, list PVCs, PVs and StorageClasses, delete PVCs. */
export interface NodeFinalizerApi {
  readonly kube: Pick<KubeClient, "get" | "list" | "patch" | "delete">;
  readonly logicalVolumes: Pick<LogicalVolumeClient, "list" | "patch" | "setFinalizers" | "delete">;
}

/**
 * What the process's Node informer keeps of a Node: the metadata that capacity decisions (labels, capacity
 * annotations) and the Node finalizer (finalizers, deletion) read. Nodes are listed as metadata only: their status
 * (images, conditions) is most of their bytes and nothing here reads it.
 */
export interface CachedNode extends KubeObject {
  readonly metadata: {
    readonly name?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
    readonly finalizers?: string[];
    /** As the API server wrote it (a string; client-node's V1ObjectMeta types it Date): only its presence is read. */
    readonly deletionTimestamp?: unknown;
  };
}

/** Reduces a Node (PartialObjectMetadata) to what the informer keeps: managedFields and the rest are dropped. */
export function cachedNodeOf(node: KubeObject & { metadata?: CachedNode["metadata"] }): CachedNode {
  const { name, resourceVersion, labels, annotations, finalizers, deletionTimestamp } = node.metadata ?? {};
  return {
    metadata: {
      ...(name === undefined ? {} : { name }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      ...(labels === undefined ? {} : { labels }),
      ...(annotations === undefined ? {} : { annotations }),
      ...(finalizers === undefined ? {} : { finalizers }),
      ...(deletionTimestamp === undefined || deletionTimestamp === null ? {} : { deletionTimestamp }),
    },
  };
}

/** An informer (not started) over every Node, as the controller process caches them. */
export function createNodeInformer(kube: Pick<KubeClient, "list" | "watch">): OwnedInformer<CachedNode> {
  return createInformer(kube, { path: "/api/v1/nodes", metadataOnly: true, transform: cachedNodeOf });
}

const nodePath = (name: string): string => `/api/v1/nodes/${encodeURIComponent(name)}`;

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
export function needsNodeFinalize(node: CachedNode | V1Node): boolean {
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
  const { kube, logicalVolumes, skipNodeFinalize } = options;
  const logger = options.logger.child({ controller: "node-finalizer" });

  async function deleteClaims(nodeName: string, signal: AbortSignal, log: Logger): Promise<void> {
    const [claims, volumes, storageClasses, nodeVolumes] = await Promise.all([
      kube.list<V1PersistentVolumeClaim>("/api/v1/persistentvolumeclaims", { signal }),
      kube.list<V1PersistentVolume>("/api/v1/persistentvolumes", { signal }),
      kube.list<V1StorageClass>("/apis/storage.k8s.io/v1/storageclasses", { signal }),
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
      const uid = claim.metadata?.uid;
      try {
        // The UID precondition spares a claim recreated under the same name since the list.
        await kube.delete(`/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims/${encodeURIComponent(name)}`, {
          ...(uid === undefined ? {} : { preconditions: { uid } }),
          signal,
        });
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
    await kube.patch(nodePath(metadata?.name ?? ""), body, { type: "merge", signal });
  }

  return async (nodeName, signal) => {
    const log = logger.child({ node: nodeName });
    let node: V1Node;
    try {
      node = await kube.get<V1Node>(nodePath(nodeName), { signal });
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
function nodeKey(node: CachedNode): string | undefined {
  return needsNodeFinalize(node) ? node.metadata.name : undefined;
}

export type NodeFinalizerControllerOptions = NodeFinalizerOptions & {
  /** Work queue backoff (tests shorten it). */
  readonly baseDelayMs?: number;
} & (
    | {
        /** Informer over Nodes, not started: the controller starts and stops it. */
        readonly nodes: OwnedInformer<CachedNode>;
        readonly shared?: undefined;
      }
    | {
        /** The process's shared Node informer, run by its owner (see startController). */
        readonly nodes: CachedInformer<CachedNode>;
        readonly shared: { readonly synced: () => boolean };
      }
  );

/** Runs the Node finalizer: an informer on Nodes enqueues those being deleted with our finalizer. */
export function startNodeFinalizerController(options: NodeFinalizerControllerOptions): RunningController {
  const common = {
    name: "node-finalizer",
    keyOf: nodeKey,
    reconcile: createNodeFinalizerReconcile(options),
    logger: options.logger,
    ...(options.baseDelayMs === undefined ? {} : { baseDelayMs: options.baseDelayMs }),
  };
  return options.shared === undefined
    ? startController({ ...common, informer: options.nodes })
    : startController({ ...common, informer: options.nodes, shared: options.shared });
}

/**
 * The Node finalizer over a cluster's API. It watches Nodes through `nodes`, the process's running Node informer, when
 * given (one Node cache per process), else through its own.
 */
export function startNodeFinalizer(options: {
  readonly kube: KubeClient;
  readonly logicalVolumes: LogicalVolumeClient;
  readonly logger: Logger;
  readonly skipNodeFinalize: boolean;
  readonly nodes?: { readonly informer: CachedInformer<CachedNode>; readonly synced: () => boolean };
}): RunningController {
  const { kube, nodes } = options;
  const common = { kube, logicalVolumes: options.logicalVolumes, logger: options.logger, skipNodeFinalize: options.skipNodeFinalize };
  return nodes === undefined
    ? startNodeFinalizerController({ ...common, nodes: createNodeInformer(kube) })
    : startNodeFinalizerController({ ...common, nodes: nodes.informer, shared: { synced: nodes.synced } });
}
