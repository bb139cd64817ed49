// What the end-to-end tests share: a local cluster with TopoLVM started on it (tools/cluster), manifests of the
// objects a user writes, and waits that print what every TopoLVM process wrote when they time out.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  StorageV1Api,
  type CoreV1Event,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";

import {
  clusterPrerequisitesMissing,
  startCluster,
  startTopolvm,
  topolvmPrerequisitesMissing,
  type LocalCluster,
  type NodeSpec,
  type StartTopolvmOptions,
  type Topolvm,
} from "../../../../tools/cluster/src/index.js";
import {
  logicalVolumeGroup,
  logicalVolumePlural,
  logicalVolumeVersion,
  type LogicalVolume,
} from "../../src/index.js";

export const gib = 1024 ** 3;

/** Why the e2e suites cannot run here (empty when they can). Under CI=true the suites fail on it instead of skipping. */
export const e2eMissing: string[] = [...clusterPrerequisitesMissing(), ...topolvmPrerequisitesMissing()];
export const skipE2e = e2eMissing.length > 0 && process.env.CI !== "true";

/** The local cluster with TopoLVM on it, and the API clients the tests use. */
export interface E2e {
  cluster: LocalCluster;
  topolvm: Topolvm;
  core: CoreV1Api;
  storage: StorageV1Api;
  objects: KubernetesObjectApi;
  custom: CustomObjectsApi;
  /** Stops TopoLVM, then the cluster; safe to call after a failed start. */
  stop(): Promise<void>;
}

/** Starts a cluster with these nodes and TopoLVM on it; on failure stops what started and rethrows with the logs. */
export async function startE2e(nodes: NodeSpec[], options: StartTopolvmOptions): Promise<E2e> {
  if (e2eMissing.length > 0) {
    throw new Error(`the TopoLVM end-to-end tests cannot run here, missing: ${e2eMissing.join("; ")}`);
  }
  const cluster = await startCluster({ nodes });
  let topolvm: Topolvm;
  try {
    topolvm = await startTopolvm(cluster, options);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return {
    cluster,
    topolvm,
    core: cluster.kubeConfig.makeApiClient(CoreV1Api),
    storage: cluster.kubeConfig.makeApiClient(StorageV1Api),
    objects: KubernetesObjectApi.makeApiClient(cluster.kubeConfig),
    custom: cluster.kubeConfig.makeApiClient(CustomObjectsApi),
    async stop() {
      try {
        await topolvm.stop();
      } finally {
        await cluster.stop();
      }
    },
  };
}

/**
 * Registers, in the calling describe block, a beforeAll that starts the cluster with TopoLVM and creates the test's
 * namespace, and an afterAll that stops them. Answers the running environment; it throws in a test when the start
 * failed.
 */
export function useE2e(nodes: NodeSpec[], options: StartTopolvmOptions, namespace: string): () => E2e {
  let e2e: E2e | undefined;
  beforeAll(async () => {
    const started = Date.now();
    e2e = await startE2e(nodes, options);
    await createNamespace(e2e, namespace);
    console.log(`cluster and TopoLVM ready in ${elapsedMs(started)} ms`);
  });
  afterAll(async () => {
    await e2e?.stop();
  });
  return () => {
    if (e2e === undefined) {
      throw new Error(`the cluster did not start (${e2eMissing.join("; ") || "see beforeAll"})`);
    }
    return e2e;
  };
}

/**
 * Polls probe until it returns a value other than undefined. On timeout the error names what was awaited, the last
 * observation (what `describe` returns) and the tails of every TopoLVM process's log.
 */
export async function waitFor<T>(
  e2e: E2e,
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; describe?: () => Promise<string> } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      const seen = options.describe === undefined ? "" : await options.describe().catch((error: unknown) => String(error));
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (seen === "" ? "" : `\nlast seen: ${seen}`) +
          (lastError === "" ? "" : `\nlast error: ${lastError}`) +
          `\n${await e2e.topolvm.logTails(20)}`,
      );
    }
    await sleep(250);
  }
}

/** Creates a namespace and waits for its default ServiceAccount (pods are refused before it exists). */
export async function createNamespace(e2e: E2e, name: string): Promise<void> {
  await e2e.objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  await waitFor(e2e, `the default ServiceAccount of ${name}`, async () =>
    (await e2e.core.listNamespacedServiceAccount({ namespace: name })).items.find(
      (account) => account.metadata?.name === "default",
    ),
  );
}

export interface ClaimManifest {
  apiVersion: "v1";
  kind: "PersistentVolumeClaim";
  metadata: { namespace: string; name: string };
  spec: { accessModes: string[]; storageClassName: string; resources: { requests: { storage: string } } };
}

export function claimManifest(namespace: string, name: string, storageClassName: string, storage: string): ClaimManifest {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { namespace, name },
    spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage } } },
  };
}

export interface PodManifest {
  apiVersion: "v1";
  kind: "Pod";
  metadata: { namespace: string; name: string };
  spec: {
    containers: { name: string; image: string }[];
    volumes: { name: string; persistentVolumeClaim: { claimName: string } }[];
    nodeSelector?: Record<string, string>;
  };
}

/** A pod using the claims (never started: there is no kubelet), optionally pinned to a node. */
export function podManifest(namespace: string, name: string, claims: readonly string[], nodeName?: string): PodManifest {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: {
      containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }],
      volumes: claims.map((claimName) => ({ name: claimName, persistentVolumeClaim: { claimName } })),
      ...(nodeName === undefined ? {} : { nodeSelector: { "kubernetes.io/hostname": nodeName } }),
    },
  };
}

export async function readClaim(e2e: E2e, namespace: string, name: string): Promise<V1PersistentVolumeClaim> {
  return e2e.core.readNamespacedPersistentVolumeClaim({ namespace, name });
}

/** Waits until the claim is Bound and returns it with its PV. */
export async function boundClaim(
  e2e: E2e,
  namespace: string,
  name: string,
  timeoutMs = 180_000,
): Promise<{ claim: V1PersistentVolumeClaim; volume: V1PersistentVolume }> {
  const claim = await waitFor(
    e2e,
    `PVC ${namespace}/${name} to be Bound`,
    async () => {
      const current = await readClaim(e2e, namespace, name);
      return current.status?.phase === "Bound" ? current : undefined;
    },
    { timeoutMs, describe: () => describeClaim(e2e, namespace, name) },
  );
  const volumeName = claim.spec?.volumeName ?? "";
  const volume = await e2e.core.readPersistentVolume({ name: volumeName });
  return { claim, volume };
}

/** Waits until the pod is bound to a node and returns the node's name. */
export async function scheduledNode(e2e: E2e, namespace: string, name: string, timeoutMs = 120_000): Promise<string> {
  return waitFor(
    e2e,
    `pod ${namespace}/${name} to be scheduled`,
    async () => (await e2e.core.readNamespacedPod({ namespace, name })).spec?.nodeName,
    { timeoutMs, describe: () => describeEvents(e2e, namespace, name) },
  );
}

/** The events about an object, oldest first. */
export async function eventsOf(e2e: E2e, namespace: string, name: string): Promise<CoreV1Event[]> {
  const events = await e2e.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return events.items;
}

export async function describeEvents(e2e: E2e, namespace: string, name: string): Promise<string> {
  const events = await eventsOf(e2e, namespace, name);
  return events.map((event) => `${event.reason ?? ""}: ${event.message ?? ""}`).join(" | ") || "(no events)";
}

async function describeClaim(e2e: E2e, namespace: string, name: string): Promise<string> {
  const claim = await readClaim(e2e, namespace, name);
  const annotations = JSON.stringify(claim.metadata?.annotations ?? {});
  return `phase ${claim.status?.phase ?? "?"}, annotations ${annotations}, events: ${await describeEvents(e2e, namespace, name)}`;
}

/** Deletes a pod at once: without a kubelet a graceful deletion never completes. */
export async function forceDeletePod(e2e: E2e, namespace: string, name: string): Promise<void> {
  await e2e.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
}

export async function listLogicalVolumes(e2e: E2e): Promise<LogicalVolume[]> {
  const list = (await e2e.custom.listClusterCustomObject({
    group: logicalVolumeGroup,
    version: logicalVolumeVersion,
    plural: logicalVolumePlural,
  })) as { items: LogicalVolume[] };
  return list.items;
}

/** The LogicalVolume of a PV (named after the CSI volume name, which is the PV's name). */
export async function logicalVolumeOf(e2e: E2e, volume: V1PersistentVolume): Promise<LogicalVolume | undefined> {
  const handle = volume.spec?.csi?.volumeHandle;
  return (await listLogicalVolumes(e2e)).find(
    (lv) => lv.metadata.name === volume.metadata?.name || (handle !== undefined && lv.status?.volumeID === handle),
  );
}

/** The node names of a PV's required node affinity for the topology key. */
export function affinityNodes(volume: V1PersistentVolume, key: string): string[] {
  const terms = volume.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
  return terms.flatMap((term) =>
    (term.matchExpressions ?? []).filter((expression) => expression.key === key).flatMap((expression) => expression.values ?? []),
  );
}

/** Reads a node's annotation as a number of bytes (undefined when absent). */
export async function nodeAnnotationBytes(e2e: E2e, node: string, key: string): Promise<number | undefined> {
  const value = (await e2e.core.readNode({ name: node })).metadata?.annotations?.[key];
  return value === undefined ? undefined : Number(value);
}

/** The pod as the API server has it. */
export async function readPod(e2e: E2e, namespace: string, name: string): Promise<V1Pod> {
  return e2e.core.readNamespacedPod({ namespace, name });
}

/** Milliseconds since start, for the durations the tests report. */
export function elapsedMs(start: number): number {
  return Date.now() - start;
}
