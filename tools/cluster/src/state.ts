import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

import type { ControlPlanePorts, SchedulerExtender } from "./control-plane.js";
import type { ProcessRecord } from "./processes.js";

/** One TopoLVM device-class of a simulated node, backed by its own volume group in the node's LVM sandbox. */
export interface DeviceClassState {
  name: string;
  volumeGroup: string;
  sizeBytes: number;
  default: boolean;
}

/** A node's LVM sandbox (tools/lvm-sandbox): its loop-backed volume groups and private LVM configuration. */
export interface NodeVolumeGroups {
  dir: string;
  /** Add these to a process's environment to run LVM commands (lvmd) against this node's volume groups only. */
  env: { LVM_SYSTEM_DIR: string; LVM_SUPPRESS_FD_WARNINGS: string };
  volumeGroups: { name: string; physicalVolumes: string[] }[];
}

export interface NodeState {
  name: string;
  deviceClasses: DeviceClassState[];
  lvm: NodeVolumeGroups;
}

/**
 * Everything a later command needs to find and stop a running cluster, written to STATE_DIR/state.json. Commands
 * of one cluster are expected to run one at a time (one writer); every write replaces the file atomically.
 */
export interface ClusterState {
  version: 1;
  stateDir: string;
  kubernetesVersion: string;
  ports: ControlPlanePorts;
  kubeconfig: string;
  schedulerExtenders: SchedulerExtender[];
  processes: ProcessRecord[];
  nodes: NodeState[];
}

export function stateFile(stateDir: string): string {
  return join(stateDir, "state.json");
}

export function logDir(stateDir: string): string {
  return join(stateDir, "logs");
}

/** The recorded state of the cluster in stateDir, or undefined when none was started there. */
export async function readState(stateDir: string): Promise<ClusterState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(stateDir), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw error;
  }
  const parsed = JSON.parse(text) as { version?: unknown };
  if (parsed.version !== 1) {
    throw new Error(`${stateFile(stateDir)} has version ${String(parsed.version)}; this harness writes version 1`);
  }
  return parsed as ClusterState;
}

export async function writeState(state: ClusterState): Promise<void> {
  await mkdir(state.stateDir, { recursive: true });
  const file = stateFile(state.stateDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temporary, file);
}

const updates = new Map<string, Promise<unknown>>();

/**
 * Reads, changes and writes the state of stateDir; updates from this process run one after another, so nodes
 * added concurrently (as `up` does) are all recorded.
 */
export async function updateState(stateDir: string, change: (state: ClusterState) => void): Promise<ClusterState> {
  const previous = updates.get(stateDir) ?? Promise.resolve();
  const next = previous.then(async () => {
    const state = await readState(stateDir);
    if (state === undefined) {
      throw new Error(`no cluster in ${stateDir}; run \`cluster up\` first`);
    }
    change(state);
    await writeState(state);
    return state;
  });
  updates.set(
    stateDir,
    next.catch(() => undefined),
  );
  return next;
}
