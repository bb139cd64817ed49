import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  makeInformer,
  type KubeConfig,
  type V1PersistentVolumeClaim,
} from "@kubernetes/client-node";
import { performance } from "node:perf_hooks";

import { eventually, until } from "../../tools/eventually.js";

// The bench's workload: PVCs of a TopoLVM StorageClass, each with a pod that uses it, created all at once in a
// namespace of their own, and the time until every PVC is Bound (watched, not polled). There is no kubelet, so the
// pods are scheduled and bound to their node but never start; removing them needs a zero grace period.

/** The StorageClass the workload's PVCs use (ext4, WaitForFirstConsumer, volumes deleted with their PVC). */
export const storageClassName = "bench-provisioning";

/** What became of one workload: when each PVC was Bound and where each pod went, timed from its first request. */
export interface WorkloadResult {
  readonly namespace: string;
  readonly claims: number;
  /** From the first PVC request to the last PVC Bound. */
  readonly allBoundMs: number;
  /** The times each PVC became Bound, sorted, from the first request. */
  readonly boundMs: readonly number[];
  /** Pods per node they were bound to. */
  readonly podsPerNode: ReadonlyMap<string, number>;
}

/** Watches the PVCs of a namespace and records when each was first seen Bound. */
function watchClaims(kubeConfig: KubeConfig, namespace: string, t0: () => number) {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1PersistentVolumeClaim>(
    kubeConfig,
    `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    () => core.listNamespacedPersistentVolumeClaim({ namespace }),
  );
  const boundAt = new Map<string, number>();
  const record = (claim: V1PersistentVolumeClaim): void => {
    const name = claim.metadata?.name;
    if (name !== undefined && claim.status?.phase === "Bound" && !boundAt.has(name)) {
      boundAt.set(name, performance.now() - t0());
    }
  };
  informer.on("add", record);
  informer.on("update", record);
  let stopped = false;
  informer.on("error", () => {
    // A dropped watch ends the informer; start it again, unless the error is the abort of stop().
    setTimeout(() => {
      if (!stopped) {
        informer.start().catch(() => undefined);
      }
    }, 500);
  });
  return {
    boundAt,
    start: () => informer.start(),
    stop: async () => {
      stopped = true;
      await informer.stop();
    },
  };
}

/** A manifest for KubernetesObjectApi, which takes plain objects. */
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

function claimManifest(namespace: string, name: string, sizeBytes: number): Manifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { namespace, name },
    spec: {
      accessModes: ["ReadWriteOnce"],
      storageClassName,
      resources: { requests: { storage: String(sizeBytes) } },
    },
  };
}

function podManifest(namespace: string, name: string, claimName: string): Manifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: {
      // Never pulled: there is no kubelet.
      containers: [{ name: "app", image: "registry.invalid/bench:never", volumeMounts: [{ name: "data", mountPath: "/data" }] }],
      volumes: [{ name: "data", persistentVolumeClaim: { claimName } }],
      terminationGracePeriodSeconds: 0,
    },
  };
}

export interface RunWorkloadOptions {
  readonly namespace: string;
  readonly claims: number;
  readonly sizeBytes: number;
  readonly timeoutMs: number;
}

/**
 * Creates `claims` PVCs and then a pod for each (the pod webhook sizes a pod from its PVCs, so they come first),
 * all requests in flight at once, and resolves once every PVC is Bound. On a timeout the error names the PVCs that
 * were not.
 */
export async function runWorkload(kubeConfig: KubeConfig, options: RunWorkloadOptions): Promise<WorkloadResult> {
  const { namespace, claims } = options;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  let start = 0;
  const claimWatch = watchClaims(kubeConfig, namespace, () => start);
  const { boundAt } = claimWatch;
  await claimWatch.start();
  const names = Array.from({ length: claims }, (_, i) => `bench-${String(i).padStart(3, "0")}`);
  try {
    start = performance.now();
    await Promise.all(
      names.map((name) => objects.create(claimManifest(namespace, name, options.sizeBytes))),
    );
    await Promise.all(names.map((name) => objects.create(podManifest(namespace, name, name))));
    try {
      await until(`${claims} PVCs in ${namespace} to be Bound`, () => Promise.resolve(boundAt.size === claims), options.timeoutMs);
    } catch (error) {
      const stuck = names.filter((name) => !boundAt.has(name));
      throw new Error(`${(error as Error).message}: ${stuck.length} not Bound (${stuck.slice(0, 10).join(", ")}${stuck.length > 10 ? ", ..." : ""})`);
    }
  } finally {
    await claimWatch.stop();
  }
  const boundMs = [...boundAt.values()].sort((a, b) => a - b);
  // Kube-scheduler binds a pod once its PVC is Bound: wait for the last bindings.
  const pods = await eventually(
    `the ${claims} pods in ${namespace} to be bound to nodes`,
    async () => {
      const list = await core.listNamespacedPod({ namespace });
      return list.items.every((pod) => pod.spec?.nodeName !== undefined) && list.items.length === claims ? list.items : undefined;
    },
    options.timeoutMs,
  );
  const podsPerNode = new Map<string, number>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName ?? "";
    podsPerNode.set(node, (podsPerNode.get(node) ?? 0) + 1);
  }
  return { namespace, claims, allBoundMs: boundMs.at(-1) ?? 0, boundMs, podsPerNode };
}

/**
 * Removes a workload: its pods at once (no kubelet would confirm a graceful stop), its PVCs, then waits until every
 * PV that was bound to them is gone, i.e. the driver has deleted each volume, and removes the namespace.
 */
export async function removeWorkload(kubeConfig: KubeConfig, namespace: string, timeoutMs: number): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
  await core.deleteCollectionNamespacedPersistentVolumeClaim({ namespace });
  await until(
    `the PVs of ${namespace} to be deleted`,
    async () => (await core.listPersistentVolume()).items.every((pv) => pv.spec?.claimRef?.namespace !== namespace),
    timeoutMs,
  );
  await core.deleteNamespace({ name: namespace });
}

/** How many times provisioning failed in a namespace (events ProvisioningFailed, e.g. a node out of room). */
export async function provisioningFailures(kubeConfig: KubeConfig, namespace: string): Promise<number> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const events = await core.listNamespacedEvent({ namespace, fieldSelector: "reason=ProvisioningFailed" });
  return events.items.reduce((sum, event) => sum + (event.count ?? 1), 0);
}

/** The LogicalVolume resources of the cluster, by node. */
export async function logicalVolumesPerNode(kubeConfig: KubeConfig): Promise<Map<string, number>> {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const list = (await custom.listClusterCustomObject({ group: "topolvm.cybozu.com", version: "v1", plural: "logicalvolumes" })) as {
    items: { spec?: { nodeName?: string } }[];
  };
  const perNode = new Map<string, number>();
  for (const item of list.items) {
    const node = item.spec?.nodeName ?? "";
    perNode.set(node, (perNode.get(node) ?? 0) + 1);
  }
  return perNode;
}
