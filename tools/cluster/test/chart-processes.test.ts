// The chart's own rendered objects, run as processes on the local cluster: every TopoLVM container and CSI sidecar
// of its Deployments and DaemonSets with the command line, environment and files the chart gives it (changed only
// as src/chart-rewrites.ts writes down), each talking to the API server as its pod's ServiceAccount. A PVC
// provisioned end to end proves that the flags the chart passes are the flags the components accept, and that its
// RBAC lets them do their work.
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, type V1PodSpec, type V1Service } from "@kubernetes/client-node";
import { capacityAnnotationPrefix, defaultDeviceClassKey } from "@topolvm/proto/names";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { eventually } from "../../eventually.js";
import { missingBinaries } from "../src/binaries.js";
import { chartPods, nodeMatches, serviceAddress } from "../src/chart-pods.js";
import { expandVariables, rewriteArgs, rewriteConfigFile, rewritePath } from "../src/chart-rewrites.js";
import {
  chartWebhookCertificate,
  clusterPrerequisitesMissing,
  perNodeLvmdValues,
  startCluster,
  startTopolvmFromChart,
  topolvmPrerequisitesMissing,
  type ChartTopolvm,
  type LocalCluster,
} from "../src/index.js";
import type { Manifest } from "../src/topolvm-manifests.js";

const gib = 1024 ** 3;
const missing = [
  ...clusterPrerequisitesMissing(),
  ...topolvmPrerequisitesMissing(),
  ...missingBinaries(["helm"]).map((name) => `${name} (run tools/ensure-deps)`),
];

describe("the rewrites of the chart's containers", () => {
  const mounts = [
    { mountPath: "/var/lib/kubelet/plugins/topolvm.cybozu.com/node", hostPath: "/h/n/node-1/plugin" },
    { mountPath: "/run/topolvm", hostPath: "/h/p/pod/socket-dir" },
  ];
  const allocate = (original: string): Promise<string> => Promise.resolve(`127.0.0.1:${String(40_000 + Number(original.split(":").pop()))}`);
  const ignore = (): void => undefined;

  it("maps a path under a mountPath (also behind unix://) and leaves others and look-alike prefixes alone", () => {
    expect(rewritePath("/run/topolvm/lvmd.sock", mounts)).toBe("/h/p/pod/socket-dir/lvmd.sock");
    expect(rewritePath("unix:///run/topolvm/csi.sock", mounts)).toBe("unix:///h/p/pod/socket-dir/csi.sock");
    expect(rewritePath("/run/topolvm", mounts)).toBe("/h/p/pod/socket-dir");
    expect(rewritePath("/run/topolvmx/a", mounts)).toBeUndefined();
    expect(rewritePath("info", mounts)).toBeUndefined();
  });

  it("expands $(VAR) as kubelet does: defined names only, $$ is a literal $", () => {
    const env = new Map([["NODE_NAME", "node-1"]]);
    expect(expandVariables("--nodename=$(NODE_NAME)", env)).toBe("--nodename=node-1");
    expect(expandVariables("$(UNSET) $$(NODE_NAME)", env)).toBe("$(UNSET) $(NODE_NAME)");
  });

  it("moves listeners to free loopback ports, maps paths, and passes a relied-on default listener or path as its flag", async () => {
    const done = await rewriteArgs(
      "topolvm-node",
      ["--csi-socket=/var/lib/kubelet/plugins/topolvm.cybozu.com/node/csi-topolvm.sock", "--health-addr", ":8081", "--log-level=info"],
      new Map(),
      mounts,
      allocate,
      ignore,
    );
    expect(done.args).toEqual([
      "--csi-socket=/h/n/node-1/plugin/csi-topolvm.sock",
      "--health-addr",
      "127.0.0.1:48081",
      "--log-level=info",
      "--lvmd-socket=/h/p/pod/socket-dir/lvmd.sock",
      "--metrics-addr=127.0.0.1:48080",
    ]);
    expect(done.listens.get("--health-addr")).toBe("127.0.0.1:48081");
  });

  it("rewrites a mounted YAML file's paths and listen address, and no other file", async () => {
    const lvmd = await rewriteConfigFile("lvmd.yaml", "socket-name: /run/topolvm/lvmd.sock\nlvm-command-prefix: [lvm]\n", mounts, allocate, ignore);
    expect(lvmd.text).toContain("socket-name: /h/p/pod/socket-dir/lvmd.sock");
    const options = await rewriteConfigFile("scheduler-options.yaml", 'listen: "localhost:9251"\ndefault-divisor: 1\n', mounts, allocate, ignore);
    expect(options.listen).toBe("127.0.0.1:49251");
    expect((await rewriteConfigFile("tls.crt", "/run/topolvm/x", mounts, allocate, ignore)).text).toBe("/run/topolvm/x");
  });

  it("places DaemonSet pods by nodeSelector and required node affinity, and routes a Service by its targetPort name", () => {
    const controlPlane = { name: "node-1", labels: { "kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/control-plane": "" } };
    const worker = { name: "node-2", labels: { "kubernetes.io/hostname": "node-2" } };
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists" }] }],
        },
      },
    };
    // Rendered objects are plain JSON, not the client library's class instances.
    const spec = (value: object): V1PodSpec => value as V1PodSpec;
    expect(nodeMatches(spec({ containers: [], affinity }), controlPlane)).toBe(true);
    expect(nodeMatches(spec({ containers: [], affinity }), worker)).toBe(false);
    expect(nodeMatches(spec({ containers: [], nodeSelector: { "kubernetes.io/hostname": "node-2" } }), worker)).toBe(true);
    const container = { name: "topolvm-webhook", ports: [{ name: "webhook", containerPort: 9443 }] };
    const pods = chartPods(
      [
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "topolvm-controller", namespace: "topolvm-system" },
          spec: { template: { metadata: { labels: { app: "controller" } }, spec: { containers: [container] } } },
        },
      ],
      [controlPlane, worker],
      "topolvm-system",
    );
    expect(pods.map((pod) => pod.name)).toEqual(["topolvm-controller-node-1"]);
    const service = JSON.parse(
      JSON.stringify({
        metadata: { name: "controller", namespace: "topolvm-system" },
        spec: { selector: { app: "controller" }, ports: [{ port: 443, targetPort: "webhook" }] },
      }),
    ) as V1Service;
    const ports = new Map([[9443, "127.0.0.1:40443"]]);
    expect(serviceAddress(service, 443, pods.map((pod) => ({ pod, ports })))).toBe("127.0.0.1:40443");
    expect(() => serviceAddress(service, 8443, pods.map((pod) => ({ pod, ports })))).toThrow("has no port 8443");
  });
});

describe.skipIf(missing.length > 0 && process.env.CI !== "true")("TopoLVM started from the chart's rendered objects", () => {
  const namespace = "chart-e2e";
  let cluster: LocalCluster | undefined;
  let topolvm: ChartTopolvm | undefined;
  let caBundle = "";
  let webhookSecret: Manifest | undefined;

  const env = (): { cluster: LocalCluster; topolvm: ChartTopolvm } => {
    if (cluster === undefined || topolvm === undefined) {
      throw new Error(`TopoLVM did not start from the chart (${missing.join("; ") || "see beforeAll"})`);
    }
    return { cluster, topolvm };
  };

  /** Starts TopoLVM from the chart with these scheduler values (the rest is the test's fixed values). */
  const install = async (started: LocalCluster, scheduler: Record<string, unknown>): Promise<ChartTopolvm> => {
    const begun = Date.now();
    const installed = await startTopolvmFromChart(started, {
      values: {
        lvmd: perNodeLvmdValues(await started.nodes()),
        webhook: { certManager: { enabled: false }, caBundle },
        scheduler: { enabled: true, ...scheduler },
      },
      extraObjects: webhookSecret === undefined ? [] : [webhookSecret],
      readyTimeoutMs: 180_000,
    });
    console.log(
      `TopoLVM from the chart (scheduler ${JSON.stringify(scheduler)}) ready in ${String(Date.now() - begun)} ms\n` +
        `rewrites:\n  ${installed.rewrites.join("\n  ")}\nnot run:\n  ${installed.skipped.join("\n  ")}`,
    );
    return installed;
  };

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`cannot run TopoLVM from the chart here, missing: ${missing.join("; ")}`);
    }
    cluster = await startCluster({
      nodes: [
        // The control-plane node, where the chart's extender DaemonSet runs; too small for the claims below.
        { name: "node-1", vgSizeBytes: 3 * gib, labels: { "node-role.kubernetes.io/control-plane": "" } },
        { name: "node-2" },
      ],
    });
    const certificate = await chartWebhookCertificate(cluster);
    caBundle = certificate.caBundle;
    webhookSecret = certificate.secret;
    topolvm = await install(cluster, { type: "daemonset" });
    await KubernetesObjectApi.makeApiClient(cluster.kubeConfig).create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    await eventually("the default ServiceAccount of the test namespace", async () =>
      (await core.listNamespacedServiceAccount({ namespace })).items.find((account) => account.metadata?.name === "default"),
    );
  }, 900_000);

  afterAll(async () => {
    try {
      await topolvm?.stop();
    } finally {
      await cluster?.stop();
    }
  }, 300_000);

  /** A 4 GiB PVC and a pod using it: the extender must place the pod on node-2, the LV appears there, grows to 5 GiB with the claim and goes with it. */
  const provisionAndRemove = async (name: string): Promise<void> => {
    const { cluster, topolvm } = env();
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    const describe = async (): Promise<string> => {
      const events = await core.listNamespacedEvent({ namespace });
      return `${events.items.map((event) => `${event.involvedObject.name ?? ""} ${event.reason ?? ""}: ${event.message ?? ""}`).join("\n")}\n${await topolvm.logTails(20)}`;
    };
    const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> => {
      try {
        return await eventually(what, probe, timeoutMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${await describe()}`, { cause: error });
      }
    };
    const predicateCalls = async (): Promise<number> => {
      const metrics = await (await fetch(`${topolvm.extenderUrl ?? ""}/metrics`)).text();
      return metrics
        .split("\n")
        .filter((line) => line.startsWith("topolvm_scheduler_requests_total{") && line.includes('verb="predicate"'))
        .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
    };
    const callsBefore = await predicateCalls();
    const started = Date.now();
    await objects.create({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { namespace, name },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "topolvm-provisioner", resources: { requests: { storage: "4Gi" } } },
    });
    // Never started (there is no kubelet): scheduled and bound only.
    await objects.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace, name },
      spec: {
        containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: name } }],
      },
    });
    // The chart's pod hook added the capacity request the extender filters by.
    const pod = await core.readNamespacedPod({ namespace, name });
    expect(pod.metadata?.annotations?.[capacityAnnotationPrefix + defaultDeviceClassKey]).toBe(String(4 * gib));
    const nodeName = await waitFor("the pod to be scheduled", async () => (await core.readNamespacedPod({ namespace, name })).spec?.nodeName);
    // node-1's 3 GiB volume group cannot hold 4 GiB: only the extender knows.
    expect(nodeName).toBe("node-2");
    expect(await predicateCalls()).toBeGreaterThan(callsBefore);
    const claim = await waitFor("the PVC to be Bound", async () => {
      const current = await core.readNamespacedPersistentVolumeClaim({ namespace, name });
      return current.status?.phase === "Bound" ? current : undefined;
    });
    console.log(`4 GiB PVC ${name} Bound on ${nodeName} in ${String(Date.now() - started)} ms`);
    const volumeName = claim.spec?.volumeName ?? "";
    const volume = await core.readPersistentVolume({ name: volumeName });
    expect(volume.spec?.csi?.driver).toBe("topolvm.cybozu.com");
    const lvName = volume.spec?.csi?.volumeHandle;
    expect((await topolvm.lvs("node-2")).find((entry) => entry.name === lvName)).toMatchObject({ volumeGroup: "node-2-ssd", sizeBytes: 4 * gib });

    // csi-resizer with the chart's flags: the grown claim grows the LV and the PV.
    await objects.patch(
      { apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { namespace, name }, spec: { resources: { requests: { storage: "5Gi" } } } },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    await waitFor("the LV to grow to 5 GiB", async () =>
      (await topolvm.lvs("node-2")).find((entry) => entry.name === lvName)?.sizeBytes === 5 * gib ? true : undefined,
    );
    await waitFor("the PV to grow to 5Gi", async () =>
      (await core.readPersistentVolume({ name: volumeName })).spec?.capacity?.storage === "5Gi" ? true : undefined,
    );

    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
    await core.deleteNamespacedPersistentVolumeClaim({ namespace, name });
    await waitFor("the LV to be removed", async () =>
      (await topolvm.lvs("node-2")).some((entry) => entry.name === lvName) ? undefined : true,
    );
    await waitFor("the PV to be deleted", async () =>
      (await core.listPersistentVolume()).items.some((item) => item.metadata?.name === volumeName) ? undefined : true,
    );
  };

  it("runs every TopoLVM container and CSI sidecar of the chart's pods, on the nodes their selectors pick", () => {
    const { topolvm } = env();
    expect(topolvm.pods.map((pod) => pod.name).sort()).toEqual(
      [
        "topolvm-controller-node-1",
        "topolvm-lvmd-node-1",
        "topolvm-lvmd-node-2-node-2",
        "topolvm-node-node-1",
        "topolvm-node-node-2",
        // Only on the control-plane node.
        "topolvm-scheduler-node-1",
      ].sort(),
    );
    expect(topolvm.processes.map((entry) => entry.process.name).sort()).toEqual(
      [
        "csi-provisioner",
        "csi-resizer",
        "lvmd-node-1",
        "lvmd-node-2",
        "topolvm-controller",
        "topolvm-node-node-1",
        "topolvm-node-node-2",
        "topolvm-scheduler-node-1",
        "topolvm-webhook",
      ].sort(),
    );
    expect(topolvm.processes.every((entry) => entry.process.running())).toBe(true);
    // kubelet's own sidecars have no binary here.
    expect(topolvm.skipped.map((line) => line.split(" ")[0])).toEqual(
      expect.arrayContaining(["topolvm-controller-node-1/liveness-probe", "topolvm-node-node-1/csi-registrar", "topolvm-node-node-2/liveness-probe"]),
    );
  });

  it("provisions a PVC for a pod the extender (DaemonSet, host network) places, with the LV in that node's volume group, grows it, and removes the LV with the PVC", async () => {
    await provisionAndRemove("daemonset-extender");
  });

  it("does the same with the extender as a Deployment behind its Service, keeping a node cache as its ServiceAccount", async () => {
    const { cluster } = env();
    await topolvm?.stop();
    topolvm = undefined;
    topolvm = await install(cluster, { type: "deployment", nodeCache: { enabled: true } });
    // (c): --in-cluster became a kubeconfig of the pod's ServiceAccount.
    const schedulerArgv = topolvm.process("topolvm-scheduler").argv;
    expect(schedulerArgv).not.toContain("--in-cluster");
    expect(schedulerArgv.some((arg) => /^--kubeconfig=.*\/topolvm-scheduler\.kubeconfig$/.test(arg))).toBe(true);
    await provisionAndRemove("deployment-extender");
  });

  // Last: it reads what every process logged in both installs (a refused request is often only logged and retried).
  it("runs no process the API server refuses a request of (the chart's RBAC covers what each component does)", async () => {
    const { topolvm } = env();
    const refused = await Promise.all(
      topolvm.processes.map(async ({ process: handle }) =>
        (await handle.log())
          .split("\n")
          .filter((line) => /forbidden/i.test(line))
          .slice(0, 2)
          .map((line) => `${handle.name}: ${line.slice(0, 400)}`),
      ),
    );
    expect(refused.flat()).toEqual([]);
  });

  it("refuses Storage Capacity Tracking, whose csi-provisioner looks up a Pod that does not exist without kubelet", async () => {
    const { cluster } = env();
    await expect(
      startTopolvmFromChart(cluster, {
        values: {
          lvmd: perNodeLvmdValues(await cluster.nodes()),
          webhook: { certManager: { enabled: false }, caBundle },
          scheduler: { enabled: false },
          controller: { storageCapacityTracking: { enabled: true } },
        },
      }),
    ).rejects.toThrow("--capacity-ownerref-level=2");
  });
});
