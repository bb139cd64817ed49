import { KubeConfig } from "@kubernetes/client-node";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { clusterBinaries, missingBinaries } from "./binaries.js";
import {
  apiserverArgv,
  apiserverUrl,
  controllerManagerArgv,
  controlPlaneLayout,
  etcdArgv,
  schedulerArgv,
  schedulerConfiguration,
  type ControlPlaneLayout,
  type ControlPlanePorts,
  type SchedulerExtender,
} from "./control-plane.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { ensurePki } from "./pki.js";
import { httpsGet, tlsClient, waitForOk, type TlsClient } from "./probe.js";
import { isRunning, logTail, startProcess, stopProcess, type ProcessRecord } from "./processes.js";
import { createNodeVolumeGroups, destroyNodeVolumeGroups } from "./node-volume-groups.js";
import { deleteNode, nodeClients, registerNode, type NodeClients, type NodeResources } from "./simulated-node.js";
import { freePorts } from "./ports.js";
import { parseSize } from "./sizes.js";
import {
  logDir,
  readState,
  stateFile,
  updateState,
  writeState,
  type ClusterState,
  type DeviceClassState,
  type NodeState,
} from "./state.js";

/** A device-class of a simulated node; its volume group is `sizeBytes` large (default: the node's vgSizeBytes). */
export interface DeviceClassSpec {
  name: string;
  sizeBytes?: number;
}

export interface NodeSpec {
  name: string;
  /** Size of each device-class's volume group unless the class says otherwise; default 10 GiB. */
  vgSizeBytes?: number;
  /** Default: one class "ssd". The first is the default device-class. */
  deviceClasses?: DeviceClassSpec[];
  resources?: NodeResources;
  labels?: Record<string, string>;
  /**
   * LVM activates the node's LVs (a sandbox created with --activation): only where the kernel has device-mapper,
   * i.e. in the tools/vm VM. Default false, the host's metadata-only LVM.
   */
  activation?: boolean;
}

/**
 * Which control-plane processes run: all of them, or only etcd and kube-apiserver for clients that drive the API
 * themselves (csi-sanity against the CSI sockets needs no scheduling, and no controller that reacts to nodes).
 */
export type ControlPlaneMode = "full" | "apiserver-only";

export interface UpOptions {
  stateDir: string;
  /** Default "full". */
  controlPlane?: ControlPlaneMode;
  /** A count (nodes named node-1, node-2, ...) or the nodes themselves; default none. */
  nodes?: number | NodeSpec[];
  schedulerExtenders?: SchedulerExtender[];
  /** Limit for the whole start-up; default 120 s. */
  timeoutMs?: number;
  /** Receives one line per step, for the command line's progress output. */
  onProgress?: (message: string) => void;
}

export const defaultVgSizeBytes = parseSize("10G", "default volume group size");
export const defaultDeviceClass = "ssd";

/**
 * The order `down` stops the recorded processes in, stage by stage (the processes of one stage in parallel): the
 * API server's clients first, so none of them logs errors about it going away, and etcd last.
 */
const stopStages = [["node-agent", "kube-scheduler", "kube-controller-manager"], ["kube-apiserver"], ["etcd"]];

async function allocatePorts(): Promise<ControlPlanePorts> {
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler] = await freePorts(5);
  if (
    etcdClient === undefined ||
    etcdPeer === undefined ||
    apiserver === undefined ||
    controllerManager === undefined ||
    scheduler === undefined
  ) {
    throw new Error("could not allocate five loopback ports");
  }
  return { etcdClient, etcdPeer, apiserver, controllerManager, scheduler };
}

/** Makes sure stateDir can hold a new cluster: empty, or left over from a cluster that is no longer running. */
async function prepareStateDir(stateDir: string): Promise<void> {
  const previous = await readState(stateDir);
  if (previous !== undefined) {
    const alive = previous.processes.filter(isRunning);
    if (alive.length > 0) {
      const pids = alive.map((record) => `${record.name} ${record.pid}`).join(", ");
      throw new Error(`a cluster is already running in ${stateDir} (${pids}); run \`cluster down\` first`);
    }
    await teardown(previous);
  }
  let entries: string[] = [];
  try {
    entries = await readdir(stateDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw error;
    }
  }
  const leftovers = entries.filter((entry) => entry !== "logs");
  if (leftovers.length > 0 && previous === undefined) {
    throw new Error(`--state-dir ${stateDir} is not empty and holds no cluster state; refusing to use it`);
  }
  for (const entry of leftovers) {
    await rm(join(stateDir, entry), { recursive: true, force: true });
  }
  await rm(logDir(stateDir), { recursive: true, force: true });
  await mkdir(logDir(stateDir), { recursive: true });
}

function nodeAgentArgv(stateDir: string): string[] {
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const agent = join(dirname(fileURLToPath(import.meta.url)), "node-agent.ts");
  return [process.execPath, "--import", tsxLoader, agent, stateDir];
}

async function start(state: ClusterState, name: string, argv: string[]): Promise<ProcessRecord> {
  const record = await startProcess(name, argv, { logFile: join(logDir(state.stateDir), `${name}.log`) });
  state.processes.push(record);
  await writeState(state);
  return record;
}

/** An abort reason for waits: the first recorded process that has exited, with the end of its log. */
function exitedProcess(state: ClusterState): () => string | undefined {
  return () => {
    const dead = state.processes.find((record) => !isRunning(record));
    return dead === undefined ? undefined : `${dead.name} (pid ${dead.pid}) exited; see ${dead.logFile}`;
  };
}

async function withLogTail(state: ClusterState, error: unknown): Promise<Error> {
  const message = error instanceof Error ? error.message : String(error);
  const dead = state.processes.find((record) => !isRunning(record));
  if (dead === undefined) {
    return new Error(message);
  }
  return new Error(`${message}\n--- last lines of ${dead.logFile}:\n${await logTail(dead.logFile)}`);
}

function controlPlaneTls(layout: ControlPlaneLayout): TlsClient {
  return tlsClient(layout.pki.caCertFile, layout.pki.admin);
}

function kubeConfigOf(state: ClusterState): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(state.kubeconfig);
  return kubeConfig;
}

function nodeSpecs(nodes: UpOptions["nodes"]): NodeSpec[] {
  if (typeof nodes === "number") {
    if (!Number.isInteger(nodes) || nodes < 0) {
      throw new Error(`nodes: ${nodes} is not a node count`);
    }
    return Array.from({ length: nodes }, (_, index) => ({ name: `node-${index + 1}` }));
  }
  return nodes ?? [];
}

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the simulated kubelets on loopback,
 * waits until they are ready and registers the requested nodes. On failure, stops whatever it started.
 */
export async function up(options: UpOptions): Promise<ClusterState> {
  const progress = options.onProgress ?? (() => undefined);
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const remaining = (): number => Math.max(deadline - Date.now(), 1);
  const needed = options.controlPlane === "apiserver-only" ? ["etcd", "kube-apiserver", "kubectl"] : clusterBinaries;
  const missing = missingBinaries(needed);
  if (missing.length > 0) {
    throw new Error(`not built: ${missing.join(", ")}; run tools/ensure-deps`);
  }
  const nodes = nodeSpecs(options.nodes);
  const stateDir = options.stateDir;
  await prepareStateDir(stateDir);
  const [pki, ports] = await Promise.all([ensurePki(join(stateDir, "pki")), allocatePorts()]);
  const layout = controlPlaneLayout(stateDir, pki, ports);
  const serverUrl = apiserverUrl(ports);
  await Promise.all([
    writeKubeconfig(layout.adminKubeconfig, {
      serverUrl,
      caCertFile: pki.caCertFile,
      client: pki.admin,
      userName: "admin",
    }),
    writeKubeconfig(layout.controllerManagerKubeconfig, {
      serverUrl,
      caCertFile: pki.caCertFile,
      client: pki.controllerManager,
      userName: "kube-controller-manager",
    }),
    writeKubeconfig(layout.schedulerKubeconfig, {
      serverUrl,
      caCertFile: pki.caCertFile,
      client: pki.scheduler,
      userName: "kube-scheduler",
    }),
  ]);
  const extenders = options.schedulerExtenders ?? [];
  await writeFile(layout.schedulerConfigFile, JSON.stringify(schedulerConfiguration(layout, extenders), null, 2));
  const state: ClusterState = {
    version: 1,
    stateDir,
    kubernetesVersion: "",
    ports,
    kubeconfig: layout.adminKubeconfig,
    schedulerExtenders: extenders,
    processes: [],
    nodes: [],
  };
  await writeState(state);
  try {
    const tls = controlPlaneTls(layout);
    const abortReason = exitedProcess(state);
    progress("starting etcd and kube-apiserver");
    // kube-apiserver retries etcd until it answers, so both start at once.
    await start(state, "etcd", etcdArgv(layout));
    await start(state, "kube-apiserver", apiserverArgv(layout));
    await waitForOk(`${serverUrl}/readyz`, tls, { timeoutMs: remaining(), abortReason });
    const version = JSON.parse((await httpsGet(`${serverUrl}/version`, tls)).body) as { gitVersion: string };
    state.kubernetesVersion = version.gitVersion;
    await writeState(state);
    if (options.controlPlane === "apiserver-only") {
      progress("kube-apiserver is ready");
    } else {
      progress("kube-apiserver is ready; starting kube-controller-manager and kube-scheduler");
      // These two exit when kube-apiserver does not answer at start-up (where kubelet would restart them).
      await start(state, "kube-controller-manager", controllerManagerArgv(layout));
      await start(state, "kube-scheduler", schedulerArgv(layout));
      // Both serve their health endpoints to any client the cluster CA vouches for.
      const healthTls = tlsClient(pki.caCertFile, pki.scheduler);
      const waitOptions = { timeoutMs: remaining(), abortReason };
      await Promise.all([
        waitForOk(`https://127.0.0.1:${ports.controllerManager}/healthz`, healthTls, waitOptions),
        waitForOk(`https://127.0.0.1:${ports.scheduler}/readyz`, healthTls, waitOptions),
      ]);
      progress("kube-controller-manager and kube-scheduler are ready");
    }
    await start(state, "node-agent", nodeAgentArgv(stateDir));
    await Promise.all(nodes.map((spec) => addNode(stateDir, spec)));
    if (nodes.length > 0) {
      progress(`registered nodes: ${nodes.map((spec) => spec.name).join(", ")}`);
    }
    return (await readState(stateDir)) ?? state;
  } catch (error) {
    const reported = await withLogTail(state, error);
    await teardown((await readState(stateDir)) ?? state);
    throw reported;
  }
}

/** Stops the recorded processes (see stopStages) and removes the nodes' LVM sandboxes. */
async function teardown(state: ClusterState): Promise<void> {
  for (const stage of stopStages) {
    const inStage = state.processes.filter((record) => stage.includes(record.name));
    await Promise.all(inStage.map((record) => stopProcess(record)));
  }
  const others = state.processes.filter((record) => !stopStages.flat().includes(record.name));
  await Promise.all(others.map((record) => stopProcess(record)));
  for (const node of state.nodes) {
    await destroyNodeVolumeGroups(node);
  }
}

/**
 * Stops the cluster recorded in stateDir: exactly the processes it started (by pid and start time) and the loop
 * devices of its nodes. Keeps the logs; removes the rest of the state. Returns false when no cluster was recorded.
 */
export async function down(stateDir: string): Promise<boolean> {
  const state = await readState(stateDir);
  if (state === undefined) {
    return false;
  }
  await teardown(state);
  const entries = await readdir(stateDir);
  await Promise.all(
    entries
      .filter((entry) => entry !== "logs" && join(stateDir, entry) !== stateFile(stateDir))
      .map((entry) => rm(join(stateDir, entry), { recursive: true, force: true })),
  );
  await rm(stateFile(stateDir), { force: true });
  return true;
}

export interface ClusterStatus {
  stateDir: string;
  kubeconfig: string;
  kubernetesVersion: string;
  serverUrl: string;
  processes: { name: string; pid: number; running: boolean; logFile: string }[];
  nodes: NodeState[];
  /** Whether every recorded process runs and kube-apiserver answers /readyz. */
  healthy: boolean;
}

/** What runs in stateDir, or undefined when no cluster was started there. */
export async function status(stateDir: string): Promise<ClusterStatus | undefined> {
  const state = await readState(stateDir);
  if (state === undefined) {
    return undefined;
  }
  const processes = state.processes.map((record) => ({
    name: record.name,
    pid: record.pid,
    running: isRunning(record),
    logFile: record.logFile,
  }));
  const serverUrl = apiserverUrl(state.ports);
  let apiserverReady = false;
  try {
    const layout = controlPlaneLayout(stateDir, await ensurePki(join(stateDir, "pki")), state.ports);
    apiserverReady = (await httpsGet(`${serverUrl}/readyz`, controlPlaneTls(layout))).status === 200;
  } catch {
    apiserverReady = false;
  }
  return {
    stateDir,
    kubeconfig: state.kubeconfig,
    kubernetesVersion: state.kubernetesVersion,
    serverUrl,
    processes,
    nodes: state.nodes,
    healthy: apiserverReady && processes.every((entry) => entry.running),
  };
}

async function requireState(stateDir: string): Promise<ClusterState> {
  const state = await readState(stateDir);
  if (state === undefined) {
    throw new Error(`no cluster in ${stateDir}; run \`cluster up\` first`);
  }
  return state;
}

// Node names become Kubernetes object names and volume group names: DNS-1123 labels keep both valid.
const nodeNamePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const deviceClassPattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function deviceClassStates(spec: NodeSpec): DeviceClassState[] {
  const classes = spec.deviceClasses ?? [{ name: defaultDeviceClass }];
  if (classes.length === 0) {
    throw new Error(`node ${spec.name}: deviceClasses is empty; a node needs at least one device-class`);
  }
  const seen = new Set<string>();
  return classes.map((deviceClass, index) => {
    if (!deviceClassPattern.test(deviceClass.name)) {
      throw new Error(`node ${spec.name}: device-class name "${deviceClass.name}" must be a DNS-1123 label`);
    }
    if (seen.has(deviceClass.name)) {
      throw new Error(`node ${spec.name}: device-class "${deviceClass.name}" is listed twice`);
    }
    seen.add(deviceClass.name);
    return {
      name: deviceClass.name,
      volumeGroup: `${spec.name}-${deviceClass.name}`,
      sizeBytes: deviceClass.sizeBytes ?? spec.vgSizeBytes ?? defaultVgSizeBytes,
      default: index === 0,
    };
  });
}

/**
 * Adds a simulated node: its LVM sandbox with one loop volume group per device-class, then the Node, Lease and
 * CSINode a kubelet would register; the node agent keeps it Ready from then on. Resolves when the node controller
 * has lifted the not-ready taint that new nodes are created with, so pods can be scheduled onto it right away (an
 * apiserver-only control plane has no such controller: there the taint stays).
 */
export async function addNode(stateDir: string, spec: NodeSpec, clients?: NodeClients): Promise<NodeState> {
  if (!nodeNamePattern.test(spec.name)) {
    throw new Error(`node name "${spec.name}" must be a DNS-1123 label (lowercase letters, digits and '-')`);
  }
  const initial = await requireState(stateDir);
  if (initial.nodes.some((node) => node.name === spec.name)) {
    throw new Error(`node ${spec.name} already exists in the cluster in ${stateDir}`);
  }
  const deviceClasses = deviceClassStates(spec);
  const agent = initial.processes.find((record) => record.name === "node-agent");
  if (agent === undefined) {
    throw new Error(`the cluster in ${stateDir} has no node agent; restart it with \`cluster up\``);
  }
  const lvm = await createNodeVolumeGroups(join(stateDir, "nodes", spec.name), deviceClasses, agent.pid, spec.activation === true);
  const node: NodeState = { name: spec.name, deviceClasses, lvm };
  const api = clients ?? nodeClients(kubeConfigOf(initial));
  try {
    await registerNode(api, spec.name, {
      kubeletVersion: initial.kubernetesVersion,
      ...(spec.resources === undefined ? {} : { resources: spec.resources }),
      ...(spec.labels === undefined ? {} : { labels: spec.labels }),
    });
    await updateState(stateDir, (state) => {
      state.nodes.push(node);
    });
    // The node lifecycle controller of kube-controller-manager lifts the taint; without it the taint stays.
    if (initial.processes.some((record) => record.name === "kube-controller-manager")) {
      await waitUntilSchedulable(api, spec.name, 60_000);
    }
  } catch (error) {
    await destroyNodeVolumeGroups(node);
    throw error;
  }
  return node;
}

async function waitUntilSchedulable(clients: NodeClients, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const node = await clients.core.readNode({ name });
    const blocking = (node.spec?.taints ?? []).filter(
      (taint) => taint.effect === "NoSchedule" || taint.effect === "NoExecute",
    );
    if (blocking.length === 0) {
      return;
    }
    if (Date.now() >= deadline) {
      const taints = blocking.map((taint) => `${taint.key}:${taint.effect}`).join(", ");
      throw new Error(
        `node ${name} still has taints ${taints} after ${timeoutMs} ms; see the kube-controller-manager log`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Deletes a simulated node from the cluster and destroys its volume groups and loop devices. */
export async function removeNode(stateDir: string, name: string, clients?: NodeClients): Promise<void> {
  const node = (await requireState(stateDir)).nodes.find((entry) => entry.name === name);
  if (node === undefined) {
    throw new Error(`no node ${name} in the cluster in ${stateDir}`);
  }
  const state = await updateState(stateDir, (current) => {
    current.nodes = current.nodes.filter((entry) => entry.name !== name);
  });
  await deleteNode(clients ?? nodeClients(kubeConfigOf(state)), name);
  await destroyNodeVolumeGroups(node);
}

/**
 * Restarts kube-scheduler with new extenders in its KubeSchedulerConfiguration, for tests that start their
 * extender after the cluster; resolves when the new scheduler is ready.
 */
export async function setSchedulerExtenders(stateDir: string, extenders: SchedulerExtender[]): Promise<void> {
  const state = await requireState(stateDir);
  const layout = controlPlaneLayout(stateDir, await ensurePki(join(stateDir, "pki")), state.ports);
  await Promise.all(
    state.processes.filter((record) => record.name === "kube-scheduler").map((record) => stopProcess(record)),
  );
  await writeFile(layout.schedulerConfigFile, JSON.stringify(schedulerConfiguration(layout, extenders), null, 2));
  const record = await startProcess("kube-scheduler", schedulerArgv(layout), {
    logFile: join(logDir(stateDir), "kube-scheduler.log"),
  });
  await updateState(stateDir, (current) => {
    current.schedulerExtenders = extenders;
    current.processes = [...current.processes.filter((entry) => entry.name !== "kube-scheduler"), record];
  });
  const healthTls = tlsClient(layout.pki.caCertFile, layout.pki.scheduler);
  await waitForOk(`https://127.0.0.1:${state.ports.scheduler}/readyz`, healthTls, {
    timeoutMs: 60_000,
    abortReason: () => (isRunning(record) ? undefined : `kube-scheduler exited; see ${record.logFile}`),
  });
}
