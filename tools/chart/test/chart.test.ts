// charts/topolvm as operators meet it: helm lint and helm template of every value combination, what each renders,
// the schema's messages, a server-side dry-run of every rendered set against a real kube-apiserver, and a helm
// install / upgrade / uninstall on the local cluster.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { eventually } from "../../eventually.js";
import { missingBinaries } from "../../cluster/src/binaries.js";
import { startCluster, type LocalCluster } from "../../cluster/src/index.js";
import { chartCombinations, mergeValues, type ChartCombination } from "../src/combinations.js";
import { certManagerCrdFiles, certManagerCrdsMissing, logicalVolumeCrdFile } from "../src/crds.js";
import {
  chartDir,
  helm,
  HelmError,
  lintChart,
  releaseName,
  releaseNamespace,
  renderChart,
  withValuesFile,
  type ChartValues,
  type RenderedObject,
} from "../src/helm.js";
import { kubectl } from "../src/kubectl.js";
import { repoRoot } from "../src/deploy-manifests.js";
import { createWebhookCertificate } from "../src/webhook-certificate.js";

const underCi = process.env.CI === "true";
const helmMissing = missingBinaries(["helm"]).map((name) => `${name} (run tools/ensure-deps)`);
const clusterMissing = [
  ...missingBinaries(["helm", "etcd", "kube-apiserver", "kubectl"]).map((name) => `${name} (run tools/ensure-deps)`),
  ...(certManagerCrdsMissing() ? ["cert-manager CRDs (run tools/ensure-deps)"] : []),
];

/** Whether a suite is skipped for what is missing: only outside CI. */
function skipped(missing: readonly string[]): boolean {
  return missing.length > 0 && !underCi;
}

/** A suite's title, with the reason when it is skipped. */
function titled(title: string, missing: readonly string[]): string {
  return skipped(missing) ? `${title} (skipped, missing: ${missing.join(", ")})` : title;
}

/** Fails under CI=true, so that a machine missing a prerequisite never passes by skipping. */
function requirePrerequisites(missing: readonly string[]): void {
  if (missing.length > 0) {
    throw new Error(`missing: ${missing.join(", ")}`);
  }
}

// The combinations by name; their manual-certificate values get a real CA in beforeAll.
const combinationNames = chartCombinations("").map(({ name }) => name);

const clusterScopedKinds = new Set([
  "CustomResourceDefinition",
  "ClusterRole",
  "ClusterRoleBinding",
  "CSIDriver",
  "StorageClass",
  "PriorityClass",
  "MutatingWebhookConfiguration",
  "ValidatingWebhookConfiguration",
  "ClusterIssuer",
  "Namespace",
]);

function key(object: RenderedObject): string {
  return `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

function find(objects: readonly RenderedObject[], kind: string, name: string): RenderedObject | undefined {
  return objects.find((object) => object.kind === kind && object.metadata.name === name);
}

function get(objects: readonly RenderedObject[], kind: string, name: string): RenderedObject {
  const object = find(objects, kind, name);
  if (object === undefined) {
    throw new Error(`no ${kind} ${name} rendered; rendered: ${objects.map(key).join(", ")}`);
  }
  return object;
}

/** The minimal shapes of the workload fields the assertions read. */
interface Container {
  name: string;
  image: string;
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; mountPropagation?: string }[];
  securityContext?: { privileged?: boolean; runAsNonRoot?: boolean };
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  containers: Container[];
  tolerations?: { key?: string; operator?: string; effect?: string }[];
  affinity?: { nodeAffinity?: unknown; podAntiAffinity?: unknown };
  volumes?: { name: string; secret?: { secretName: string }; hostPath?: { path: string }; configMap?: { name: string } }[];
}
interface Workload {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Webhook {
  name: string;
  failurePolicy: string;
  clientConfig: { service?: { name: string; namespace: string; port?: number }; caBundle?: string };
  namespaceSelector?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] };
}

function podSpec(object: RenderedObject): PodSpec {
  return (object as unknown as Workload).spec.template.spec;
}

function container(object: RenderedObject, name: string): Container {
  const found = podSpec(object).containers.find((entry) => entry.name === name);
  if (found === undefined) {
    throw new Error(`${key(object)} has no container ${name}`);
  }
  return found;
}

function webhooks(objects: readonly RenderedObject[]): Webhook[] {
  return (get(objects, "MutatingWebhookConfiguration", "topolvm-hook") as unknown as { webhooks: Webhook[] }).webhooks;
}

/** All YAML documents of a file, as objects. */
async function readObjects(file: string): Promise<RenderedObject[]> {
  return parseAllDocuments(await readFile(file, "utf8"))
    .map((document) => document.toJS() as RenderedObject | null)
    .filter((object): object is RenderedObject => object !== null);
}

/** The first entry of storageClasses in the chart's values.yaml. */
async function defaultStorageClass(): Promise<{ name: string; storageClass: Record<string, unknown> }> {
  const values = parse(await readFile(join(chartDir, "values.yaml"), "utf8")) as {
    storageClasses: { name: string; storageClass: Record<string, unknown> }[];
  };
  const [first] = values.storageClasses;
  if (first === undefined) {
    throw new Error("values.yaml has no storageClasses");
  }
  return first;
}

describe.skipIf(skipped(helmMissing))(titled("charts/topolvm with helm", helmMissing), () => {
  let certDir: string;
  let caBundle: string;
  const combinations = new Map<string, ChartCombination>();
  const rendered = new Map<string, RenderedObject[]>();

  function combination(name: string): { combination: ChartCombination; objects: RenderedObject[] } {
    const found = combinations.get(name);
    const objects = rendered.get(name);
    if (found === undefined || objects === undefined) {
      throw new Error(`${name} was not rendered`);
    }
    return { combination: found, objects };
  }

  beforeAll(async () => {
    requirePrerequisites(helmMissing);
    certDir = await mkdtemp(join(tmpdir(), "topolvm-chart-cert-"));
    caBundle = (await createWebhookCertificate(certDir)).caBundle;
    for (const entry of chartCombinations(caBundle)) {
      combinations.set(entry.name, entry);
    }
    // Two helm processes at a time: the machine has two cores.
    const queue = [...combinations.values()];
    await Promise.all(
      [0, 1].map(async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
          rendered.set(next.name, await renderChart(next.values));
        }
      }),
    );
  });

  afterAll(async () => {
    await rm(certDir, { recursive: true, force: true });
  });

  describe("helm lint --strict", () => {
    it("passes with the default values", async () => {
      await expect(lintChart()).resolves.toContain("0 chart(s) failed");
    });

    it.each(combinationNames)("passes with %s", async (name) => {
      const report = await lintChart(combination(name).combination.values);
      expect(report).toContain("0 chart(s) failed");
      expect(report).not.toMatch(/\[(WARNING|ERROR)\]/);
    });
  });

  describe("helm template of every combination", () => {
    it("renders the default values: extender DaemonSet, cert-manager, managed lvmd", async () => {
      const objects = await renderChart();
      const defaults = combination("daemonset scheduler, cert-manager, managed lvmd").objects;
      expect(objects.map(key).sort()).toEqual(defaults.map(key).sort());
    });

    it.each(combinationNames)("%s: v1 APIs only, namespaced objects in topolvm-system, no duplicates", (name) => {
      const { objects } = combination(name);
      expect(objects.length).toBeGreaterThan(10);
      for (const object of objects) {
        // v1, apps/v1, storage.k8s.io/v1, cert-manager.io/v1, ...: no alpha or beta API.
        expect(object.apiVersion, key(object)).toMatch(/(^|\/)v\d+$/);
        if (clusterScopedKinds.has(object.kind)) {
          expect(object.metadata.namespace, key(object)).toBeUndefined();
        } else {
          expect(object.metadata.namespace, key(object)).toBe(releaseNamespace);
        }
        if (object.kind !== "CustomResourceDefinition") {
          expect(object.metadata.labels?.["app.kubernetes.io/instance"], key(object)).toBe(releaseName);
        }
      }
      expect(new Set(objects.map(key)).size).toBe(objects.length);
    });

    it.each(combinationNames)("%s: the CRD, CSIDriver, StorageClass, controller, webhook Service and node DaemonSet", (name) => {
      const { combination: chosen, objects } = combination(name);
      const tracking = chosen.scheduler === "capacity-tracking";
      expect(objects[0]?.kind).toBe("CustomResourceDefinition");
      expect(get(objects, "CustomResourceDefinition", "logicalvolumes.topolvm.cybozu.com")).toBeDefined();

      expect(get(objects, "CSIDriver", "topolvm.cybozu.com")).toMatchObject({
        apiVersion: "storage.k8s.io/v1",
        spec: { attachRequired: false, podInfoOnMount: true, storageCapacity: tracking },
      });
      expect(get(objects, "StorageClass", "topolvm-provisioner")).toMatchObject({
        provisioner: "topolvm.cybozu.com",
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
        reclaimPolicy: "Delete",
        parameters: { "csi.storage.k8s.io/fstype": "xfs" },
      });

      const controller = get(objects, "Deployment", "topolvm-controller");
      expect((controller as unknown as Workload).spec.replicas).toBe(2);
      expect(podSpec(controller).containers.map(({ name: containerName }) => containerName).sort()).toEqual(
        ["csi-provisioner", "csi-resizer", "liveness-probe", "topolvm-controller", "topolvm-webhook"],
      );
      expect(podSpec(controller).affinity?.podAntiAffinity).toBeDefined();
      expect(container(controller, "topolvm-controller").args).toContain("--leader-election=true");
      const provisionerArgs = container(controller, "csi-provisioner").args ?? [];
      expect(provisionerArgs.includes("--enable-capacity")).toBe(tracking);
      // The webhook serves the Secret of webhook.secretName on either certificate path.
      expect(podSpec(controller).volumes).toContainEqual(expect.objectContaining({ secret: { secretName: "mutatingwebhook" } }));
      expect(get(objects, "PodDisruptionBudget", "topolvm-controller")).toMatchObject({ apiVersion: "policy/v1" });
      for (const account of ["topolvm-controller", "topolvm-node"]) {
        expect(get(objects, "ServiceAccount", account)).toBeDefined();
      }

      const service = get(objects, "Service", "controller") as unknown as {
        spec: { selector: Record<string, string>; ports: { port: number }[] };
      };
      expect(service.spec.ports.map(({ port }) => port)).toEqual([443]);
      expect((controller as unknown as Workload).spec.template.metadata.labels).toMatchObject(service.spec.selector);

      const node = get(objects, "DaemonSet", "topolvm-node");
      const topolvmNode = container(node, "topolvm-node");
      expect(topolvmNode.securityContext?.privileged).toBe(true);
      expect(topolvmNode.volumeMounts?.filter((mount) => mount.mountPropagation === "Bidirectional").length).toBeGreaterThan(0);
      const hostPaths = (podSpec(node).volumes ?? []).flatMap((volume) => (volume.hostPath === undefined ? [] : [volume.hostPath.path]));
      expect(hostPaths).toEqual(expect.arrayContaining(["/dev", "/run/topolvm", "/var/lib/kubelet/pods"]));
      expect(get(objects, "PriorityClass", "topolvm")).toMatchObject({ apiVersion: "scheduling.k8s.io/v1" });
    });

    it.each(combinationNames)("%s: the MutatingWebhookConfiguration topolvm-hook", (name) => {
      const { combination: chosen, objects } = combination(name);
      const hooks = webhooks(objects);
      // The pod hook feeds the extender; with capacity tracking nothing reads what it adds.
      expect(hooks.map(({ name: hook }) => hook)).toEqual(
        chosen.scheduler === "capacity-tracking"
          ? ["pvc-hook.topolvm.cybozu.com"]
          : ["pod-hook.topolvm.cybozu.com", "pvc-hook.topolvm.cybozu.com"],
      );
      for (const hook of hooks) {
        expect(hook.clientConfig.service).toMatchObject({ name: "controller", namespace: releaseNamespace });
        expect(hook.namespaceSelector?.matchExpressions).toContainEqual({
          key: "topolvm.cybozu.com/webhook",
          operator: "NotIn",
          values: ["ignore"],
        });
        expect(hook.failurePolicy).toBe(hook.name.startsWith("pod-") ? "Fail" : "Ignore");
      }
    });

    it.each(combinationNames)("%s: the certificate path", (name) => {
      const { combination: chosen, objects } = combination(name);
      const configuration = get(objects, "MutatingWebhookConfiguration", "topolvm-hook");
      const certManagerObjects = objects.filter((object) => object.apiVersion.startsWith("cert-manager.io/"));
      if (chosen.certificate === "cert-manager") {
        const certificate = get(objects, "Certificate", "topolvm-mutatingwebhook") as unknown as RenderedObject & {
          spec: { secretName: string; dnsNames: string[]; issuerRef: { kind: string; name: string } };
        };
        expect(certificate.spec.secretName).toBe("mutatingwebhook");
        expect(certificate.spec.dnsNames).toContain(`controller.${releaseNamespace}.svc`);
        // Its issuer is one the chart renders (no existingIssuer given), and so is that issuer's CA.
        expect(get(objects, certificate.spec.issuerRef.kind, certificate.spec.issuerRef.name)).toBeDefined();
        expect(certManagerObjects.map((object) => object.kind).sort()).toEqual(["Certificate", "Certificate", "Issuer", "Issuer"]);
        expect(configuration.metadata.annotations?.["cert-manager.io/inject-ca-from"]).toBe(
          `${releaseNamespace}/topolvm-mutatingwebhook`,
        );
        for (const hook of webhooks(objects)) {
          expect(hook.clientConfig.caBundle).toBeUndefined();
        }
      } else {
        expect(certManagerObjects).toEqual([]);
        expect(configuration.metadata.annotations?.["cert-manager.io/inject-ca-from"]).toBeUndefined();
        for (const hook of webhooks(objects)) {
          expect(hook.clientConfig.caBundle).toBe(caBundle);
        }
      }
    });

    it.each(combinationNames)("%s: the scheduler topology", (name) => {
      const { combination: chosen, objects } = combination(name);
      const schedulerObjects = objects.filter((object) => object.metadata.name.includes("scheduler"));
      if (chosen.scheduler === "capacity-tracking") {
        expect(schedulerObjects.map(key)).toEqual([]);
        return;
      }
      const options = parse(
        (get(objects, "ConfigMap", "topolvm-scheduler-options") as unknown as { data: Record<string, string> }).data[
          "scheduler-options.yaml"
        ] ?? "",
      ) as { listen: string; "default-divisor": number };
      expect(options["default-divisor"]).toBe(1);
      expect(get(objects, "ServiceAccount", "topolvm-scheduler")).toBeDefined();
      if (chosen.scheduler === "daemonset") {
        const daemonSet = get(objects, "DaemonSet", "topolvm-scheduler");
        const spec = podSpec(daemonSet);
        expect(spec.hostNetwork).toBe(true);
        expect(spec.tolerations).toContainEqual({ key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" });
        expect(JSON.stringify(spec.affinity?.nodeAffinity)).toContain("node-role.kubernetes.io/control-plane");
        // kube-scheduler on the same host calls http://127.0.0.1:9251.
        expect(options.listen).toMatch(/^(localhost|127\.0\.0\.1):9251$/);
        expect(find(objects, "Deployment", "topolvm-scheduler")).toBeUndefined();
        expect(find(objects, "Service", "topolvm-scheduler")).toBeUndefined();
      } else {
        const deployment = get(objects, "Deployment", "topolvm-scheduler");
        expect((deployment as unknown as Workload).spec.replicas).toBe(2);
        expect(podSpec(deployment).hostNetwork).toBeUndefined();
        const service = get(objects, "Service", "topolvm-scheduler") as unknown as {
          spec: { type: string; selector: Record<string, string>; ports: { port: number; targetPort: unknown }[] };
        };
        expect(service.spec.type).toBe("ClusterIP");
        expect(service.spec.ports.map(({ port }) => port)).toEqual([9251]);
        expect((deployment as unknown as Workload).spec.template.metadata.labels).toMatchObject(service.spec.selector);
        // Behind a Service the extender is reached on the pod's address, so it must not listen on loopback only.
        expect(options.listen).not.toMatch(/^(localhost|127\.0\.0\.1):/);
        expect(get(objects, "PodDisruptionBudget", "topolvm-scheduler")).toMatchObject({ apiVersion: "policy/v1" });
        expect(find(objects, "DaemonSet", "topolvm-scheduler")).toBeUndefined();
      }
    });

    it.each(combinationNames)("%s: lvmd", (name) => {
      const { combination: chosen, objects } = combination(name);
      const lvmdObjects = objects.filter((object) => object.metadata.name.startsWith("topolvm-lvmd"));
      if (!chosen.lvmdManaged) {
        // lvmd runs as a systemd service (deploy/systemd): nothing of the chart's lvmd, topolvm-node dials its socket.
        expect(lvmdObjects.map(key)).toEqual([]);
        return;
      }
      const daemonSet = get(objects, "DaemonSet", "topolvm-lvmd");
      expect(podSpec(daemonSet).hostPID).toBe(true);
      const configMap = get(objects, "ConfigMap", "topolvm-lvmd") as unknown as { data: Record<string, string> };
      const config = parse(configMap.data["lvmd.yaml"] ?? "") as Record<string, unknown>;
      expect(config).toMatchObject({
        "socket-name": "/run/topolvm/lvmd.sock",
        "device-classes": [{ name: "ssd", "volume-group": "myvg1", default: true, "spare-gb": 10 }],
      });
      expect(podSpec(daemonSet).volumes).toContainEqual(expect.objectContaining({ configMap: { name: "topolvm-lvmd" } }));
    });
  });

  describe("other values", () => {
    it("renders for Kubernetes 1.35, 1.36 and 1.37 and refuses 1.34", async () => {
      for (const kubeVersion of ["1.35.0", "1.36.0", "1.37.0"]) {
        await expect(renderChart({}, { kubeVersion })).resolves.not.toHaveLength(0);
      }
      const refused: unknown = await renderChart({}, { kubeVersion: "1.34.9" }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(HelmError);
      expect((refused as HelmError).stderr).toMatch(/kubeVersion/);
    });

    it("renders one more lvmd DaemonSet and ConfigMap per lvmd.additionalConfigs entry", async () => {
      const hdd = [{ name: "hdd", "volume-group": "hddvg", default: true, "spare-gb": 0 }];
      const objects = await renderChart({
        lvmd: { additionalConfigs: [{ name: "hdd-nodes", nodeSelector: { disk: "hdd" }, deviceClasses: hdd }] },
      });
      const daemonSet = get(objects, "DaemonSet", "topolvm-lvmd-hdd-nodes");
      expect((daemonSet as unknown as { spec: { template: { spec: { nodeSelector?: unknown } } } }).spec.template.spec.nodeSelector).toEqual({ disk: "hdd" });
      expect(podSpec(daemonSet).volumes).toContainEqual(expect.objectContaining({ configMap: { name: "topolvm-lvmd-hdd-nodes" } }));
      const configMap = get(objects, "ConfigMap", "topolvm-lvmd-hdd-nodes") as unknown as { data: Record<string, string> };
      expect(parse(configMap.data["lvmd.yaml"] ?? "")).toMatchObject({ "device-classes": hdd });
      // The two DaemonSets select different pods.
      const selector = (object: RenderedObject): unknown => (object as unknown as Workload).spec.selector.matchLabels;
      expect(selector(daemonSet)).not.toEqual(selector(get(objects, "DaemonSet", "topolvm-lvmd")));
    });

    it("gives the extender list/watch on Nodes and a token only with scheduler.nodeCache.enabled", async () => {
      const objects = await renderChart({ scheduler: { nodeCache: { enabled: true } } });
      const role = get(objects, "ClusterRole", "topolvm-system:scheduler") as unknown as { rules: unknown[] };
      expect(role.rules).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch"] }]);
      expect(get(objects, "ClusterRoleBinding", "topolvm-system:scheduler")).toBeDefined();
      const daemonSet = get(objects, "DaemonSet", "topolvm-scheduler");
      expect(container(daemonSet, "topolvm-scheduler").args).toContain("--in-cluster");
      const without = combination("daemonset scheduler, cert-manager, managed lvmd").objects;
      expect(find(without, "ClusterRole", "topolvm-system:scheduler")).toBeUndefined();
      expect(container(get(without, "DaemonSet", "topolvm-scheduler"), "topolvm-scheduler").args).not.toContain("--in-cluster");
    });

    it("points each Service at a named port of its pods and skips kube-system and its own namespace", () => {
      const { objects } = combination("deployment scheduler, manual, systemd lvmd");
      for (const [serviceName, workload] of [
        ["controller", get(objects, "Deployment", "topolvm-controller")],
        ["topolvm-scheduler", get(objects, "Deployment", "topolvm-scheduler")],
      ] as const) {
        const service = get(objects, "Service", serviceName) as unknown as { spec: { ports: { targetPort: unknown }[] } };
        const portNames = podSpec(workload).containers.flatMap(
          (entry) => (entry as Container & { ports?: { name?: string }[] }).ports?.map(({ name: port }) => port) ?? [],
        );
        for (const { targetPort } of service.spec.ports) {
          expect(portNames, serviceName).toContain(targetPort);
        }
      }
      for (const hook of webhooks(objects)) {
        expect(hook.namespaceSelector?.matchExpressions).toContainEqual({
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: ["kube-system", releaseNamespace],
        });
      }
    });
  });

  describe("StorageClasses", () => {
    it("renders one per entry, with the parameters each gives", async () => {
      const defaultClass = await defaultStorageClass();
      const objects = await renderChart({
        storageClasses: [
          defaultClass,
          {
            name: "topolvm-hdd",
            storageClass: {
              ...defaultClass.storageClass,
              fsType: "ext4",
              deviceClass: "hdd",
              lvcreateOptionClass: "raid1",
              reclaimPolicy: "Retain",
              isDefaultClass: true,
              mountOptions: ["noatime"],
            },
          },
        ],
      });
      expect(objects.filter((object) => object.kind === "StorageClass").map((object) => object.metadata.name)).toEqual([
        "topolvm-provisioner",
        "topolvm-hdd",
      ]);
      expect(get(objects, "StorageClass", "topolvm-hdd")).toMatchObject({
        metadata: { annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
        parameters: {
          "csi.storage.k8s.io/fstype": "ext4",
          "topolvm.cybozu.com/device-class": "hdd",
          "topolvm.cybozu.com/lvcreate-option-class": "raid1",
        },
        reclaimPolicy: "Retain",
        volumeBindingMode: "WaitForFirstConsumer",
        mountOptions: ["noatime"],
      });
    });

    // An entry of storageClasses replaces the documented default entry as a whole, so what it leaves out must come
    // from the chart: an empty volumeBindingMode would let the API server default it to Immediate, which makes the
    // volume before the pod is placed.
    it("fills what an entry leaves out with the documented defaults", async () => {
      const objects = await renderChart({ storageClasses: [{ name: "topolvm-minimal", storageClass: {} }] });
      expect(get(objects, "StorageClass", "topolvm-minimal")).toMatchObject({
        parameters: { "csi.storage.k8s.io/fstype": "xfs" },
        volumeBindingMode: "WaitForFirstConsumer",
        allowVolumeExpansion: true,
        reclaimPolicy: "Delete",
      });
    });
  });

  describe("snapshots", () => {
    it("renders no snapshotter, RBAC or VolumeSnapshotClass by default", async () => {
      const objects = await renderChart({ snapshot: { volumeSnapshotClasses: [{ name: "topolvm-snapshot" }] } });
      expect(podSpec(get(objects, "Deployment", "topolvm-controller")).containers.map(({ name }) => name)).not.toContain("csi-snapshotter");
      expect(find(objects, "ClusterRole", "topolvm-system:csi-snapshotter")).toBeUndefined();
      expect(objects.filter((object) => object.kind === "VolumeSnapshotClass")).toEqual([]);
    });

    it("with snapshot.enabled runs csi-snapshotter on the controller socket, binds its ClusterRole and renders the VolumeSnapshotClasses", async () => {
      const objects = await renderChart({
        snapshot: {
          enabled: true,
          volumeSnapshotClasses: [{ name: "topolvm-snapshot", isDefaultClass: true }, { name: "topolvm-retain", deletionPolicy: "Retain", annotations: { team: "db" } }],
        },
      });
      const controller = get(objects, "Deployment", "topolvm-controller");
      const snapshotter = container(controller, "csi-snapshotter");
      expect(snapshotter.image).toBe("registry.k8s.io/sig-storage/csi-snapshotter:v8.7.0");
      expect(snapshotter.args).toEqual(expect.arrayContaining(["--csi-address=/run/topolvm/csi-topolvm.sock", "--leader-election", "--leader-election-namespace=topolvm-system"]));
      const role = get(objects, "ClusterRole", "topolvm-system:csi-snapshotter") as unknown as { rules: { resources: string[]; verbs: string[] }[] };
      expect(role.rules).toContainEqual({ apiGroups: ["snapshot.storage.k8s.io"], resources: ["volumesnapshotcontents/status"], verbs: ["update", "patch"] });
      expect(get(objects, "ClusterRoleBinding", "topolvm-system:csi-snapshotter")).toMatchObject({
        subjects: [{ kind: "ServiceAccount", name: "topolvm-controller", namespace: "topolvm-system" }],
      });
      expect(get(objects, "VolumeSnapshotClass", "topolvm-snapshot")).toMatchObject({
        apiVersion: "snapshot.storage.k8s.io/v1",
        driver: "topolvm.cybozu.com",
        deletionPolicy: "Delete",
        metadata: { annotations: { "snapshot.storage.kubernetes.io/is-default-class": "true" } },
      });
      expect(get(objects, "VolumeSnapshotClass", "topolvm-retain")).toMatchObject({ deletionPolicy: "Retain", metadata: { annotations: { team: "db" } } });
    });
  });

  describe("values.schema.json", () => {
    async function renderError(values: ChartValues): Promise<string> {
      const error: unknown = await renderChart(values).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(HelmError);
      return (error as HelmError).stderr;
    }

    it("rejects a misspelled top-level key, naming it", async () => {
      expect(await renderError({ controler: {} })).toMatch(/controler/);
    });

    it("rejects a misspelled nested key, naming it", async () => {
      expect(await renderError({ scheduler: { tpye: "deployment" } })).toMatch(/tpye/);
    });

    it("rejects a wrong type, naming the key", async () => {
      expect(await renderError({ controller: { replicaCount: "two" } })).toMatch(/replicaCount/);
    });

    it("rejects a scheduler type that does not exist, naming the key", async () => {
      expect(await renderError({ scheduler: { type: "sidecar" } })).toMatch(/type/);
    });

    it("rejects the manual certificate path without a caBundle", async () => {
      expect(await renderError({ webhook: { certManager: { enabled: false } } })).toMatch(/caBundle/);
    });

    it("rejects a VolumeSnapshotClass without a name or with an unknown deletionPolicy, naming the key", async () => {
      expect(await renderError({ snapshot: { volumeSnapshotClasses: [{ deletionPolicy: "Delete" }] } })).toMatch(/name/);
      expect(await renderError({ snapshot: { volumeSnapshotClasses: [{ name: "s", deletionPolicy: "Keep" }] } })).toMatch(/deletionPolicy/);
    });

    it("rejects turning off both the extender and capacity tracking", async () => {
      expect(await renderError({ scheduler: { enabled: false } })).toMatch(/scheduler\.enabled/);
    });
  });
});

describe.skipIf(skipped(clusterMissing))(titled("charts/topolvm on a real kube-apiserver", clusterMissing), () => {
  let cluster: LocalCluster | undefined;
  let objectsApi: KubernetesObjectApi;
  let certDir: string | undefined;
  let caBundle: string;

  function started(): LocalCluster {
    if (cluster === undefined) {
      throw new Error("the cluster did not start");
    }
    return cluster;
  }

  const apply = (input: string, extra: readonly string[] = []): Promise<string> =>
    kubectl(["apply", "--server-side", "--field-manager=topolvm-chart-test", ...extra, "-f", "-"], {
      input,
      kubeconfig: started().kubeconfigPath,
      timeoutMs: 300_000,
    });

  const exists = async (object: KubernetesObject): Promise<boolean> => {
    try {
      await objectsApi.read(object as Required<Pick<KubernetesObject, "apiVersion" | "kind" | "metadata">> & { metadata: { name: string } });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) {
        return false;
      }
      throw error;
    }
  };

  beforeAll(async () => {
    requirePrerequisites(clusterMissing);
    certDir = await mkdtemp(join(tmpdir(), "topolvm-chart-cert-"));
    caBundle = (await createWebhookCertificate(certDir)).caBundle;
    // No nodes and no controllers: the chart's objects only need an API server that validates them.
    cluster = await startCluster({ nodes: 0, controlPlane: "apiserver-only", timeoutMs: 300_000 });
    objectsApi = KubernetesObjectApi.makeApiClient(started().kubeConfig);
    // cert-manager's CRDs for real (the Issuers and Certificates validate against them); server-side apply, since
    // the Issuer CRDs are larger than client-side apply's last-applied annotation may be.
    const crds = await Promise.all(certManagerCrdFiles().map((file) => readFile(file, "utf8")));
    await apply(crds.join("\n---\n"));
    await kubectl(["wait", "--for=condition=Established", "--timeout=120s", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io", "crd/clusterissuers.cert-manager.io", "crd/certificaterequests.cert-manager.io"], {
      kubeconfig: started().kubeconfigPath,
      timeoutMs: 180_000,
    });
    await apply(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${releaseNamespace}\n`);
  });

  afterAll(async () => {
    await cluster?.stop();
    if (certDir !== undefined) {
      await rm(certDir, { recursive: true, force: true });
    }
  });

  it.each(combinationNames)("accepts every object of %s in a server-side dry-run", async (name) => {
    const chosen = chartCombinations(caBundle).find((entry) => entry.name === name);
    if (chosen === undefined) {
      throw new Error(`no combination ${name}`);
    }
    const objects = await renderChart(chosen.values);
    const output = await apply(objects.map((object) => stringify(object)).join("---\n"), ["--dry-run=server"]);
    const applied = output.split("\n").filter((line) => line.includes("serverside-applied (server dry run)"));
    expect(applied.length, output).toBe(objects.length);
  });

  it("accepts the optional objects and fields in a server-side dry-run", async () => {
    const defaultClass = await defaultStorageClass();
    const objects = await renderChart({
      scheduler: { type: "deployment", service: { type: "NodePort", nodePort: 30251 }, nodeCache: { enabled: true } },
      webhook: { certManager: { existingIssuer: { kind: "ClusterIssuer", name: "my-ca" } }, annotations: { team: "storage" } },
      lvmd: {
        lvcreateOptionClasses: [{ name: "raid1", options: ["--type=raid1", "-m", "1"] }],
        additionalConfigs: [{ name: "hdd-nodes", nodeSelector: { disk: "hdd" }, deviceClasses: [{ name: "hdd", "volume-group": "hddvg", default: true }] }],
      },
      controller: { storageCapacityTracking: { enabled: true }, nodeFinalize: { skipped: true } },
      storageClasses: [
        defaultClass,
        { name: "topolvm-raid1", storageClass: { ...defaultClass.storageClass, fsType: "ext4", lvcreateOptionClass: "raid1", isDefaultClass: true } },
      ],
    });
    expect(get(objects, "DaemonSet", "topolvm-lvmd-hdd-nodes")).toBeDefined();
    const output = await apply(objects.map((object) => stringify(object)).join("---\n"), ["--dry-run=server"]);
    const applied = output.split("\n").filter((line) => line.includes("serverside-applied (server dry run)"));
    expect(applied.length, output).toBe(objects.length);
  });

  it("accepts deploy/podpvc.yaml in a server-side dry-run", async () => {
    // ServiceAccount admission wants the namespace's default account, which no controller manager creates here.
    await apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: default\n");
    const example = await readFile(join(repoRoot, "deploy", "podpvc.yaml"), "utf8");
    const output = await apply(example, ["--dry-run=server"]);
    expect(output).toContain("persistentvolumeclaim/topolvm-pvc serverside-applied (server dry run)");
    expect(output).toContain("pod/my-pod serverside-applied (server dry run)");
    const claim = parseAllDocuments(example)[0]?.toJS() as { spec: { storageClassName: string } } | undefined;
    expect(claim?.spec.storageClassName).toBe("topolvm-provisioner");
  });

  it("installs, upgrades and uninstalls the release, leaving only the CRD", async () => {
    const lvCrd = { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "logicalvolumes.topolvm.cybozu.com" } };
    const crdFile = (await readObjects(logicalVolumeCrdFile))[0];
    expect(crdFile?.metadata.name).toBe(lvCrd.metadata.name);
    // Whatever ran before, helm is the one to create the CRD here.
    if (await exists(lvCrd)) {
      await kubectl(["delete", "crd", lvCrd.metadata.name, "--wait=true"], { kubeconfig: started().kubeconfigPath });
    }
    const helmCluster = ["--kubeconfig", started().kubeconfigPath, "--namespace", releaseNamespace];
    const installValues: ChartValues = {};
    // Lists replace the default's: the second StorageClass spells out every key of the default one.
    const defaultClass = await defaultStorageClass();
    const upgradeValues: ChartValues = mergeValues(installValues, {
      controller: { replicaCount: 3 },
      storageClasses: [
        defaultClass,
        { name: "topolvm-ext4", storageClass: { ...defaultClass.storageClass, fsType: "ext4", reclaimPolicy: "Retain" } },
      ],
    });
    const installed = (await renderChart(installValues, { includeCrds: false })).filter((object) => object.kind !== "Namespace");
    const upgraded = (await renderChart(upgradeValues, { includeCrds: false })).filter((object) => object.kind !== "Namespace");

    // No --wait: without a kubelet no pod ever starts.
    await withValuesFile(installValues, (file) => helm(["install", releaseName, chartDir, ...helmCluster, "--create-namespace", "--values", file, "--timeout", "5m"]));
    for (const object of installed) {
      expect(await exists(object), key(object)).toBe(true);
    }
    await kubectl(["wait", "--for=condition=Established", "--timeout=120s", `crd/${lvCrd.metadata.name}`], {
      kubeconfig: started().kubeconfigPath,
    });

    await withValuesFile(upgradeValues, (file) => helm(["upgrade", releaseName, chartDir, ...helmCluster, "--values", file, "--timeout", "5m"]));
    const status = JSON.parse(await helm(["status", releaseName, ...helmCluster, "--output", "json"])) as { version: number; info: { status: string } };
    expect(status).toMatchObject({ version: 2, info: { status: "deployed" } });
    const controller = (await objectsApi.read({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "topolvm-controller", namespace: releaseNamespace } })) as unknown as { spec: { replicas: number } };
    expect(controller.spec.replicas).toBe(3);
    const ext4 = (await objectsApi.read({ apiVersion: "storage.k8s.io/v1", kind: "StorageClass", metadata: { name: "topolvm-ext4" } })) as unknown as { parameters: Record<string, string>; reclaimPolicy: string };
    expect(ext4).toMatchObject({ parameters: { "csi.storage.k8s.io/fstype": "ext4" }, reclaimPolicy: "Retain" });

    await helm(["uninstall", releaseName, ...helmCluster, "--timeout", "5m"]);
    await eventually("every object of the release to be gone", async () => {
      for (const object of [...installed, ...upgraded]) {
        if (await exists(object)) {
          return undefined;
        }
      }
      return true;
    });
    // Nothing labelled as ours is left of any kind the chart renders.
    const kinds = new Map([...installed, ...upgraded].map((object) => [`${object.apiVersion} ${object.kind}`, object]));
    for (const object of kinds.values()) {
      const namespace = clusterScopedKinds.has(object.kind) ? undefined : releaseNamespace;
      const left = await objectsApi.list(object.apiVersion, object.kind, namespace, undefined, undefined, undefined, undefined, `app.kubernetes.io/instance=${releaseName}`);
      expect(left.items.map((item) => item.metadata?.name), `${object.apiVersion} ${object.kind}`).toEqual([]);
    }
    // Helm never deletes the CRDs of crds/: removing it would delete every LogicalVolume, i.e. lose track of the
    // volumes' data. Operators delete it by hand after removing the volumes (deploy/README.md).
    expect(await exists(lvCrd)).toBe(true);
  });
});
