// Cluster objects for the unit tests of src/status/: just the fields topolvm status and check read.
import { V1ObjectMeta } from "@kubernetes/client-node";
import type { LogicalVolume } from "../src/logical-volume/logical-volume.js";
import type { ClusterState, V1Node, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from "../src/status/cluster-state.js";

export const GiB = 2 ** 30;

export function node(name: string, capacities: Record<string, number>): V1Node {
  return {
    metadata: {
      name,
      annotations: Object.fromEntries(Object.entries(capacities).map(([key, value]) => [`capacity.topolvm.cybozu.com/${key}`, String(value)])),
    },
  };
}

export function logicalVolume(name: string, nodeName: string, deviceClass: string, size: number, volumeID?: string): LogicalVolume {
  return {
    metadata: Object.assign(new V1ObjectMeta(), { name }),
    spec: { name, nodeName, deviceClass, size: String(size) },
    ...(volumeID === undefined ? {} : { status: { volumeID, currentSize: String(size) } }),
  };
}

export function persistentVolume(name: string, volumeHandle: string, claim: string): V1PersistentVolume {
  const [namespace = "", claimName = ""] = claim.split("/");
  return {
    metadata: { name },
    spec: { csi: { driver: "topolvm.cybozu.com", volumeHandle }, claimRef: { namespace, name: claimName } },
    status: { phase: "Bound" },
  };
}

export function claim(name: string, phase = "Bound", storageClassName = "topolvm-provisioner"): V1PersistentVolumeClaim {
  const [namespace = "", claimName = ""] = name.split("/");
  return { metadata: { namespace, name: claimName }, spec: { storageClassName }, status: { phase } };
}

export function pod(name: string, claims: string[]): V1Pod {
  const [namespace = "", podName = ""] = name.split("/");
  return {
    metadata: { namespace, name: podName },
    spec: { volumes: claims.map((claimName, i) => ({ name: `v${String(i)}`, persistentVolumeClaim: { claimName } })) },
  };
}

export function state(parts: Partial<ClusterState>): ClusterState {
  return { nodes: [], logicalVolumes: [], persistentVolumes: [], claims: [], pods: [], storageClasses: [{ metadata: { name: "topolvm-provisioner" }, provisioner: "topolvm.cybozu.com" }], ...parts };
}
