// TopoLVM for real on the local cluster: per simulated node one lvmd over the node's sandbox volume groups and one
// topolvm-node; once, the LogicalVolume CRD, the CSIDriver, topolvm-controller with csi-provisioner and csi-resizer
// (with `snapshots`, also csi-snapshotter, snapshot-controller and the VolumeSnapshot CRDs) and, for the classic
// scheduling path, topolvm-webhook and topolvm-scheduler called by kube-scheduler.
// `startTopolvm(cluster, options)` in beforeAll, `topolvm.stop()` in afterAll (before cluster.stop()).
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  StorageV1Api,
} from "@kubernetes/client-node";
import { logicalVolumeCrdPath } from "@topolvm/csi-plugin";
import { checkHealth, ServingStatus } from "@topolvm/lvmd";
import { capacityAnnotationPrefix, defaultDeviceClassKey, topologyKey } from "@topolvm/proto/names";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { parse } from "yaml";

import { binaryPath, csiSidecarBinaries, missingBinaries } from "./binaries.js";
import type { NodeSpec } from "./cluster.js";
import type { LocalCluster } from "./index.js";
import { ensurePki } from "./pki.js";
import { freePort, httpStatus } from "./ports.js";
import { logDir, readState, type NodeState } from "./state.js";
import {
  controllerArgs,
  deployedExtender,
  lvmdArgs,
  lvmdConfig,
  missingTopolvmBins,
  nodeArgs,
  nodeEnv,
  provisionerArgs,
  provisionerEnv,
  provisionerLeaseName,
  resizerArgs,
  resizerLeaseName,
  schedulerArgs,
  schedulerOptions,
  sidecarArgv,
  snapshotControllerArgs,
  snapshotControllerLeaseName,
  snapshotCrdFiles,
  snapshotterArgs,
  snapshotterLeaseName,
  topolvmBinArgv,
  topolvmNamespace,
  webhookArgs,
  type LvmdDeviceClassConfig,
} from "./topolvm-flags.js";
import { createThinPool, listLogicalVolumes, lvmPath, type LogicalVolumeReport, type ThinPoolKind } from "./topolvm-lvm.js";
import {
  csiDriverManifest,
  defaultStorageClass,
  namespaceManifest,
  storageClassManifest,
  volumeSnapshotClassManifest,
  webhookConfigurationManifest,
  type Manifest,
  type StorageClassSpec,
} from "./topolvm-manifests.js";
import { forgetProcess, managedProcess, type TopolvmProcess } from "./topolvm-process.js";

export type { LogicalVolumeReport, ThinPoolKind } from "./topolvm-lvm.js";
export type { StorageClassSpec } from "./topolvm-manifests.js";
export type { TopolvmProcess } from "./topolvm-process.js";

const execFileAsync = promisify(execFile);

/**
 * The two ways kube-scheduler learns where a volume fits, or "none": no scheduling path and no CSI sidecars, only
 * lvmd, topolvm-node and topolvm-controller, for a client that calls the CSI sockets itself (csi-sanity).
 */
export type SchedulingMode = "extender" | "capacity-tracking" | "none";

/** One lvmd device-class of a node. */
export interface TopolvmDeviceClass {
  name: string;
  /** The cluster device-class whose volume group this class uses; default: the one of the same name. */
  volumeGroupOf?: string;
  /** At most one per node; when none is marked, the first class is the default. */
  default?: boolean;
  /** Default 0 (lvmd's own default is 10 GiB, more than a test VG). */
  spareGiB?: number;
  stripe?: number;
  stripeSize?: string;
  lvcreateOptions?: string[];
  /** A thin class: the pool is created in the volume group first (see createThinPool for what the host allows). */
  thinPool?: { name: string; sizeBytes: number; overprovisionRatio: number };
}

export interface StartTopolvmOptions {
  scheduling: SchedulingMode;
  /** Nodes to run lvmd and topolvm-node on; default every node of the cluster. */
  nodes?: string[];
  /** Device-classes per node name; a node not listed serves its cluster device-classes as thick classes. */
  deviceClasses?: Record<string, TopolvmDeviceClass[]>;
  /** lvmd's lvcreate-option-classes, the same on every node. */
  lvcreateOptionClasses?: { name: string; options: string[] }[];
  /** Default: [topolvm-provisioner] (xfs, WaitForFirstConsumer, expansion allowed, the default class). */
  storageClasses?: StorageClassSpec[];
  /**
   * VolumeSnapshots: the snapshot.storage.k8s.io CRDs of the cached external-snapshotter release, the
   * VolumeSnapshotClass `volumeSnapshotClass`, snapshot-controller and the csi-snapshotter sidecar. Not with
   * scheduling "none" (no sidecars run there).
   */
  snapshots?: { volumeSnapshotClass: string };
  /** csi-provisioner's --capacity-poll-interval in capacity-tracking mode; default 5s. */
  capacityPollInterval?: string;
  /** Log level of the TopoLVM processes; default info. */
  logLevel?: string;
  /** Deadline of each readiness wait; default 120 s. */
  readyTimeoutMs?: number;
}

/** TopoLVM's processes on one simulated node. */
export interface TopolvmNode {
  name: string;
  state: NodeState;
  lvmd: TopolvmProcess;
  node: TopolvmProcess;
  lvmdSocket: string;
  lvmdConfigFile: string;
  /** topolvm-node's CSI socket (Identity and Node services), in the node's run directory; ready once it exists. */
  csiSocket: string;
  deviceClasses: LvmdDeviceClassConfig[];
  /** How each thin class's pool was made ("metadata-only" on a host without device-mapper). */
  thinPools: Record<string, ThinPoolKind>;
  /** topolvm-node's Prometheus endpoint. */
  metricsUrl: string;
  /** The LVs that really exist in the node's volume groups. */
  lvs(): Promise<LogicalVolumeReport[]>;
}

export interface Topolvm {
  scheduling: SchedulingMode;
  namespace: string;
  controller: TopolvmProcess;
  /** topolvm-controller's CSI socket (Identity and Controller services). */
  controllerSocket: string;
  /** Undefined with scheduling "none". */
  provisioner: TopolvmProcess | undefined;
  resizer: TopolvmProcess | undefined;
  /** Only with `snapshots`. */
  snapshotter: TopolvmProcess | undefined;
  snapshotController: TopolvmProcess | undefined;
  /** Only with scheduling "extender". */
  scheduler: TopolvmProcess | undefined;
  webhook: TopolvmProcess | undefined;
  /** topolvm-controller's Prometheus endpoint. */
  controllerMetricsUrl: string;
  nodes: ReadonlyMap<string, TopolvmNode>;
  /** The node's processes; throws for a node TopoLVM does not run on. */
  node(name: string): TopolvmNode;
  /** Every process, in start order. */
  processes(): TopolvmProcess[];
  /** Adds a node to the cluster and runs TopoLVM on it. */
  addNode(spec: NodeSpec, deviceClasses?: TopolvmDeviceClass[]): Promise<TopolvmNode>;
  /** Applies another StorageClass (and, with capacity tracking, waits for its CSIStorageCapacity objects). */
  addStorageClass(spec: StorageClassSpec): Promise<void>;
  /** The last lines of every process's log, for failure messages. */
  logTails(lines?: number): Promise<string>;
  /** Stops every process (even after a failure), removes `topolvm-hook`; the cluster keeps running. */
  stop(): Promise<void>;
}

/**
 * What is missing to run TopoLVM on the local cluster (built bins, cached sidecars; with `snapshots` the snapshotter,
 * snapshot-controller and their CRDs), beside the cluster's own.
 */
export function topolvmPrerequisitesMissing(options: { snapshots?: boolean } = {}): string[] {
  const snapshots = options.snapshots === true;
  const sidecars = csiSidecarBinaries.filter((name) => snapshots || name === "csi-provisioner" || name === "csi-resizer");
  return [
    ...missingBinaries(sidecars).map((name) => `${name} (run tools/ensure-deps)`),
    ...(snapshots ? snapshotCrdFiles().filter((file) => !existsSync(file)).map((file) => `${file} (run tools/ensure-deps)`) : []),
    ...missingTopolvmBins().map((bin) => `the ${bin} bin (run npx nx run-many -t build)`),
  ];
}

function isStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

/** Server-side applies the object as the harness's field manager. */
async function apply(objects: KubernetesObjectApi, manifest: Manifest): Promise<void> {
  await objects.patch(manifest, undefined, undefined, "topolvm-local-cluster", true, PatchStrategy.ServerSideApply);
}

/** Applies the CRD of one file and waits until it is Established. */
async function applyCrd(cluster: LocalCluster, file: string, timeoutMs: number): Promise<void> {
  const crd = parse(await readFile(file, "utf8")) as Manifest;
  // With kubectl: the client library's typed serializer would drop the schema's x-kubernetes-* keys.
  await execFileAsync(binaryPath("kubectl"), [
    `--kubeconfig=${cluster.kubeconfigPath}`,
    "apply",
    "--server-side",
    "--field-manager=topolvm-local-cluster",
    `--filename=${file}`,
  ]).catch((error: unknown) => {
    throw new Error(`kubectl apply ${file} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
  });
  const extensions = cluster.kubeConfig.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await extensions.readCustomResourceDefinition({ name: crd.metadata.name });
    if (current.status?.conditions?.some((condition) => condition.type === "Established" && condition.status === "True")) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`CRD ${crd.metadata.name} was not Established after ${timeoutMs} ms: ${JSON.stringify(current.status)}`);
    }
    await sleep(100);
  }
}

/** A serving certificate for topolvm-webhook on 127.0.0.1, signed by the cluster CA (which kube-apiserver is given). */
export async function issueWebhookCertificate(stateDir: string, certDir: string): Promise<string> {
  const pki = await ensurePki(join(stateDir, "pki"));
  await mkdir(certDir, { recursive: true, mode: 0o700 });
  await execFileAsync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", join(certDir, "tls.key"), "-out", join(certDir, "tls.crt"), "-days", "30"],
    ...["-subj", "/CN=controller.topolvm-system.svc", "-CA", pki.caCertFile, "-CAkey", pki.caKeyFile],
    ...["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=critical,digitalSignature,keyEncipherment"],
    ...["-addext", "extendedKeyUsage=serverAuth"],
    ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:controller.topolvm-system.svc"],
  ]);
  return (await readFile(pki.caCertFile)).toString("base64");
}

/** The lvmd device-classes of a node: the given ones, or its cluster device-classes as thick classes. */
function lvmdDeviceClasses(node: NodeState, classes: TopolvmDeviceClass[] | undefined): LvmdDeviceClassConfig[] {
  const wanted: TopolvmDeviceClass[] =
    classes ?? node.deviceClasses.map((deviceClass) => ({ name: deviceClass.name, default: deviceClass.default }));
  const defaultName = (wanted.find((deviceClass) => deviceClass.default === true) ?? wanted[0])?.name;
  return wanted.map((deviceClass) => {
    const source = deviceClass.volumeGroupOf ?? deviceClass.name;
    const volumeGroup = node.deviceClasses.find((entry) => entry.name === source)?.volumeGroup;
    if (volumeGroup === undefined) {
      const known = node.deviceClasses.map((entry) => entry.name).join(", ");
      throw new Error(
        `node ${node.name}: device-class ${deviceClass.name} uses cluster device-class ${source}, ` +
          `but the node has only ${known}`,
      );
    }
    return {
      name: deviceClass.name,
      volumeGroup,
      default: deviceClass.name === defaultName,
      spareGiB: deviceClass.spareGiB ?? 0,
      ...(deviceClass.stripe === undefined ? {} : { stripe: deviceClass.stripe }),
      ...(deviceClass.stripeSize === undefined ? {} : { stripeSize: deviceClass.stripeSize }),
      ...(deviceClass.lvcreateOptions === undefined ? {} : { lvcreateOptions: deviceClass.lvcreateOptions }),
      ...(deviceClass.thinPool === undefined
        ? {}
        : { thinPool: { name: deviceClass.thinPool.name, overprovisionRatio: deviceClass.thinPool.overprovisionRatio } }),
    };
  });
}

/** The node annotation keys topolvm-node writes for these classes. */
function capacityKeys(classes: readonly LvmdDeviceClassConfig[]): string[] {
  const keys = classes.map((deviceClass) => capacityAnnotationPrefix + deviceClass.name);
  return [...keys, capacityAnnotationPrefix + defaultDeviceClassKey];
}

/** The directory of the deployment's sockets: under the state directory unless that makes a path too long for a unix socket. */
async function socketDir(stateDir: string): Promise<string> {
  const preferred = join(stateDir, "topolvm");
  // sun_path holds 107 bytes; the longest name below is /NODE/csi-topolvm.sock with a 63-byte node name.
  if (preferred.length + 81 <= 107) {
    await mkdir(preferred, { recursive: true });
    return preferred;
  }
  return mkdtemp(join(tmpdir(), "topolvm-run-"));
}

/** Starts TopoLVM on the cluster; resolves once every process is ready and the nodes report their capacity. */
export async function startTopolvm(cluster: LocalCluster, options: StartTopolvmOptions): Promise<Topolvm> {
  if (options.snapshots !== undefined && options.scheduling === "none") {
    throw new Error('startTopolvm: snapshots need the CSI sidecars, which scheduling "none" does not run');
  }
  const missing = topolvmPrerequisitesMissing({ snapshots: options.snapshots !== undefined });
  if (missing.length > 0) {
    throw new Error(`cannot start TopoLVM, missing: ${missing.join("; ")}`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const logLevel = options.logLevel ?? "info";
  const stateDir = cluster.stateDir;
  const logs = logDir(stateDir);
  const kubeconfig = cluster.kubeconfigPath;
  const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
  const storage = cluster.kubeConfig.makeApiClient(StorageV1Api);
  const coordination = cluster.kubeConfig.makeApiClient(CoordinationV1Api);
  const admission = cluster.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const capacityTracking = options.scheduling === "capacity-tracking";
  const storageClasses = [...(options.storageClasses ?? [defaultStorageClass])];
  const run = await socketDir(stateDir);
  const ownRunDir = !run.startsWith(stateDir);
  const started: TopolvmProcess[] = [];
  const nodes = new Map<string, TopolvmNode>();

  const processOf = (
    name: string,
    argv: string[],
    ready: () => Promise<string | undefined>,
    env?: Record<string, string>,
  ): TopolvmProcess => {
    const handle = managedProcess({
      name,
      argv,
      // The sidecars exit when they lose the driver's socket; in a pod kubelet starts them again.
      restartOnExit: name.startsWith("csi-"),
      ...(env === undefined ? {} : { env }),
      logFile: join(logs, `${name}.log`),
      stateDir,
      ready,
      readyTimeoutMs,
    });
    started.push(handle);
    return handle;
  };

  const logTails = async (lines = 15): Promise<string> => {
    const parts = await Promise.all(
      started.map(async (handle) => {
        const state = handle.running() ? "running" : "not running";
        return `--- ${handle.name} (${state}), ${handle.logFile}:\n${await handle.logTail(lines)}`;
      }),
    );
    return parts.join("\n");
  };

  let webhookConfigured = false;
  const stop = async (): Promise<void> => {
    if (webhookConfigured) {
      await admission.deleteMutatingWebhookConfiguration({ name: "topolvm-hook" }).catch(() => undefined);
      webhookConfigured = false;
    }
    // Clients first (sidecars, then the controller, then the nodes), lvmd last, as the chart's pods would drain.
    const order = (handle: TopolvmProcess): number =>
      handle.name.startsWith("csi-") ? 0 : handle.name.startsWith("lvmd-") ? 3 : handle.name.startsWith("topolvm-node-") ? 2 : 1;
    for (const stage of [0, 1, 2, 3]) {
      await Promise.all(
        started
          .filter((handle) => order(handle) === stage)
          .map(async (handle) => {
            await handle.stop().catch(() => handle.kill());
            await forgetProcess(stateDir, handle.name);
          }),
      );
    }
    if (ownRunDir) {
      await rm(run, { recursive: true, force: true });
    }
  };

  const startNode = async (state: NodeState, classes: TopolvmDeviceClass[] | undefined): Promise<TopolvmNode> => {
    const deviceClasses = lvmdDeviceClasses(state, classes);
    const thinPools: Record<string, ThinPoolKind> = {};
    const wantedThin = classes?.filter((deviceClass) => deviceClass.thinPool !== undefined) ?? [];
    for (const deviceClass of wantedThin) {
      const pool = deviceClass.thinPool;
      const config = deviceClasses.find((entry) => entry.name === deviceClass.name);
      if (pool === undefined || config === undefined) {
        continue;
      }
      const existing = (await listLogicalVolumes(state)).some((lv) => lv.volumeGroup === config.volumeGroup && lv.name === pool.name);
      thinPools[deviceClass.name] = existing ? "active" : await createThinPool(state, config.volumeGroup, pool.name, pool.sizeBytes);
    }
    const dir = join(run, state.name);
    await mkdir(dir, { recursive: true });
    const lvmdSocket = join(dir, "lvmd.sock");
    const lvmdConfigFile = join(dir, "lvmd.yaml");
    await writeFile(
      lvmdConfigFile,
      lvmdConfig({
        socketName: lvmdSocket,
        lvmCommandPrefix: [lvmPath()],
        deviceClasses,
        ...(options.lvcreateOptionClasses === undefined ? {} : { lvcreateOptionClasses: options.lvcreateOptionClasses }),
      }),
    );
    const lvmd = processOf(
      `lvmd-${state.name}`,
      topolvmBinArgv("lvmd", lvmdArgs(lvmdConfigFile, logLevel)),
      async () => {
        const status = await checkHealth(lvmdSocket, 2_000).catch((error: unknown) => String(error));
        return status === ServingStatus.SERVING ? undefined : `lvmd health: ${String(status)}`;
      },
      { ...state.lvm.env },
    );
    await lvmd.start();
    // What kubelet does once the node plugin registers; there is no kubelet (and no node socket yet).
    await cluster.registerCsiDriver(state.name, { nodeId: state.name, topology: { [topologyKey]: state.name } });
    const [healthPort, metricsPort] = [await freePort(), await freePort()];
    const keys = capacityKeys(deviceClasses);
    const csiSocket = join(dir, "csi-topolvm.sock");
    const node = processOf(
      `topolvm-node-${state.name}`,
      topolvmBinArgv(
        "topolvm-node",
        nodeArgs({
          nodeName: state.name,
          lvmdSocket,
          kubeconfig,
          healthAddr: `127.0.0.1:${healthPort}`,
          metricsAddr: `127.0.0.1:${metricsPort}`,
          logLevel,
          csiSocket,
        }),
      ),
      async () => {
        const health = await httpStatus(`http://127.0.0.1:${healthPort}/readyz`);
        if (health !== undefined) {
          return health;
        }
        if (!(await stat(csiSocket).catch(() => undefined))?.isSocket()) {
          return `no CSI socket ${csiSocket} yet`;
        }
        const annotations = (await core.readNode({ name: state.name })).metadata?.annotations ?? {};
        const absent = keys.filter((key) => annotations[key] === undefined);
        return absent.length === 0 ? undefined : `Node ${state.name} has no annotation ${absent.join(", ")}`;
      },
      nodeEnv(state.name),
    );
    await node.start();
    const handle: TopolvmNode = {
      name: state.name,
      state,
      lvmd,
      node,
      lvmdSocket,
      lvmdConfigFile,
      csiSocket,
      deviceClasses,
      thinPools,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      lvs: () => listLogicalVolumes(state),
    };
    nodes.set(state.name, handle);
    return handle;
  };

  /** With capacity tracking: waits until every node that has the class of sc has a CSIStorageCapacity for it. */
  const waitForCapacityObjects = async (spec: StorageClassSpec): Promise<void> => {
    const expected = [...nodes.values()]
      .filter((node) =>
        node.deviceClasses.some((deviceClass) =>
          spec.deviceClass === undefined || spec.deviceClass === ""
            ? deviceClass.default
            : deviceClass.name === spec.deviceClass,
        ),
      )
      .map((node) => node.name);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const capacities = (await storage.listNamespacedCSIStorageCapacity({ namespace: topolvmNamespace })).items.filter(
        (item) => item.storageClassName === spec.name,
      );
      const covered = new Set(
        capacities
          .filter((item) => item.capacity !== undefined && item.capacity !== "0")
          .map((item) => item.nodeTopology?.matchLabels?.[topologyKey]),
      );
      const absent = expected.filter((name) => !covered.has(name));
      if (absent.length === 0) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no CSIStorageCapacity with room for StorageClass ${spec.name} on ${absent.join(", ")} after ${readyTimeoutMs} ms; ` +
            `objects: ${JSON.stringify(
              capacities.map((item) => ({ capacity: item.capacity, topology: item.nodeTopology?.matchLabels })),
            )}\n${await logTails()}`,
        );
      }
      await sleep(500);
    }
  };

  /** csi-provisioner and csi-resizer against the controller's socket; resolves when both lead. */
  const startSidecars = async (controllerSocket: string): Promise<{ provisioner: TopolvmProcess; resizer: TopolvmProcess }> => {
    const sidecar = { csiAddress: controllerSocket, kubeconfig };
    const provisionerPort = await freePort();
    const provisioner = processOf(
      "csi-provisioner",
      sidecarArgv(
        "csi-provisioner",
        provisionerArgs({
          ...sidecar,
          httpEndpoint: `127.0.0.1:${provisionerPort}`,
          capacityTracking,
          capacityPollInterval: options.capacityPollInterval ?? "5s",
        }),
      ),
      () => leaseHeld(coordination, provisionerLeaseName),
      provisionerEnv(),
    );
    const resizerPort = await freePort();
    const resizer = processOf(
      "csi-resizer",
      sidecarArgv("csi-resizer", resizerArgs({ ...sidecar, httpEndpoint: `127.0.0.1:${resizerPort}` })),
      () => leaseHeld(coordination, resizerLeaseName),
    );
    await Promise.all([provisioner.start(), resizer.start()]);
    if (capacityTracking) {
      for (const spec of storageClasses) {
        await waitForCapacityObjects(spec);
      }
    }
    return { provisioner, resizer };
  };

  /** snapshot-controller and csi-snapshotter; resolves when both lead. */
  const startSnapshotters = async (controllerSocket: string): Promise<{ snapshotter: TopolvmProcess; snapshotController: TopolvmProcess }> => {
    const [controllerPort, snapshotterPort] = [await freePort(), await freePort()];
    const snapshotController = processOf(
      "csi-snapshot-controller",
      sidecarArgv("snapshot-controller", snapshotControllerArgs({ kubeconfig, httpEndpoint: `127.0.0.1:${controllerPort}` })),
      () => leaseHeld(coordination, snapshotControllerLeaseName),
    );
    const snapshotter = processOf(
      "csi-snapshotter",
      sidecarArgv("csi-snapshotter", snapshotterArgs({ csiAddress: controllerSocket, kubeconfig, httpEndpoint: `127.0.0.1:${snapshotterPort}` })),
      () => leaseHeld(coordination, snapshotterLeaseName),
    );
    await Promise.all([snapshotController.start(), snapshotter.start()]);
    return { snapshotter, snapshotController };
  };

  try {
    await apply(objects, namespaceManifest());
    await applyCrd(cluster, logicalVolumeCrdPath, readyTimeoutMs);
    if (options.snapshots !== undefined) {
      for (const file of snapshotCrdFiles()) {
        await applyCrd(cluster, file, readyTimeoutMs);
      }
      await apply(objects, volumeSnapshotClassManifest(options.snapshots.volumeSnapshotClass));
    }
    await apply(objects, csiDriverManifest(capacityTracking));
    for (const spec of storageClasses) {
      await apply(objects, storageClassManifest(spec));
    }

    const clusterNodes = await cluster.nodes();
    const selected = options.nodes ?? clusterNodes.map((node) => node.name);
    for (const name of selected) {
      const state = clusterNodes.find((node) => node.name === name);
      if (state === undefined) {
        throw new Error(`no node ${name} in the cluster (it has ${clusterNodes.map((node) => node.name).join(", ")})`);
      }
    }
    await Promise.all(
      selected.map((name) => {
        const state = clusterNodes.find((node) => node.name === name);
        return state === undefined ? Promise.resolve() : startNode(state, options.deviceClasses?.[name]);
      }),
    );

    const controllerSocket = join(run, "csi-topolvm.sock");
    const [controllerHealth, controllerMetrics] = [await freePort(), await freePort()];
    const controller = processOf(
      "topolvm-controller",
      topolvmBinArgv(
        "topolvm-controller",
        controllerArgs({
          csiSocket: controllerSocket,
          kubeconfig,
          healthAddr: `127.0.0.1:${controllerHealth}`,
          metricsAddr: `127.0.0.1:${controllerMetrics}`,
          logLevel,
        }),
      ),
      () => httpStatus(`http://127.0.0.1:${controllerHealth}/readyz`),
    );
    await controller.start();

    let scheduler: TopolvmProcess | undefined;
    let webhook: TopolvmProcess | undefined;
    if (capacityTracking) {
      if (((await readState(stateDir))?.schedulerExtenders ?? []).length > 0) {
        await cluster.setSchedulerExtenders([]);
      }
    } else if (options.scheduling === "extender") {
      const [hookPort, hookMetricsPort, schedulerPort] = [await freePort(), await freePort(), await freePort()];
      const certDir = join(run, "webhook-certs");
      const caBundle = await issueWebhookCertificate(stateDir, certDir);
      webhook = processOf(
        "topolvm-webhook",
        topolvmBinArgv(
          "topolvm-webhook",
          webhookArgs({
            listen: `127.0.0.1:${hookPort}`,
            metricsListen: `127.0.0.1:${hookMetricsPort}`,
            certDir,
            kubeconfig,
            logLevel,
          }),
        ),
        () => httpStatus(`http://127.0.0.1:${hookMetricsPort}/readyz`),
      );
      const optionsFile = join(run, "scheduler-options.yaml");
      await writeFile(optionsFile, schedulerOptions(`127.0.0.1:${schedulerPort}`));
      const schedulerUrl = `http://127.0.0.1:${schedulerPort}`;
      scheduler = processOf("topolvm-scheduler", topolvmBinArgv("topolvm-scheduler", schedulerArgs(optionsFile, logLevel)), () =>
        httpStatus(`${schedulerUrl}/status`),
      );
      await Promise.all([webhook.start(), scheduler.start()]);
      await apply(objects, webhookConfigurationManifest(`https://127.0.0.1:${hookPort}`, caBundle));
      webhookConfigured = true;
      await waitForPvcHook(objects, storageClasses[0]?.name, readyTimeoutMs);
      await cluster.setSchedulerExtenders([await deployedExtender(schedulerUrl)]);
    }

    const sidecars = options.scheduling === "none" ? undefined : await startSidecars(controllerSocket);
    const snapshotters = options.snapshots === undefined ? undefined : await startSnapshotters(controllerSocket);
    const topolvm: Topolvm = {
      scheduling: options.scheduling,
      namespace: topolvmNamespace,
      controller,
      controllerSocket,
      provisioner: sidecars?.provisioner,
      resizer: sidecars?.resizer,
      snapshotter: snapshotters?.snapshotter,
      snapshotController: snapshotters?.snapshotController,
      scheduler,
      webhook,
      controllerMetricsUrl: `http://127.0.0.1:${controllerMetrics}/metrics`,
      nodes,
      node(name) {
        const node = nodes.get(name);
        if (node === undefined) {
          throw new Error(`TopoLVM does not run on node ${name} (it runs on ${[...nodes.keys()].join(", ")})`);
        }
        return node;
      },
      processes: () => [...started],
      async addNode(spec, deviceClasses) {
        const state = await cluster.addNode(spec);
        return startNode(state, deviceClasses);
      },
      async addStorageClass(spec) {
        await apply(objects, storageClassManifest(spec));
        storageClasses.push(spec);
        if (capacityTracking) {
          await waitForCapacityObjects(spec);
        }
      },
      logTails,
      stop,
    };
    return topolvm;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const tails = await logTails();
    await stop();
    throw new Error(`${message}\n${tails}`, { cause: error });
  }
}

/** Undefined once the sidecar's Lease in topolvm-system has a holder that renewed it within its duration. */
export async function leaseHeld(coordination: CoordinationV1Api, name: string): Promise<string | undefined> {
  try {
    const lease = await coordination.readNamespacedLease({ name, namespace: topolvmNamespace });
    const renewed = lease.spec?.renewTime === undefined ? 0 : new Date(lease.spec.renewTime).getTime();
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (lease.spec?.holderIdentity === undefined || lease.spec.holderIdentity === "" || Date.now() - renewed > durationMs) {
      return `Lease ${topolvmNamespace}/${name} has no live holder`;
    }
    return undefined;
  } catch (error) {
    return isStatus(error, 404) ? `no Lease ${topolvmNamespace}/${name} yet` : String(error);
  }
}

/** kube-apiserver picks up a new webhook configuration from its informer: probe with dry-run PVCs until the hook answers. */
export async function waitForPvcHook(objects: KubernetesObjectApi, storageClassName: string | undefined, timeoutMs: number): Promise<void> {
  if (storageClassName === undefined) {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const claim: Manifest = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "topolvm-hook-probe", namespace: "default" },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage: "1Gi" } } },
    };
    const probe = await objects.create(claim, undefined, "All");
    if ((probe.metadata.finalizers ?? []).length > 0) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`kube-apiserver did not call the PVC hook of topolvm-hook within ${timeoutMs} ms`);
    }
    await sleep(200);
  }
}
