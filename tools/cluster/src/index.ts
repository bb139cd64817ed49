// The local cluster as a test helper: `startCluster()` in beforeAll, `cluster.stop()` in afterAll, one cluster
// per test file. Tests import this file by relative path.
import { KubeConfig } from "@kubernetes/client-node";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { sandboxUnavailableReason } from "../../lvm-sandbox/index.js";
import { clusterBinaries, missingBinaries } from "./binaries.js";
import { addNode, down, removeNode, setSchedulerExtenders, up, type ControlPlaneMode, type NodeSpec } from "./cluster.js";
import { apiserverUrl, type SchedulerExtender } from "./control-plane.js";
import { isRunning, type ProcessRecord } from "./processes.js";
import { nodeClients, registerCsiDriver, type CsiNodeInfo } from "./simulated-node.js";
import { readState, type NodeState } from "./state.js";

export type { ControlPlaneMode, DeviceClassSpec, NodeSpec } from "./cluster.js";
export type { SchedulerExtender } from "./control-plane.js";
export type { CsiNodeInfo, NodeResources } from "./simulated-node.js";
export type { DeviceClassState, NodeState } from "./state.js";
export { startTopolvm, topolvmPrerequisitesMissing } from "./topolvm.js";
export { chartWebhookCertificate, perNodeLvmdValues, startTopolvmFromChart } from "./chart-topolvm.js";
export type { ChartProcess, ChartTopolvm, StartTopolvmFromChartOptions } from "./chart-topolvm.js";
export type {
  LogicalVolumeReport,
  SchedulingMode,
  StartTopolvmOptions,
  StorageClassSpec,
  ThinPoolKind,
  Topolvm,
  TopolvmDeviceClass,
  TopolvmNode,
  TopolvmProcess,
} from "./topolvm.js";

export interface StartClusterOptions {
  /** A count (nodes node-1, node-2, ...) or the nodes themselves; default 1. */
  nodes?: number | NodeSpec[];
  schedulerExtenders?: SchedulerExtender[];
  /** Default "full"; "apiserver-only" runs etcd and kube-apiserver (and the simulated kubelets) only. */
  controlPlane?: ControlPlaneMode;
  /** Receives one line per start-up step ("kube-apiserver is ready", ...). */
  onProgress?: (message: string) => void;
  /** Limit for the whole start-up; default 120 s (more under the VM's emulated CPUs). */
  timeoutMs?: number;
  /** Default: a new temporary directory, removed by stop(). */
  stateDir?: string;
}

export interface LocalCluster {
  stateDir: string;
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  serverUrl: string;
  kubernetesVersion: string;
  /** The nodes as recorded now, with their device-classes and LVM sandboxes. */
  nodes(): Promise<NodeState[]>;
  addNode(spec: NodeSpec | string): Promise<NodeState>;
  removeNode(name: string): Promise<void>;
  /** Registers a CSI driver on a node as kubelet does after NodeGetInfo (CSINode entry, topology labels). */
  registerCsiDriver(nodeName: string, info: CsiNodeInfo): Promise<void>;
  /** Restarts kube-scheduler with these extenders. */
  setSchedulerExtenders(extenders: SchedulerExtender[]): Promise<void>;
  /** Stops every process of the cluster, removes its loop devices and (unless given) its state directory. */
  stop(): Promise<void>;
}

/**
 * What is missing to start a cluster on this machine (binaries not built by tools/ensure-deps, what LVM sandboxes
 * need); empty when a cluster can start. Tests skip on it locally and fail under CI=true.
 */
export function clusterPrerequisitesMissing(): string[] {
  const missing = missingBinaries(clusterBinaries).map((name) => `${name} (run tools/ensure-deps)`);
  const lvm = sandboxUnavailableReason();
  return lvm === undefined ? missing : [...missing, lvm];
}

// Processes of clusters whose stop() has not run, killed when the test process exits without it.
const unstopped = new Set<ProcessRecord[]>();
process.once("exit", () => {
  for (const records of unstopped) {
    for (const record of records) {
      if (isRunning(record)) {
        process.kill(record.pid, "SIGKILL");
      }
    }
  }
});

/** Starts a cluster with its nodes; resolves once kube-apiserver, the controllers and the scheduler are ready. */
export async function startCluster(options: StartClusterOptions = {}): Promise<LocalCluster> {
  const ownStateDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), "topolvm-cluster-")));
  const state = await up({
    stateDir,
    nodes: options.nodes ?? 1,
    ...(options.controlPlane === undefined ? {} : { controlPlane: options.controlPlane }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.schedulerExtenders === undefined ? {} : { schedulerExtenders: options.schedulerExtenders }),
  });
  const tracked = state.processes;
  unstopped.add(tracked);
  const refreshTracked = async (): Promise<void> => {
    const current = await readState(stateDir);
    tracked.splice(0, tracked.length, ...(current?.processes ?? []));
  };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(state.kubeconfig);
  const clients = nodeClients(kubeConfig);
  return {
    stateDir,
    kubeconfigPath: state.kubeconfig,
    kubeConfig,
    serverUrl: apiserverUrl(state.ports),
    kubernetesVersion: state.kubernetesVersion,
    nodes: async () => (await readState(stateDir))?.nodes ?? [],
    addNode: (spec) => addNode(stateDir, typeof spec === "string" ? { name: spec } : spec, clients),
    removeNode: (name) => removeNode(stateDir, name, clients),
    registerCsiDriver: (nodeName, info) => registerCsiDriver(clients, nodeName, info),
    setSchedulerExtenders: async (extenders) => {
      await setSchedulerExtenders(stateDir, extenders);
      await refreshTracked();
    },
    stop: async () => {
      await down(stateDir);
      unstopped.delete(tracked);
      if (ownStateDir) {
        await rm(stateDir, { recursive: true, force: true });
      }
    },
  };
}
