import type { KubeClient } from "@topolvm/kube-client";
import { driverName } from "@topolvm/proto/names";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";

/** The metadata fields the reports read (timestamps as the API writes them, RFC 3339 strings). */
export interface Metadata {
  readonly name?: string;
  readonly namespace?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly finalizers?: readonly string[];
  readonly managedFields?: readonly { readonly manager?: string; readonly subresource?: string; readonly time?: string }[];
}

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}

/** The parts of each object the reports read (the API's objects fit). */
export interface V1Node {
  readonly metadata?: Metadata;
  readonly status?: { readonly conditions?: readonly Condition[] };
}

export interface V1PersistentVolume {
  readonly metadata?: Metadata;
  readonly spec?: {
    readonly csi?: { readonly driver: string; readonly volumeHandle: string };
    readonly claimRef?: { readonly namespace?: string; readonly name?: string };
    readonly persistentVolumeReclaimPolicy?: string;
  };
  readonly status?: { readonly phase?: string };
}

export interface V1PersistentVolumeClaim {
  readonly metadata?: Metadata;
  readonly spec?: { readonly storageClassName?: string };
  readonly status?: { readonly phase?: string };
}

export interface V1Pod {
  readonly metadata?: Metadata;
  readonly spec?: {
    readonly volumes?: readonly {
      readonly name: string;
      readonly persistentVolumeClaim?: { readonly claimName: string };
      readonly ephemeral?: object;
    }[];
  };
  readonly status?: { readonly phase?: string; readonly conditions?: readonly Condition[] };
}

export interface V1StorageClass {
  readonly metadata?: Metadata;
  readonly provisioner: string;
}

/** The objects `topolvm status` and `topolvm check` read, listed once each. */
export interface ClusterState {
  readonly nodes: readonly V1Node[];
  readonly logicalVolumes: readonly LogicalVolume[];
  readonly persistentVolumes: readonly V1PersistentVolume[];
  readonly claims: readonly V1PersistentVolumeClaim[];
  readonly pods: readonly V1Pod[];
  readonly storageClasses: readonly V1StorageClass[];
}

/** Lists what a report needs: six LISTs, all at once. */
export async function readClusterState(kube: KubeClient): Promise<ClusterState> {
  const [nodes, logicalVolumes, persistentVolumes, claims, pods, storageClasses] = await Promise.all([
    kube.list<V1Node>("/api/v1/nodes"),
    kube.list<LogicalVolume>(`/apis/${driverName}/v1/logicalvolumes`),
    kube.list<V1PersistentVolume>("/api/v1/persistentvolumes"),
    kube.list<V1PersistentVolumeClaim>("/api/v1/persistentvolumeclaims"),
    kube.list<V1Pod>("/api/v1/pods"),
    kube.list<V1StorageClass>("/apis/storage.k8s.io/v1/storageclasses"),
  ]);
  return {
    nodes: nodes.items,
    logicalVolumes: logicalVolumes.items,
    persistentVolumes: persistentVolumes.items,
    claims: claims.items,
    pods: pods.items,
    storageClasses: storageClasses.items,
  };
}

/** `namespace/name` of a namespaced object. */
export function namespacedName(object: { metadata?: { namespace?: string; name?: string } }): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}

/** The claims a pod uses: its persistentVolumeClaim volumes and the claims of its generic ephemeral volumes. */
export function podClaimNames(pod: V1Pod): string[] {
  const podName = pod.metadata?.name ?? "";
  return (pod.spec?.volumes ?? []).flatMap((volume) => {
    if (volume.persistentVolumeClaim !== undefined) {
      return [volume.persistentVolumeClaim.claimName];
    }
    // Kubernetes names the claim of a generic ephemeral volume <pod>-<volume>.
    return volume.ephemeral === undefined ? [] : [`${podName}-${volume.name}`];
  });
}

/** Lookups across the state: PVs by volume handle, claims and their pods by namespace/name. */
export interface ClusterIndex {
  readonly nodeNames: ReadonlySet<string>;
  readonly pvByVolumeId: ReadonlyMap<string, V1PersistentVolume>;
  readonly claimByName: ReadonlyMap<string, V1PersistentVolumeClaim>;
  readonly podsByClaim: ReadonlyMap<string, readonly V1Pod[]>;
  readonly topolvmStorageClasses: ReadonlySet<string>;
}

export function indexClusterState(state: ClusterState): ClusterIndex {
  const pvByVolumeId = new Map<string, V1PersistentVolume>();
  for (const pv of state.persistentVolumes) {
    if (pv.spec?.csi?.driver === driverName) {
      pvByVolumeId.set(pv.spec.csi.volumeHandle, pv);
    }
  }
  const podsByClaim = new Map<string, V1Pod[]>();
  for (const pod of state.pods) {
    for (const claim of podClaimNames(pod)) {
      const key = `${pod.metadata?.namespace ?? ""}/${claim}`;
      podsByClaim.set(key, [...(podsByClaim.get(key) ?? []), pod]);
    }
  }
  return {
    nodeNames: new Set(state.nodes.map((node) => node.metadata?.name ?? "")),
    pvByVolumeId,
    claimByName: new Map(state.claims.map((claim) => [namespacedName(claim), claim])),
    podsByClaim,
    topolvmStorageClasses: new Set(
      state.storageClasses.filter((sc) => sc.provisioner === driverName).map((sc) => sc.metadata?.name ?? ""),
    ),
  };
}
