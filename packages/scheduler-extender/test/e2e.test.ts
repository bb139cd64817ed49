// End to end on the local cluster (tools/cluster): the real kube-scheduler, configured with the extender from
// deploy/scheduler-config/scheduler-config.yaml, places pods that request TopoLVM capacity through the built
// topolvm-scheduler, first with full Node objects and then with node names (nodeCacheCapable: true).
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, type V1Pod } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  clusterPrerequisitesMissing,
  startCluster,
  type LocalCluster,
  type SchedulerExtender,
} from "../../../tools/cluster/src/index.js";
import { capacityScore } from "../src/score.js";
import { capacityAnnotationPrefix, capacityResourceName, defaultDeviceClassKey } from "@topolvm/proto/names";
import { eventually, until } from "../../../tools/eventually.js";
import { startScheduler, type SchedulerProcess } from "./support/scheduler-process.js";

const missing = clusterPrerequisitesMissing();
const mustRun = process.env.CI === "true";
const gib = 1024 ** 3;
const capacityKey = capacityAnnotationPrefix + defaultDeviceClassKey;
const namespace = "e2e-scheduling";
const nodeNames = ["node-1", "node-2", "node-3"] as const;
const deployedConfig = fileURLToPath(new URL("../../../deploy/scheduler-config/scheduler-config.yaml", import.meta.url));

/** The extender as deploy/scheduler-config ships it, pointed at this test's topolvm-scheduler. */
async function deployedExtender(urlPrefix: string, nodeCacheCapable: boolean): Promise<SchedulerExtender> {
  const config = parse(await readFile(deployedConfig, "utf8")) as { extenders: SchedulerExtender[] };
  const [extender] = config.extenders;
  if (extender === undefined) {
    throw new Error(`${deployedConfig} has no extender`);
  }
  return { ...extender, urlPrefix, nodeCacheCapable };
}

/** A pod as the pod webhook leaves it: the capacity annotation and the capacity resource. */
function capacityPod(name: string, requestBytes: number) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, annotations: { [capacityKey]: String(requestBytes) } },
    spec: {
      containers: [
        {
          name: "main",
          image: "busybox",
          resources: { requests: { [capacityResourceName]: "1" }, limits: { [capacityResourceName]: "1" } },
        },
      ],
    },
  };
}

describe.skipIf(missing.length > 0 && !mustRun)("topolvm-scheduler with the real kube-scheduler", () => {
  let cluster: LocalCluster | undefined;
  let objects: KubernetesObjectApi;
  let core: CoreV1Api;
  let dir: string;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`the local cluster cannot start here: ${missing.join("; ")}`);
    }
    dir = await mkdtemp(join(tmpdir(), "topolvm-scheduler-e2e-"));
    await writeFile(join(dir, "options.yaml"), 'listen: "127.0.0.1:0"\n');
    cluster = await startCluster({ nodes: nodeNames.length });
    objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    await eventually("the default service account", async () =>
      (await core.listNamespacedServiceAccount({ namespace })).items.find((account) => account.metadata?.name === "default"),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sets the free bytes every node reports for the default device-class, as topolvm-node does. */
  async function setFreeGiB(free: Record<(typeof nodeNames)[number], number>): Promise<void> {
    for (const name of nodeNames) {
      await objects.patch(
        { apiVersion: "v1", kind: "Node", metadata: { name, annotations: { [capacityKey]: String(free[name] * gib) } } },
        undefined,
        undefined,
        "e2e",
        undefined,
        PatchStrategy.MergePatch,
      );
    }
  }

  async function scheduledNode(name: string): Promise<string> {
    const pod = await eventually(`pod ${name} to be scheduled`, async () => {
      const current: V1Pod = await core.readNamespacedPod({ name, namespace });
      return current.spec?.nodeName === undefined ? undefined : current;
    });
    return pod.spec?.nodeName ?? "";
  }

  describe.each([
    { shape: "objects", nodeCacheCapable: false },
    { shape: "names", nodeCacheCapable: true },
  ] as const)("with nodeCacheCapable: $nodeCacheCapable", ({ shape, nodeCacheCapable }) => {
    let extender: SchedulerProcess | undefined;

    beforeAll(async () => {
      if (cluster === undefined) {
        throw new Error("the local cluster did not start");
      }
      const args = ["--config", join(dir, "options.yaml")];
      extender = await startScheduler(nodeCacheCapable ? [...args, "--kubeconfig", cluster.kubeconfigPath] : args);
      const url = extender.url;
      await until("topolvm-scheduler to be ready", async () => (await fetch(`${url}/status`)).ok);
      await cluster.setSchedulerExtenders([await deployedExtender(url, nodeCacheCapable)]);
    });

    afterAll(async () => {
      await extender?.stop();
    });

    /** Sets the nodes' free space and, with a node cache, waits until the extender's cache scores by it. */
    async function setFree(free: Record<(typeof nodeNames)[number], number>): Promise<void> {
      await setFreeGiB(free);
      if (!nodeCacheCapable) {
        // kube-scheduler sends the Nodes of its own informer, which nothing outside it can observe: give the patch
        // time to reach it (a pod created at once was seen placed by the previous round's annotations under load).
        await sleep(2_000);
        return;
      }
      if (extender === undefined) {
        return;
      }
      const url = `${extender.url}/prioritize`;
      const expected = nodeNames.map((host) => ({ Host: host, Score: capacityScore(BigInt(free[host]) * BigInt(gib), 1) }));
      const body = JSON.stringify({ Pod: capacityPod("probe", 1), NodeNames: nodeNames });
      await until("the node cache to see the new annotations", async () => {
        const scores: unknown = await (await fetch(url, { method: "POST", body })).json();
        return JSON.stringify(scores) === JSON.stringify(expected);
      });
    }

    it("places a pod asking for 5 GiB on the only node with room", async () => {
      await setFree({ "node-1": 1, "node-2": 10, "node-3": 4 });
      const name = `fits-one-${shape}`;
      await objects.create(capacityPod(name, 5 * gib));
      expect(await scheduledNode(name)).toBe("node-2");
      const asked = extender?.logs.filter((entry) => entry.pod === `${namespace}/${name}`) ?? [];
      expect(asked).toContainEqual(expect.objectContaining({ verb: "predicate", status: 200, shape, nodes: 3 }));
    });

    it("leaves a pod Pending with a FailedScheduling event naming TopoLVM when no node has room", async () => {
      const name = `fits-none-${shape}`;
      await objects.create(capacityPod(name, 100 * gib));
      const event = await eventually("a FailedScheduling event", async () => {
        const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
        return events.items.find((item) => item.reason === "FailedScheduling");
      });
      expect(event.message).toMatch(/0\/3 nodes are available: 3 TopoLVM: not enough free space in device-class "00default"/);
      // kube-scheduler records the event and patches the pod's PodScheduled condition as two separate writes.
      const pod = await eventually("the pod's PodScheduled condition", async () => {
        const read = await core.readNamespacedPod({ name, namespace });
        return read.status?.conditions?.some((condition) => condition.type === "PodScheduled") === true ? read : undefined;
      });
      expect(pod.spec?.nodeName).toBeUndefined();
      expect(pod.status?.phase).toBe("Pending");
      expect(pod.status?.conditions?.find((condition) => condition.type === "PodScheduled")).toMatchObject({
        status: "False",
        reason: "Unschedulable",
      });
    });

    it("prefers the node with the highest score when several have room", async () => {
      // Each round makes a different node the roomiest, so a placement by chance cannot pass every round.
      const rounds: Record<(typeof nodeNames)[number], number>[] = [
        { "node-1": 6, "node-2": 12, "node-3": 2048 },
        { "node-1": 1024, "node-2": 6, "node-3": 12 },
        { "node-1": 12, "node-2": 512, "node-3": 6 },
      ];
      const placed: string[] = [];
      for (const [index, free] of rounds.entries()) {
        await setFree(free);
        const name = `prefers-${shape}-${index}`;
        await objects.create(capacityPod(name, 5 * gib));
        placed.push(await scheduledNode(name));
      }
      expect(placed).toEqual(["node-3", "node-1", "node-2"]);
    });
  });
});
