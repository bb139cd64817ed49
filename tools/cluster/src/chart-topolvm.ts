// TopoLVM on the local cluster as the Helm chart installs it: the chart rendered with the given values, its objects
// applied to the real kube-apiserver, and every container of its Deployments and DaemonSets (chart-pods.ts) run as a
// process with the command line, environment and files the chart gives it, changed only as chart-rewrites.ts writes
// down. What kubelet would do for the pods (volumes, probes: chart-kubelet.ts; the CSI driver registration) is done
// here; the process machinery is the harness's own (topolvm-process.ts).
import { ApiException, CoordinationV1Api, CoreV1Api, KubernetesObjectApi, type V1Container, type V1Service } from "@kubernetes/client-node";
import { topologyKey } from "@topolvm/proto/names";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";

import { renderChart, type ChartValues, type RenderedObject } from "../../chart/src/helm.js";
import { binaryPath } from "./binaries.js";
import { materialise, readiness, type DataReader, type PreparedContainer } from "./chart-kubelet.js";
import { chartPods, serviceAddress, type ChartPod } from "./chart-pods.js";
import {
  containerEnv,
  containerKind,
  containerMounts,
  executableArgs,
  imageName,
  listenPort,
  rewriteArgs,
  type ContainerKind,
  type KeyLookup,
  type PodFacts,
} from "./chart-rewrites.js";
import type { LocalCluster } from "./index.js";
import { ensurePki } from "./pki.js";
import { freePort } from "./ports.js";
import { logDir, type NodeState } from "./state.js";
import { issueWebhookCertificate, topolvmPrerequisitesMissing, waitForPvcHook } from "./topolvm.js";
import { deployedExtender, sidecarArgv, topolvmBinArgv, topolvmNamespace } from "./topolvm-flags.js";
import { listLogicalVolumes, type LogicalVolumeReport } from "./topolvm-lvm.js";
import type { Manifest } from "./topolvm-manifests.js";
import { forgetProcess, managedProcess, type TopolvmProcess } from "./topolvm-process.js";

const execFileAsync = promisify(execFile);

export interface StartTopolvmFromChartOptions {
  /** The chart's values (charts/topolvm/values.yaml is the contract); certManager must be off (no cert-manager here). */
  values: ChartValues;
  /** Objects an operator creates beside the release, applied after the namespace: the webhook's Secret. */
  extraObjects?: Manifest[];
  /**
   * "service-account" (default): each process talks to the API server as its pod's ServiceAccount (a TokenRequest
   * token), so the chart's RBAC is what it may do; "admin": the cluster's admin kubeconfig.
   */
  credentials?: "service-account" | "admin";
  /** Deadline of each readiness wait; default 120 s. */
  readyTimeoutMs?: number;
}

/** One container of the chart, run as a process. */
export interface ChartProcess {
  pod: ChartPod;
  container: string;
  kind: ContainerKind;
  process: TopolvmProcess;
  /** Listen addresses here, by flag (`listen` for scheduler-options.yaml's). */
  listens: ReadonlyMap<string, string>;
}

export interface ChartTopolvm {
  /** What helm rendered. */
  rendered: readonly RenderedObject[];
  /** The pods the chart's workloads have on the cluster's nodes. */
  pods: readonly ChartPod[];
  processes: readonly ChartProcess[];
  /** The process of a container: `CONTAINER` of a Deployment pod, `CONTAINER-NODE` of a DaemonSet pod. */
  process(name: string): TopolvmProcess;
  /** Every change made to the chart's objects, command lines, environments and files, with its rule (a)-(e). */
  rewrites: readonly string[];
  /** Containers and probes of the chart not run here, and why. */
  skipped: readonly string[];
  /** Where kube-scheduler calls the extender; undefined when the chart runs none. */
  extenderUrl: string | undefined;
  /** The LVs that really exist in a node's volume groups. */
  lvs(nodeName: string): Promise<LogicalVolumeReport[]>;
  logTails(lines?: number): Promise<string>;
  /** Stops every process (even after a failure) and removes `topolvm-hook`; the cluster and the objects stay. */
  stop(): Promise<void>;
}

/**
 * Objects applied as rendered. Deployments, DaemonSets, PodDisruptionBudgets and Services are not applied: without
 * kubelet their pods would sit bound to nodes forever (counted by the scheduler, listed by `kubectl get pods` and the
 * status command as stuck) and a Service routes nowhere; their specs are what the processes are started from.
 */
const appliedKinds = new Set([
  "ServiceAccount",
  "ClusterRole",
  "ClusterRoleBinding",
  "Role",
  "RoleBinding",
  "CSIDriver",
  "StorageClass",
  "ConfigMap",
  "Secret",
  "PriorityClass",
]);
const runKinds = new Set(["Deployment", "DaemonSet", "PodDisruptionBudget", "Service"]);

/** Start order: lvmd before topolvm-node, the controller before its sidecars and the hooks that feed the extender. */
const startStages: readonly (readonly ContainerKind[])[] = [
  ["lvmd"],
  ["topolvm-node"],
  ["topolvm-controller"],
  ["topolvm-webhook", "topolvm-scheduler"],
  ["csi-provisioner", "csi-resizer"],
];

async function kubectl(cluster: LocalCluster, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(binaryPath("kubectl"), [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    throw new Error(`kubectl ${args.join(" ")} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`, { cause: error });
  }
}

/** Server-side applies objects with kubectl (the client library's typed serializer drops a CRD's x-kubernetes-* keys). */
async function applyObjects(cluster: LocalCluster, dir: string, name: string, objects: readonly unknown[]): Promise<void> {
  if (objects.length === 0) {
    return;
  }
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, objects.map((object) => stringify(object)).join("---\n"));
  await kubectl(cluster, ["apply", "--server-side", "--force-conflicts", "--field-manager=topolvm-chart-processes", `--filename=${file}`]);
}

/** A serving certificate for the webhook's URL host (127.0.0.1) signed by the cluster CA, as the Secret `mutatingwebhook`. */
export async function chartWebhookCertificate(
  cluster: LocalCluster,
  secretName = "mutatingwebhook",
): Promise<{ caBundle: string; secret: Manifest }> {
  const dir = await mkdtemp(join(tmpdir(), "topolvm-webhook-cert-"));
  try {
    const caBundle = await issueWebhookCertificate(cluster.stateDir, dir);
    const data = async (file: string): Promise<string> => (await readFile(join(dir, file))).toString("base64");
    return {
      caBundle,
      secret: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: secretName, namespace: topolvmNamespace },
        type: "kubernetes.io/tls",
        data: { "tls.crt": await data("tls.crt"), "tls.key": await data("tls.key") },
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A kubeconfig of a ServiceAccount (a TokenRequest token): what its pods' in-cluster configuration authenticates as. */
async function serviceAccountKubeconfig(cluster: LocalCluster, namespace: string, name: string, file: string): Promise<void> {
  const token = (await kubectl(cluster, ["create", "token", name, `--namespace=${namespace}`, "--duration=168h"])).trim();
  const pki = await ensurePki(join(cluster.stateDir, "pki"));
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "local", cluster: { server: cluster.serverUrl, "certificate-authority-data": (await readFile(pki.caCertFile)).toString("base64") } },
    ],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: "local", user: name, namespace } }],
    "current-context": name,
  };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** The directory the volumes live in: under the state directory unless a socket path there would be too long. */
async function chartRunDir(stateDir: string): Promise<{ dir: string; own: boolean }> {
  const preferred = join(stateDir, "chart");
  // sun_path holds 107 bytes; the longest socket is topolvm-node's kubelet plugin socket under n/NODE/ (about 80).
  if (preferred.length + 80 <= 107) {
    await mkdir(preferred, { recursive: true });
    return { dir: preferred, own: false };
  }
  return { dir: await mkdtemp(join(tmpdir(), "tlc-")), own: true };
}

/** Starts TopoLVM from the chart's rendered objects; resolves once every process is ready and kube-scheduler calls the extender. */
export async function startTopolvmFromChart(cluster: LocalCluster, options: StartTopolvmFromChartOptions): Promise<ChartTopolvm> {
  const missing = topolvmPrerequisitesMissing();
  if (missing.length > 0) {
    throw new Error(`cannot start TopoLVM, missing: ${missing.join("; ")}`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const credentials = options.credentials ?? "service-account";
  const stateDir = cluster.stateDir;
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
  const rendered = await renderChart(options.values);
  const namespace = topolvmNamespace;
  const rewrites: string[] = [];
  const skipped: string[] = [];
  const started: ChartProcess[] = [];
  const run = await chartRunDir(stateDir);
  let webhookConfigured = false;

  const logTails = async (lines = 15): Promise<string> => {
    const parts = await Promise.all(
      started.map(async ({ process: handle }) => {
        const state = handle.running() ? "running" : "not running";
        return `--- ${handle.name} (${state}), ${handle.logFile}:\n${await handle.logTail(lines)}`;
      }),
    );
    return parts.join("\n");
  };
  const stop = async (): Promise<void> => {
    if (webhookConfigured) {
      await kubectl(cluster, ["delete", "mutatingwebhookconfiguration", "topolvm-hook", "--ignore-not-found"]).catch(() => undefined);
      webhookConfigured = false;
    }
    for (const stage of [...startStages].reverse()) {
      await Promise.all(
        started
          .filter((entry) => stage.includes(entry.kind))
          .map(async ({ process: handle }) => {
            await handle.stop().catch(() => handle.kill());
            await forgetProcess(stateDir, handle.name);
          }),
      );
    }
    if (run.own) {
      await rm(run.dir, { recursive: true, force: true });
    }
  };

  try {
    const unknown = rendered.filter(
      (object) =>
        !appliedKinds.has(object.kind) &&
        !runKinds.has(object.kind) &&
        object.kind !== "CustomResourceDefinition" &&
        object.kind !== "MutatingWebhookConfiguration",
    );
    if (unknown.length > 0) {
      throw new Error(
        `the chart rendered objects this harness cannot install here: ${unknown.map((object) => `${object.kind} ${object.metadata.name}`).join(", ")}` +
          " (cert-manager's need webhook.certManager.enabled: false and a Secret in extraObjects)",
      );
    }
    const crds = rendered.filter((object) => object.kind === "CustomResourceDefinition");
    await applyObjects(cluster, run.dir, "crds", crds);
    for (const crd of crds) {
      await kubectl(cluster, ["wait", "--for=condition=Established", `--timeout=${Math.ceil(readyTimeoutMs / 1000)}s`, `crd/${crd.metadata.name}`]);
    }
    // helm install --create-namespace.
    await applyObjects(cluster, run.dir, "namespace", [{ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }]);
    await applyObjects(cluster, run.dir, "objects", [
      ...rendered.filter((object) => appliedKinds.has(object.kind)),
      ...(options.extraObjects ?? []),
    ]);

    const nodeStates = (await cluster.nodes()).sort((a, b) => a.name.localeCompare(b.name));
    const nodeObjects = (await core.listNode()).items;
    const placement = nodeStates.map((state) => ({
      name: state.name,
      labels: nodeObjects.find((node) => node.metadata?.name === state.name)?.metadata?.labels ?? {},
    }));
    const pods = chartPods(rendered, placement, namespace);
    const nodeState = (name: string): NodeState => {
      const state = nodeStates.find((entry) => entry.name === name);
      if (state === undefined) {
        throw new Error(`no node ${name}`);
      }
      return state;
    };

    const kubeconfigs = new Map<string, string>();
    const kubeconfigOf = async (pod: ChartPod): Promise<string> => {
      if (credentials === "admin") {
        return cluster.kubeconfigPath;
      }
      const account = pod.spec.serviceAccountName ?? "default";
      let file = kubeconfigs.get(account);
      if (file === undefined) {
        await mkdir(join(run.dir, "sa"), { recursive: true });
        file = join(run.dir, "sa", `${account}.kubeconfig`);
        await serviceAccountKubeconfig(cluster, pod.namespace, account, file);
        kubeconfigs.set(account, file);
      }
      return file;
    };
    const reader =
      (podNamespace: string): DataReader =>
      async (kind, name) => {
        try {
          if (kind === "ConfigMap") {
            return (await core.readNamespacedConfigMap({ name, namespace: podNamespace })).data ?? {};
          }
          const data = (await core.readNamespacedSecret({ name, namespace: podNamespace })).data ?? {};
          return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, "base64").toString("utf8")]));
        } catch (error) {
          if (error instanceof ApiException && error.code === 404) {
            return undefined;
          }
          throw error;
        }
      };
    const lookup =
      (podNamespace: string): KeyLookup =>
      async (kind, name, key) =>
        (await reader(podNamespace)(kind, name))?.[key];

    const prepared: PreparedContainer[] = [];
    const podPorts = new Map<ChartPod, Map<number, string>>();
    for (const pod of pods) {
      const ports = new Map<number, string>();
      podPorts.set(pod, ports);
      const owners = new Map<number, string>();
      const allocator = (container: string) => async (original: string) => {
        const port = listenPort(original);
        const owner = owners.get(port);
        if (owner !== undefined && owner !== container) {
          throw new Error(`pod ${pod.name}: containers ${owner} and ${container} both listen on port ${port}`);
        }
        const address = ports.get(port) ?? `127.0.0.1:${await freePort()}`;
        ports.set(port, address);
        owners.set(port, container);
        return address;
      };
      const record = (container: string) => (what: string) => {
        rewrites.push(`${pod.name}/${container}: ${what}`);
      };
      const runnable: { container: V1Container; kind: ContainerKind }[] = [];
      for (const container of pod.spec.containers) {
        const kind = containerKind(container);
        if (kind === undefined) {
          throw new Error(`pod ${pod.name}: no way to run container ${container.name} (image ${container.image ?? "none"}) here`);
        }
        if (kind === "skip") {
          skipped.push(`${pod.name}/${container.name} (${imageName(container.image)}): no binary is built here; it serves only kubelet`);
        } else {
          runnable.push({ container, kind });
        }
      }
      for (const init of pod.spec.initContainers ?? []) {
        skipped.push(`${pod.name}/${init.name}: init containers are not run here`);
      }
      const configListens = new Map<V1Container, string>();
      const volumeDirs = new Map<string, string>();
      for (const volume of pod.spec.volumes ?? []) {
        const hostPath = volume.hostPath?.path;
        volumeDirs.set(volume.name, hostPath === undefined ? join(run.dir, "p", pod.name, volume.name) : join(run.dir, "n", pod.nodeName, hostPath));
      }
      const mountsOf = new Map(runnable.map(({ container }) => [container, containerMounts(container, volumeDirs)]));
      for (const volume of pod.spec.volumes ?? []) {
        const user = runnable.find(({ container }) => (container.volumeMounts ?? []).some((mount) => mount.name === volume.name))?.container;
        await materialise(volume, volumeDirs.get(volume.name) ?? "", reader(pod.namespace), user === undefined ? [] : (mountsOf.get(user) ?? []), {
          allocate: allocator(user?.name ?? ""),
          record: record(user?.name ?? volume.name),
          listen: (address) => {
            if (user !== undefined) {
              configListens.set(user, address);
            }
          },
        });
      }
      const nodeAllocatable = nodeObjects.find((node) => node.metadata?.name === pod.nodeName)?.status?.allocatable ?? {};
      const facts: PodFacts = {
        name: pod.name,
        namespace: pod.namespace,
        nodeName: pod.nodeName,
        serviceAccountName: pod.spec.serviceAccountName ?? "default",
        nodeAllocatable: { cpu: nodeAllocatable.cpu ?? "8", memory: nodeAllocatable.memory ?? "32Gi" },
      };
      for (const { container, kind } of runnable) {
        const mounts = mountsOf.get(container) ?? [];
        const note = record(container.name);
        const env = await containerEnv(container, facts, mounts, lookup(pod.namespace), note);
        const words = executableArgs(kind, container);
        const rewritten = await rewriteArgs(kind, words, env, mounts, allocator(container.name), note);
        const listens = rewritten.listens;
        const configListen = configListens.get(container);
        if (configListen !== undefined) {
          listens.set("listen", configListen);
        }
        let args = rewritten.args;
        const extraEnv: Record<string, string> = {};
        // (c) credentials.
        if (kind === "topolvm-controller" || kind === "topolvm-node" || kind === "topolvm-webhook") {
          const kubeconfig = await kubeconfigOf(pod);
          extraEnv.KUBECONFIG = kubeconfig;
          note(`(c) KUBECONFIG=${kubeconfig} (the pod's in-cluster credentials)`);
        } else if (kind === "topolvm-scheduler") {
          const kubeconfig = args.some((arg) => arg === "--in-cluster" || arg === "--in-cluster=true") ? await kubeconfigOf(pod) : "";
          args = args.map((arg) => {
            if (arg === "--in-cluster" || arg === "--in-cluster=true") {
              note(`(c) ${arg} → --kubeconfig=${kubeconfig}`);
              return `--kubeconfig=${kubeconfig}`;
            }
            return arg;
          });
        } else if (kind === "csi-provisioner" || kind === "csi-resizer") {
          const ownerLevel = /^--capacity-ownerref-level=(\d+)$/.exec(args.find((arg) => arg.startsWith("--capacity-ownerref-level=")) ?? "");
          if (ownerLevel !== null && Number(ownerLevel[1]) > 0) {
            throw new Error(
              `${container.name} of ${pod.name}: --capacity-ownerref-level=${ownerLevel[1]} makes csi-provisioner look up its own Pod ` +
                "(and ReplicaSet, Deployment) as the owner of its CSIStorageCapacity objects, and no such Pod exists without kubelet: " +
                "run the chart with scheduler.enabled here, or startTopolvm with scheduling: \"capacity-tracking\"",
            );
          }
          if (!args.some((arg) => arg.startsWith("--kubeconfig"))) {
            const kubeconfig = await kubeconfigOf(pod);
            args = [...args, `--kubeconfig=${kubeconfig}`];
            note(`(c) added --kubeconfig=${kubeconfig} (client-go reads in-cluster credentials from a fixed path)`);
          }
        }
        // (d) the node sandbox's LVM environment.
        if (kind === "lvmd") {
          Object.assign(extraEnv, nodeState(pod.nodeName).lvm.env);
          note(`(d) env ${Object.keys(nodeState(pod.nodeName).lvm.env).join(", ")} of node ${pod.nodeName}'s LVM sandbox`);
        }
        const argv = kind === "csi-provisioner" || kind === "csi-resizer" ? sidecarArgv(kind, args) : topolvmBinArgv(kind, args);
        const name = pod.owner.kind === "DaemonSet" ? `${container.name}-${pod.nodeName}` : container.name;
        if (prepared.some((entry) => entry.name === name)) {
          throw new Error(`two pods run container ${container.name} on node ${pod.nodeName} (${name}): their DaemonSets select the same node`);
        }
        prepared.push({
          pod,
          container,
          kind,
          name,
          argv,
          env: { ...Object.fromEntries(env), ...extraEnv },
          listens,
          paths: rewritten.paths,
          mounts,
          ports,
        });
      }
    }

    const logs = logDir(stateDir);
    for (const stage of startStages) {
      const entries = prepared.filter((entry) => stage.includes(entry.kind));
      await Promise.all(
        entries.map(async (entry) => {
          if (entry.kind === "topolvm-node") {
            // What kubelet does once the node plugin registers; there is no kubelet.
            await cluster.registerCsiDriver(entry.pod.nodeName, { nodeId: entry.pod.nodeName, topology: { [topologyKey]: entry.pod.nodeName } });
          }
          const handle = managedProcess({
            name: entry.name,
            argv: entry.argv,
            env: entry.env,
            // The sidecars exit when they lose the driver's socket; kubelet starts them again.
            restartOnExit: entry.kind === "csi-provisioner" || entry.kind === "csi-resizer",
            logFile: join(logs, `${entry.name}.log`),
            stateDir,
            ready: await readiness(entry, core, coordination, (what) => skipped.push(`${entry.pod.name}/${entry.container.name}: ${what}`)),
            readyTimeoutMs,
          });
          started.push({ pod: entry.pod, container: entry.container.name, kind: entry.kind, process: handle, listens: entry.listens });
          await handle.start();
        }),
      );
    }

    const withPorts = pods.map((pod) => ({ pod, ports: podPorts.get(pod) ?? new Map<number, string>() }));
    const services = rendered.filter((object) => object.kind === "Service") as unknown as V1Service[];
    const hooks = rendered.filter((object) => object.kind === "MutatingWebhookConfiguration");
    for (const hook of hooks) {
      const configuration = structuredClone(hook) as RenderedObject & {
        webhooks?: { name: string; clientConfig: { service?: { namespace: string; name: string; path?: string; port?: number }; url?: string; caBundle?: string } }[];
      };
      for (const webhook of configuration.webhooks ?? []) {
        const service = webhook.clientConfig.service;
        if (service === undefined) {
          continue;
        }
        const target = services.find((entry) => entry.metadata?.name === service.name && entry.metadata.namespace === service.namespace);
        if (target === undefined) {
          throw new Error(`webhook ${webhook.name} calls Service ${service.namespace}/${service.name}, which the chart does not render`);
        }
        const url = `https://${serviceAddress(target, service.port ?? 443, withPorts)}${service.path ?? ""}`;
        rewrites.push(`MutatingWebhookConfiguration ${hook.metadata.name}/${webhook.name}: (e) service ${service.namespace}/${service.name}:${service.port ?? 443}${service.path ?? ""} → url ${url}`);
        delete webhook.clientConfig.service;
        webhook.clientConfig.url = url;
      }
      await applyObjects(cluster, run.dir, `webhook-${hook.metadata.name}`, [configuration]);
      webhookConfigured = true;
    }
    if (hooks.length > 0) {
      const firstClass = rendered.find((object) => object.kind === "StorageClass")?.metadata.name;
      await waitForPvcHook(KubernetesObjectApi.makeApiClient(cluster.kubeConfig), firstClass, readyTimeoutMs);
    }

    const extenderUrl = extenderAddress(started, services, withPorts, (what) => rewrites.push(what));
    if (extenderUrl !== undefined) {
      // As NOTES.txt says: nodeCacheCapable when the extender keeps a node cache (the chart passes --in-cluster).
      const nodeCache = started.some(
        ({ kind, pod }) =>
          kind === "topolvm-scheduler" &&
          pod.spec.containers.some((container) => (container.args ?? []).includes("--in-cluster")),
      );
      await cluster.setSchedulerExtenders([{ ...(await deployedExtender(extenderUrl)), nodeCacheCapable: nodeCache }]);
    }

    return {
      rendered,
      pods,
      processes: started,
      process(name) {
        const found = started.find((entry) => entry.process.name === name);
        if (found === undefined) {
          throw new Error(`no process ${name} (there are ${started.map((entry) => entry.process.name).join(", ")})`);
        }
        return found.process;
      },
      rewrites,
      skipped,
      extenderUrl,
      lvs: (nodeName) => listLogicalVolumes(nodeState(nodeName)),
      logTails,
      stop,
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const tails = await logTails();
    await stop();
    throw new Error(`${message}\n${tails}`, { cause: error });
  }
}


/** Where kube-scheduler reaches the extender: through the Service that selects its pods, else its pod's (host network) address. */
function extenderAddress(
  started: readonly ChartProcess[],
  services: readonly V1Service[],
  pods: readonly { pod: ChartPod; ports: ReadonlyMap<number, string> }[],
  record: (what: string) => void,
): string | undefined {
  const scheduler = started.find((entry) => entry.kind === "topolvm-scheduler");
  if (scheduler === undefined) {
    return undefined;
  }
  const service = services.find((candidate) => {
    const selector = candidate.spec?.selector ?? {};
    return (
      candidate.metadata?.namespace === scheduler.pod.namespace &&
      Object.keys(selector).length > 0 &&
      Object.entries(selector).every(([key, value]) => scheduler.pod.labels[key] === value)
    );
  });
  const port = service?.spec?.ports?.[0]?.port;
  if (service !== undefined && port !== undefined) {
    const url = `http://${serviceAddress(service, port, pods)}`;
    record(`kube-scheduler's extender: (e) Service ${service.metadata?.namespace ?? ""}/${service.metadata?.name ?? ""}:${port} → urlPrefix ${url}`);
    return url;
  }
  const listen = scheduler.listens.get("listen");
  if (listen === undefined) {
    throw new Error(`${scheduler.process.name}: its scheduler-options.yaml has no listen address`);
  }
  return `http://${listen}`;
}

/**
 * lvmd values for the cluster's nodes: lvmd.yaml of each node names that node's sandbox volume groups (`NODE-CLASS`,
 * spare-gb 0, the first class the default) and runs `lvm` itself. The main DaemonSet serves the first node, one
 * additionalConfigs entry each other node, each kept to its node by a kubernetes.io/hostname nodeSelector.
 */
export function perNodeLvmdValues(nodes: readonly NodeState[]): ChartValues {
  const configOf = (node: NodeState): { nodeSelector: Record<string, string>; deviceClasses: Record<string, unknown>[] } => ({
    nodeSelector: { "kubernetes.io/hostname": node.name },
    deviceClasses: node.deviceClasses.map((deviceClass) => ({
      name: deviceClass.name,
      "volume-group": deviceClass.volumeGroup,
      default: deviceClass.default,
      "spare-gb": 0,
    })),
  });
  const [first, ...others] = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  if (first === undefined) {
    throw new Error("perNodeLvmdValues needs at least one node");
  }
  return {
    lvmCommandPrefix: ["lvm"],
    ...configOf(first),
    additionalConfigs: others.map((node) => ({ name: node.name, ...configOf(node) })),
  };
}
