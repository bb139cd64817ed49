// The command lines and environments of TopoLVM's processes and their CSI sidecars, written once: the local
// cluster harness (topolvm.ts) starts them with these, and the chart gives its containers the same flags.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { parse, stringify } from "yaml";

import { binaryPath, cacheDir, type CsiSidecarBinary } from "./binaries.js";
import type { SchedulerExtender } from "./control-plane.js";

/** The namespace of TopoLVM's own objects (leases, CSIStorageCapacity), as DESIGN.md §1 names it. */
export const topolvmNamespace = "topolvm-system";

/** Leader-election id of topolvm-controller (a Lease in topolvmNamespace), as upstream. */
export const controllerLeaderElectionId = "topolvm";

/** The Lease names the sidecars elect their leader with (the driver name with `.` and `/` as `-`). */
export const provisionerLeaseName = "topolvm-cybozu-com";
export const resizerLeaseName = "external-resizer-topolvm-cybozu-com";
export const snapshotterLeaseName = "external-snapshotter-leader-topolvm-cybozu-com";
/** snapshot-controller's Lease: one per cluster, not per driver. */
export const snapshotControllerLeaseName = "snapshot-controller-leader";

/** A JavaScript bin of this repository: its built file, run with the node flags of its shebang. */
export type TopolvmBin = "lvmd" | "topolvm-controller" | "topolvm-node" | "topolvm-scheduler" | "topolvm-webhook";

const binFiles: Record<TopolvmBin, string> = {
  lvmd: "../../../packages/lvmd/dist/bin/lvmd.js",
  "topolvm-controller": "../../../packages/csi-plugin/dist/bin/topolvm-controller.js",
  "topolvm-node": "../../../packages/csi-plugin/dist/bin/topolvm-node.js",
  "topolvm-scheduler": "../../../packages/scheduler-extender/dist/bin/topolvm-scheduler.js",
  "topolvm-webhook": "../../../packages/admission-webhook/dist/bin/topolvm-webhook.js",
};

/** Where the build (`npx nx run-many -t build`) puts a bin. */
export function topolvmBinPath(bin: TopolvmBin): string {
  return fileURLToPath(new URL(binFiles[bin], import.meta.url));
}

/** The bins in `bins` that are not built. */
export function missingTopolvmBins(bins: readonly TopolvmBin[] = Object.keys(binFiles) as TopolvmBin[]): TopolvmBin[] {
  return bins.filter((bin) => {
    try {
      readFileSync(topolvmBinPath(bin));
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * argv that runs a bin as its shebang would (`#!/usr/bin/env -S [NAME=VALUE...] node FLAGS`), with this process's
 * node: the variables the line sets go through env(1), so the process starts with them as it would from the line.
 */
export function topolvmBinArgv(bin: TopolvmBin, args: readonly string[]): string[] {
  const path = topolvmBinPath(bin);
  let first = "";
  try {
    [first = ""] = readFileSync(path, "utf8").split("\n", 1);
  } catch {
    throw new Error(`${bin} is not built (no ${path}): run \`npx nx run-many -t build\``);
  }
  const words = first.replace(/^#!\S+(\s+-S)?\s+/, "").split(/\s+/).filter((word) => word !== "");
  const commandAt = words.findIndex((word) => !/^[A-Za-z_]\w*=/.test(word));
  const assignments = words.slice(0, commandAt === -1 ? words.length : commandAt);
  const command = words.slice(assignments.length);
  const nodeFlags = command[0] === "node" ? command.slice(1) : [];
  const withEnv = assignments.length === 0 ? [] : ["/usr/bin/env", ...assignments];
  return [...withEnv, process.execPath, ...nodeFlags, path, ...args];
}

export interface ControllerFlags {
  csiSocket: string;
  kubeconfig: string;
  healthAddr: string;
  metricsAddr: string;
  /** Default true: two replicas may run, one leads. */
  leaderElection?: boolean;
  skipNodeFinalize?: boolean;
  logLevel?: string;
}

export function controllerArgs(flags: ControllerFlags): string[] {
  return [
    `--csi-socket=${flags.csiSocket}`,
    `--kubeconfig=${flags.kubeconfig}`,
    `--health-addr=${flags.healthAddr}`,
    `--metrics-addr=${flags.metricsAddr}`,
    `--leader-election=${String(flags.leaderElection ?? true)}`,
    `--leader-election-namespace=${topolvmNamespace}`,
    `--leader-election-id=${controllerLeaderElectionId}`,
    ...(flags.skipNodeFinalize === true ? ["--skip-node-finalize"] : []),
    `--log-level=${flags.logLevel ?? "info"}`,
  ];
}

export interface NodeFlags {
  nodeName: string;
  lvmdSocket: string;
  kubeconfig: string;
  healthAddr: string;
  metricsAddr: string;
  logLevel?: string;
  /** Where it serves the CSI Identity and Node services (unix socket). */
  csiSocket: string;
}

export function nodeArgs(flags: NodeFlags): string[] {
  return [
    `--nodename=${flags.nodeName}`,
    `--lvmd-socket=${flags.lvmdSocket}`,
    `--csi-socket=${flags.csiSocket}`,
    `--kubeconfig=${flags.kubeconfig}`,
    `--metrics-addr=${flags.metricsAddr}`,
    `--health-addr=${flags.healthAddr}`,
    `--log-level=${flags.logLevel ?? "info"}`,
  ];
}

/** topolvm-node reads its node from NODE_NAME too (the chart sets it from the downward API). */
export function nodeEnv(nodeName: string): Record<string, string> {
  return { NODE_NAME: nodeName };
}

export interface SidecarFlags {
  /** The controller's CSI socket. */
  csiAddress: string;
  kubeconfig: string;
  /** HOST:PORT of the sidecar's metrics and leader-election health endpoint. */
  httpEndpoint: string;
  /** Timeout of one CSI call; default 30s (the sidecars' 10s is short for a busy node's lvcreate). */
  timeout?: string;
  /** klog verbosity; default 2. */
  verbosity?: number;
}

export interface ProvisionerFlags extends SidecarFlags {
  /** Storage Capacity Tracking: publish CSIStorageCapacity objects from GetCapacity. */
  capacityTracking: boolean;
  /** How often capacity is polled; default 1m as the sidecar (the tests use a few seconds). */
  capacityPollInterval?: string;
}

/** external-provisioner v6: topology (GA, default on), PVC/PV names in the parameters, leader election. */
export function provisionerArgs(flags: ProvisionerFlags): string[] {
  return [
    `--csi-address=${flags.csiAddress}`,
    `--kubeconfig=${flags.kubeconfig}`,
    "--feature-gates=Topology=true",
    "--extra-create-metadata",
    "--leader-election",
    `--leader-election-namespace=${topolvmNamespace}`,
    `--http-endpoint=${flags.httpEndpoint}`,
    `--timeout=${flags.timeout ?? "30s"}`,
    ...(flags.capacityTracking
      ? [
          "--enable-capacity",
          // No owner: there is no Deployment the objects could belong to (the chart uses 2, its Deployment).
          "--capacity-ownerref-level=-1",
          `--capacity-poll-interval=${flags.capacityPollInterval ?? "1m"}`,
        ]
      : []),
    `--v=${flags.verbosity ?? 2}`,
  ];
}

/** The provisioner publishes CSIStorageCapacity objects in the namespace these name. */
export function provisionerEnv(): Record<string, string> {
  return { NAMESPACE: topolvmNamespace, POD_NAMESPACE: topolvmNamespace };
}

/** external-resizer v2 with leader election. */
export function resizerArgs(flags: SidecarFlags): string[] {
  return [
    `--csi-address=${flags.csiAddress}`,
    `--kubeconfig=${flags.kubeconfig}`,
    "--leader-election",
    `--leader-election-namespace=${topolvmNamespace}`,
    `--http-endpoint=${flags.httpEndpoint}`,
    `--timeout=${flags.timeout ?? "30s"}`,
    `--v=${flags.verbosity ?? 2}`,
  ];
}

/** external-snapshotter v8's csi-snapshotter sidecar: the resizer's flags, as both read csi-lib-utils' common ones. */
export function snapshotterArgs(flags: SidecarFlags): string[] {
  return resizerArgs(flags);
}

/** external-snapshotter v8's snapshot-controller (one per cluster, not a sidecar of the driver) with leader election. */
export function snapshotControllerArgs(flags: Omit<SidecarFlags, "csiAddress" | "timeout">): string[] {
  return [
    `--kubeconfig=${flags.kubeconfig}`,
    "--leader-election",
    `--leader-election-namespace=${topolvmNamespace}`,
    `--http-endpoint=${flags.httpEndpoint}`,
    `--v=${flags.verbosity ?? 2}`,
  ];
}

/** The snapshot.storage.k8s.io CRDs of the external-snapshotter release the sidecars are built from (tools/ensure-deps). */
export function snapshotCrdFiles(): string[] {
  const dir = join(cacheDir(), "snapshot-crds");
  return ["volumesnapshotclasses", "volumesnapshotcontents", "volumesnapshots"].map((kind) => join(dir, `snapshot.storage.k8s.io_${kind}.yaml`));
}

/** argv of a sidecar from its cached binary (throws naming tools/ensure-deps when it is not built). */
export function sidecarArgv(name: CsiSidecarBinary, args: readonly string[]): string[] {
  return [binaryPath(name), ...args];
}

/** scheduler-options.yaml of topolvm-scheduler. */
export function schedulerOptions(listen: string, divisors: Record<string, number> = {}): string {
  return stringify({ listen, "default-divisor": 1, divisors });
}

export function schedulerArgs(optionsFile: string, logLevel = "info"): string[] {
  return [`--config=${optionsFile}`, `--log-level=${logLevel}`];
}

const deployedSchedulerConfig = fileURLToPath(
  new URL("../../../deploy/scheduler-config/scheduler-config.yaml", import.meta.url),
);

/**
 * The extender of deploy/scheduler-config/scheduler-config.yaml (filter and prioritize, managedResources
 * `topolvm.cybozu.com/capacity` ignoredByScheduler, nodeCacheCapable false), pointed at urlPrefix.
 */
export async function deployedExtender(urlPrefix: string): Promise<SchedulerExtender> {
  const config = parse(await readFile(deployedSchedulerConfig, "utf8")) as { extenders?: SchedulerExtender[] };
  const extender = config.extenders?.[0];
  if (extender === undefined) {
    throw new Error(`${deployedSchedulerConfig} has no extender`);
  }
  return { ...extender, urlPrefix };
}

export interface WebhookFlags {
  listen: string;
  metricsListen: string;
  certDir: string;
  kubeconfig: string;
  logLevel?: string;
}

export function webhookArgs(flags: WebhookFlags): string[] {
  return [
    `--listen=${flags.listen}`,
    `--metrics-listen=${flags.metricsListen}`,
    `--cert-dir=${flags.certDir}`,
    `--kubeconfig=${flags.kubeconfig}`,
    `--log-level=${flags.logLevel ?? "info"}`,
  ];
}

/** One device-class of lvmd.yaml (upstream's keys). */
export interface LvmdDeviceClassConfig {
  name: string;
  volumeGroup: string;
  default: boolean;
  spareGiB: number;
  stripe?: number;
  stripeSize?: string;
  lvcreateOptions?: string[];
  thinPool?: { name: string; overprovisionRatio: number };
}

export interface LvmdConfigSpec {
  socketName: string;
  lvmCommandPrefix: string[];
  deviceClasses: readonly LvmdDeviceClassConfig[];
  lvcreateOptionClasses?: readonly { name: string; options: string[] }[];
}

/** lvmd.yaml for one node. */
export function lvmdConfig(spec: LvmdConfigSpec): string {
  const config: Record<string, unknown> = {
    "socket-name": spec.socketName,
    "lvm-command-prefix": spec.lvmCommandPrefix,
    "device-classes": spec.deviceClasses.map((deviceClass) => ({
      name: deviceClass.name,
      "volume-group": deviceClass.volumeGroup,
      default: deviceClass.default,
      "spare-gb": deviceClass.spareGiB,
      ...(deviceClass.stripe === undefined ? {} : { stripe: deviceClass.stripe }),
      ...(deviceClass.stripeSize === undefined ? {} : { "stripe-size": deviceClass.stripeSize }),
      ...(deviceClass.lvcreateOptions === undefined ? {} : { "lvcreate-options": deviceClass.lvcreateOptions }),
      ...(deviceClass.thinPool === undefined
        ? {}
        : {
            type: "thin",
            "thin-pool": {
              name: deviceClass.thinPool.name,
              "overprovision-ratio": deviceClass.thinPool.overprovisionRatio,
            },
          }),
    })),
  };
  if (spec.lvcreateOptionClasses !== undefined && spec.lvcreateOptionClasses.length > 0) {
    config["lvcreate-option-classes"] = spec.lvcreateOptionClasses.map((optionClass) => ({
      name: optionClass.name,
      options: optionClass.options,
    }));
  }
  return stringify(config);
}

export function lvmdArgs(configFile: string, logLevel = "info"): string[] {
  return ["--config", configFile, "--log-level", logLevel];
}
