import { CoreV1Api, KubernetesObjectApi, StorageV1Api, type V1Pod } from "@kubernetes/client-node";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { driverName, topologyKey } from "@topolvm/proto/names";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { eventually } from "../../eventually.js";
import { binaryPath } from "../src/binaries.js";
import { processStartTime } from "../src/processes.js";
import { readState } from "../src/state.js";
import { clusterPrerequisitesMissing, startCluster, type LocalCluster } from "../src/index.js";

const execFileAsync = promisify(execFile);
const missing = clusterPrerequisitesMissing();

/** Loop devices whose backing file lies under dir. */
async function loopDevicesUnder(dir: string): Promise<string[]> {
  const { stdout } = await execFileAsync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"]);
  return stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/, 2))
    .filter(([, file]) => file?.startsWith(`${dir}/`) === true)
    .map(([device]) => device ?? "");
}

describe.skipIf(missing.length > 0 && process.env.CI !== "true")("the local cluster", () => {
  let cluster: LocalCluster;
  let core: CoreV1Api;
  let objects: KubernetesObjectApi;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`cannot start a cluster, missing: ${missing.join(", ")}`);
    }
    cluster = await startCluster({ nodes: 3 });
    core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  });

  afterAll(async () => {
    await cluster.stop();
  });

  it("answers /readyz with ok through kubectl", async () => {
    const { stdout } = await execFileAsync(binaryPath("kubectl"), [
      `--kubeconfig=${cluster.kubeconfigPath}`,
      "get",
      "--raw",
      "/readyz",
    ]);
    expect(stdout.trim()).toBe("ok");
  });

  it("registers three Ready nodes without taints and with fresh leases", async () => {
    const nodes = (await core.listNode()).items;
    expect(nodes.map((node) => node.metadata?.name).sort()).toEqual(["node-1", "node-2", "node-3"]);
    for (const node of nodes) {
      const ready = node.status?.conditions?.find((condition) => condition.type === "Ready");
      expect(ready?.status).toBe("True");
      expect(node.spec?.taints ?? []).toEqual([]);
      expect(node.status?.nodeInfo?.kubeletVersion).toBe(cluster.kubernetesVersion);
    }
  });

  it("creates a Namespace, a StorageClass and a PVC", async () => {
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "objects" } });
    await objects.create({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: "topolvm-provisioner" },
      provisioner: driverName,
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
      parameters: { "topolvm.cybozu.com/device-class": "ssd" },
    });
    await objects.create({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "data", namespace: "objects" },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: "topolvm-provisioner",
        resources: { requests: { storage: "1Gi" } },
      },
    });
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "objects" });
    expect(pvc.spec?.storageClassName).toBe("topolvm-provisioner");
    // WaitForFirstConsumer: it stays Pending until a pod using it is scheduled.
    expect(pvc.status?.phase).toBe("Pending");
  });

  it("schedules a pod without volumes onto a simulated node through kube-scheduler", async () => {
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: "scheduling" } });
    // ServiceAccount admission rejects pods until the controller manager has created the default account.
    await eventually("the default service account", async () =>
      (await core.listNamespacedServiceAccount({ namespace: "scheduling" })).items.find(
        (account) => account.metadata?.name === "default",
      ),
    );
    await objects.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "sleeper", namespace: "scheduling" },
      spec: { containers: [{ name: "main", image: "busybox" }] },
    });
    const pod: V1Pod = await eventually("the pod to be scheduled", async () => {
      const current = await core.readNamespacedPod({ name: "sleeper", namespace: "scheduling" });
      return current.spec?.nodeName === undefined ? undefined : current;
    });
    expect(["node-1", "node-2", "node-3"]).toContain(pod.spec?.nodeName);
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled");
    expect(scheduled?.status).toBe("True");
  });

  it("asks a scheduler extender set after start-up which nodes fit", async () => {
    const asked: string[][] = [];
    // An extender that lets pods onto node-3 only.
    const extender = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        // ExtenderArgs and ExtenderFilterResult have no JSON tags upstream: their keys are the Go field names.
        const args = JSON.parse(body) as { Nodes?: { items: { metadata: { name: string } }[] } };
        const nodes = args.Nodes?.items ?? [];
        asked.push(nodes.map((node) => node.metadata.name).sort());
        const fit = nodes.filter((node) => node.metadata.name === "node-3");
        response.setHeader("Content-Type", "application/json");
        response.end(JSON.stringify({ Nodes: { items: fit }, FailedNodes: {} }));
      });
    });
    await new Promise<void>((resolve) => extender.listen(0, "127.0.0.1", resolve));
    const { port } = extender.address() as AddressInfo;
    try {
      await cluster.setSchedulerExtenders([
        { urlPrefix: `http://127.0.0.1:${port}`, filterVerb: "filter", weight: 1, httpTimeout: "5s" },
      ]);
      await objects.create({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "picky", namespace: "scheduling" },
        spec: { containers: [{ name: "main", image: "busybox" }] },
      });
      const pod = await eventually("the pod to be scheduled", async () => {
        const current = await core.readNamespacedPod({ name: "picky", namespace: "scheduling" });
        return current.spec?.nodeName === undefined ? undefined : current;
      });
      expect(pod.spec?.nodeName).toBe("node-3");
      expect(asked).toContainEqual(["node-1", "node-2", "node-3"]);
    } finally {
      await cluster.setSchedulerExtenders([]);
      await new Promise((resolve) => extender.close(resolve));
    }
  });

  it("registers a CSI driver on a node as kubelet does after NodeGetInfo", async () => {
    await cluster.registerCsiDriver("node-2", { nodeId: "node-2", topology: { [topologyKey]: "node-2" } });
    const storage = cluster.kubeConfig.makeApiClient(StorageV1Api);
    const csiNode = await storage.readCSINode({ name: "node-2" });
    expect(csiNode.spec.drivers).toEqual([
      expect.objectContaining({ name: driverName, nodeID: "node-2", topologyKeys: [topologyKey] }),
    ]);
    const node = await core.readNode({ name: "node-2" });
    expect(node.metadata?.labels?.[topologyKey]).toBe("node-2");
    expect(JSON.parse(node.metadata?.annotations?.["csi.volume.kubernetes.io/nodeid"] ?? "{}")).toEqual({
      [driverName]: "node-2",
    });
  });

  it("adds and removes a node", async () => {
    const added = await cluster.addNode({ name: "extra", deviceClasses: [{ name: "hdd" }, { name: "ssd" }] });
    expect(added.deviceClasses.map((deviceClass) => [deviceClass.name, deviceClass.default])).toEqual([
      ["hdd", true],
      ["ssd", false],
    ]);
    const node = await core.readNode({ name: "extra" });
    expect(node.status?.conditions?.find((condition) => condition.type === "Ready")?.status).toBe("True");
    await cluster.removeNode("extra");
    await expect(core.readNode({ name: "extra" })).rejects.toMatchObject({ code: 404 });
    expect((await cluster.nodes()).map((entry) => entry.name)).not.toContain("extra");
  });

  it("backs each node with its own loop volume groups, one per device-class", async () => {
    const nodes = await cluster.nodes();
    expect(nodes.map((node) => node.name).sort()).toEqual(["node-1", "node-2", "node-3"]);
    const loopDevices = new Set<string>();
    for (const node of nodes) {
      const vgs = ["--noheadings", "-o", "vg_name,pv_count,vg_size", "--units", "b"];
      const { stdout } = await execFileAsync("vgs", vgs, { env: { ...process.env, ...node.lvm.env } });
      expect(stdout.trim().split(/\s+/)).toEqual([`${node.name}-ssd`, "1", expect.stringMatching(/^\d+B$/)]);
      node.lvm.volumeGroups.flatMap((vg) => vg.physicalVolumes).forEach((device) => loopDevices.add(device));
    }
    expect(loopDevices.size).toBe(3);
  });

  it("stops every process it started and detaches its loop devices on stop()", async () => {
    const state = await readState(cluster.stateDir);
    const processes = state?.processes ?? [];
    expect(processes.map((record) => record.name).sort()).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "node-agent",
    ]);
    await cluster.stop();
    for (const record of processes) {
      expect(processStartTime(record.pid), `${record.name} (pid ${record.pid})`).not.toBe(record.startTime);
    }
    expect(await loopDevicesUnder(cluster.stateDir)).toEqual([]);
  });
});
