import { seededRandom } from "../../packages/scheduler-extender/test/support/seeded-random.js";

// Request bodies for the benchmark: 5,000 Nodes shaped like kubelet's (labels, conditions, addresses, nodeInfo),
// about 1.9 KB each as JSON, so 5,000 of them stay under the extender's 10 MiB body limit (real Nodes with image
// lists are larger: big clusters want nodeCacheCapable: true), with capacity annotations from a seeded generator so
// every run sends the same bytes.

const gib = 1024 ** 3;
const capacityKey = "capacity.topolvm.cybozu.com/00default";

function condition(type: string, status: string, reason: string, message: string) {
  const time = "2026-11-25T09:00:00Z";
  return { type, status, lastHeartbeatTime: time, lastTransitionTime: time, reason, message };
}

/** A Node as kubelet registers it, with `freeBytes` in the default device-class's capacity annotation. */
export function benchNode(index: number, freeBytes: number): Record<string, unknown> {
  const name = `node-${String(index).padStart(5, "0")}`;
  return {
    metadata: {
      name,
      uid: `6f1c2a9e-0000-4000-8000-${String(index).padStart(12, "0")}`,
      resourceVersion: String(100_000 + index),
      creationTimestamp: "2026-11-01T00:00:00Z",
      labels: {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": `zone-${index % 3}`,
        "topology.topolvm.cybozu.com/node": name,
      },
      annotations: {
        [capacityKey]: String(freeBytes),
        "capacity.topolvm.cybozu.com/ssd": String(freeBytes),
        "node.alpha.kubernetes.io/ttl": "0",
        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
      },
    },
    spec: { podCIDR: `10.${index >> 8}.${index & 255}.0/24`, providerID: `bench://${name}` },
    status: {
      capacity: { cpu: "16", memory: "65843432Ki", pods: "110" },
      allocatable: { cpu: "16", memory: "65741032Ki", pods: "110" },
      conditions: [
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
      ],
      addresses: [
        { type: "InternalIP", address: `10.0.${index >> 8}.${index & 255}` },
        { type: "Hostname", address: name },
      ],
      nodeInfo: {
        kernelVersion: "6.1.0-27-amd64",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        containerRuntimeVersion: "containerd://1.7.24",
        kubeletVersion: "v1.37.2",
        kubeProxyVersion: "v1.37.2",
        operatingSystem: "linux",
        architecture: "amd64",
      },
    },
  };
}

/** `count` Nodes, about half with room (≥ 5 GiB free) for the benchmark pod, free space spread up to 2 TiB. */
export function benchNodes(count: number): Record<string, unknown>[] {
  const next = seededRandom(9251);
  return Array.from({ length: count }, (_, index) => {
    const freeBytes = next() < 0.5 ? Math.floor(next() * 5 * gib) : 5 * gib + Math.floor(next() * 2043 * gib);
    return benchNode(index, freeBytes);
  });
}

/** The pod being scheduled: 5 GiB in the default device-class, as the pod webhook annotates it. */
export const benchPod = {
  metadata: {
    name: "db-0",
    namespace: "app",
    uid: "1b2c3d4e-0000-4000-8000-000000000001",
    annotations: { [capacityKey]: String(5 * gib) },
    labels: { app: "db" },
  },
  spec: {
    containers: [
      {
        name: "db",
        image: "postgres:17",
        resources: { requests: { "topolvm.cybozu.com/capacity": "1" }, limits: { "topolvm.cybozu.com/capacity": "1" } },
        volumeMounts: [{ name: "data", mountPath: "/var/lib/postgresql/data" }],
      },
    ],
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "data-db-0" } }],
  },
};
