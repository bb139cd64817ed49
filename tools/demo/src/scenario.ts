// The demo's scenario: three simulated nodes with different free capacity, TopoLVM installed from the chart's
// rendered objects, pods with PVCs placed where space exists, and one pod too big for every node. The demo prints
// it as it goes; its test runs it and asserts every outcome.
import { CoreV1Api, KubernetesObjectApi } from "@kubernetes/client-node";

import { eventually } from "../../eventually.js";
import type { LocalCluster, NodeSpec } from "../../cluster/src/index.js";

const GiB = 2 ** 30;

/** The nodes: different VG sizes, and two device-classes on node-3. */
export const demoNodes: NodeSpec[] = [
  { name: "node-1", deviceClasses: [{ name: "ssd", sizeBytes: 8 * GiB }] },
  { name: "node-2", deviceClasses: [{ name: "ssd", sizeBytes: 16 * GiB }] },
  { name: "node-3", deviceClasses: [{ name: "ssd", sizeBytes: 4 * GiB }, { name: "hdd", sizeBytes: 32 * GiB }] },
];

/** The StorageClasses the chart is installed with: the default class (ssd) and hdd. */
export const demoStorageClasses = [
  { name: "topolvm-provisioner", storageClass: { fsType: "xfs" } },
  { name: "topolvm-hdd", storageClass: { fsType: "ext4", deviceClass: "hdd" } },
];

export interface DemoClaim {
  readonly name: string;
  readonly storageClass: string;
  readonly sizeBytes: number;
}

/** One pod of the scenario, what it asks for, and where it must land (undefined: nowhere, Pending). */
export interface DemoPod {
  readonly name: string;
  readonly claims: readonly DemoClaim[];
  readonly expectedNode: string | undefined;
  /** Why it lands there, for the reader. */
  readonly why: string;
}

export const demoPods: DemoPod[] = [
  {
    name: "web",
    claims: [{ name: "web-data", storageClass: "topolvm-provisioner", sizeBytes: 1 * GiB }],
    expectedNode: "node-2",
    why: "every node fits 1 GiB of ssd; the extender scores the emptiest node highest (16 GiB free on node-2)",
  },
  {
    name: "db",
    claims: [{ name: "db-data", storageClass: "topolvm-provisioner", sizeBytes: 12 * GiB }],
    expectedNode: "node-2",
    why: "12 GiB of ssd: only node-2 has that much free (15 GiB); node-1 has 8, node-3 4",
  },
  {
    name: "cache",
    claims: [{ name: "cache-data", storageClass: "topolvm-provisioner", sizeBytes: 6 * GiB }],
    expectedNode: "node-1",
    why: "6 GiB of ssd: node-2 has 3 GiB left now, node-3 4; only node-1 (8 GiB) fits",
  },
  {
    name: "logs",
    claims: [
      { name: "logs-index", storageClass: "topolvm-provisioner", sizeBytes: 2 * GiB },
      { name: "logs-archive", storageClass: "topolvm-hdd", sizeBytes: 20 * GiB },
    ],
    expectedNode: "node-3",
    why: "2 GiB of ssd and 20 GiB of hdd in one pod: only node-3 has an hdd class",
  },
  {
    name: "huge",
    claims: [{ name: "huge-data", storageClass: "topolvm-provisioner", sizeBytes: 40 * GiB }],
    expectedNode: undefined,
    why: "40 GiB of ssd: more than any node has free",
  },
];

export const demoNamespace = "default";

/** A PVC or a pod as the demo writes it (plain JSON, created through KubernetesObjectApi). */
interface Manifest {
  apiVersion: "v1";
  kind: "PersistentVolumeClaim" | "Pod";
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

function claimManifest(claim: DemoClaim): Manifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claim.name, namespace: demoNamespace },
    spec: {
      accessModes: ["ReadWriteOnce"],
      storageClassName: claim.storageClass,
      resources: { requests: { storage: String(claim.sizeBytes) } },
    },
  };
}

function podManifest(pod: DemoPod): Manifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: pod.name, namespace: demoNamespace },
    spec: {
      // There is no kubelet: the pod is scheduled and its volumes provisioned, but it never starts.
      containers: [
        {
          name: "app",
          image: "registry.k8s.io/pause:3.10",
          volumeMounts: pod.claims.map((claim) => ({ name: claim.name, mountPath: `/data/${claim.name}` })),
        },
      ],
      volumes: pod.claims.map((claim) => ({ name: claim.name, persistentVolumeClaim: { claimName: claim.name } })),
    },
  };
}

/** Where a pod went: its node and its claims' PVs, or why the scheduler left it Pending. */
export interface Placement {
  readonly pod: string;
  readonly node: string | undefined;
  readonly claims: readonly { readonly name: string; readonly phase: string; readonly volume: string | undefined }[];
  /** The PodScheduled condition's message when it stays Pending. */
  readonly pendingReason: string | undefined;
}

/**
 * Creates the pod and its claims and waits until every claim is Bound, or, for a pod expected to fit nowhere, until
 * kube-scheduler reports why it cannot place it.
 */
export async function placePod(cluster: LocalCluster, pod: DemoPod, timeoutMs = 180_000): Promise<Placement> {
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  for (const claim of pod.claims) {
    await objects.create(claimManifest(claim));
  }
  await objects.create(podManifest(pod));
  return eventually(
    pod.expectedNode === undefined ? `the scheduler to leave pod ${pod.name} Pending` : `pod ${pod.name}'s claims to be Bound`,
    async (): Promise<Placement | undefined> => {
      const current = await core.readNamespacedPod({ namespace: demoNamespace, name: pod.name });
      const claims = await Promise.all(
        pod.claims.map(async (claim) => {
          const object = await core.readNamespacedPersistentVolumeClaim({ namespace: demoNamespace, name: claim.name });
          return { name: claim.name, phase: object.status?.phase ?? "Pending", volume: object.spec?.volumeName };
        }),
      );
      const scheduled = current.status?.conditions?.find((condition) => condition.type === "PodScheduled");
      const node = current.spec?.nodeName;
      if (node !== undefined && claims.every((claim) => claim.phase === "Bound")) {
        return { pod: pod.name, node, claims, pendingReason: undefined };
      }
      // kube-scheduler may try a pod before its informer has the PVCs created just before it ("... not found"), and
      // tries again once it has: only an answer about the nodes themselves is final.
      const message = scheduled?.message ?? "";
      if (pod.expectedNode === undefined && node === undefined && scheduled?.reason === "Unschedulable" && !message.includes("not found")) {
        return { pod: pod.name, node: undefined, claims, pendingReason: message };
      }
      return undefined;
    },
    timeoutMs,
  );
}
