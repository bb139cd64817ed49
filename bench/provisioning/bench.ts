import { CoreV1Api } from "@kubernetes/client-node";
import { loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

import { clusterPrerequisitesMissing, startCluster, type LocalCluster, type NodeSpec } from "../../tools/cluster/src/index.js";
import { startTopolvm, topolvmPrerequisitesMissing, type Topolvm, type TopolvmProcess } from "../../tools/cluster/src/topolvm.js";
import { until } from "../../tools/eventually.js";
import { median, percentile } from "../support/stats.js";
import { volumeGroupReports } from "./lvs.js";
import { rssMiB, sampleRss } from "./rss.js";
import { implementationSwitch, upstreamBinsMissing, type Implementation, type ImplementationSwitch } from "./upstream.js";
import { logicalVolumesPerNode, provisioningFailures, removeWorkload, runWorkload, storageClassName, type WorkloadResult } from "./workload.js";

// Provisioning on the local cluster (tools/cluster) with TopoLVM deployed by the harness (tools/cluster/src/topolvm.ts:
// lvmd and topolvm-node per simulated node, topolvm-controller with csi-provisioner and csi-resizer, the webhook and
// the extender called by kube-scheduler), every volume a real LV in the node's sandbox volume group:
//   (a) --claims PVCs (default 100), each with a pod, on a one-node cluster: from the first request to all Bound;
//   (c) the same with upstream TopoLVM v0.38.0's topolvm-controller and topolvm-node (USE_LEGACY=true) in place of
//       ours, on the same cluster with the same lvmd, sidecars, webhook and extender, in the same run. The
//       implementations take turns in --rounds rounds, ours first in even rounds and upstream first in odd ones, so
//       a slow spell of this shared machine, or the cluster's growing history, falls on both alike;
//   (b) 2 x --race-per-node pods (default 20) racing for two nodes that fit --race-per-node volumes each: all Bound,
//       that many per node, none stuck, no LV beyond a volume group (checked with vgs and lvs), ours and upstream.
// Prints each run's time, ours/upstream (target <= 1.0, DESIGN.md §5), and the RSS of every process idle (after
// --settle seconds without requests) and under load (the peak sampled during the runs; targets for ours: <= 70 MB
// idle, <= 120 MB under load).
//   node --import tsx bench/provisioning/bench.ts [--claims 100] [--rounds 2] [--race-per-node 10] [--settle 15]
// Needs root (loop devices), tools/ensure-deps (cluster binaries, sidecars, upstream's bins in $TOPOLVM_BIN) and
// `npx nx run-many -t build`. Without upstream's bins the bench runs ours only and prints no ratio.

const args = new Map<string, number>();
for (let i = 2; i < process.argv.length; i += 2) {
  args.set(process.argv[i]?.replace(/^--/, "") ?? "", Number(process.argv[i + 1]));
}
const claims = args.get("claims") ?? 100;
const rounds = args.get("rounds") ?? 2;
const racePerNode = args.get("race-per-node") ?? 10;
const settleSeconds = args.get("settle") ?? 15;
const timeoutMs = (args.get("timeout") ?? 600) * 1000;

const GiB = 1024 ** 3;
const extentBytes = 4 * 1024 * 1024;
const claimBytes = GiB;

const missing = [...clusterPrerequisitesMissing(), ...topolvmPrerequisitesMissing()];
if (missing.length > 0) {
  console.log(`cannot run: ${missing.join("; ")}`);
  process.exit(1);
}
const upstreamMissing = upstreamBinsMissing();
const implementations: Implementation[] = upstreamMissing.length === 0 ? ["ours", "upstream"] : ["ours"];
if (upstreamMissing.length > 0) {
  console.log(`upstream ${upstreamMissing.join(", ")} not built (run tools/ensure-deps): ours only, no ratio this run`);
}
console.log(`${claims} PVCs on one node, ${rounds} rounds; race: ${2 * racePerNode} pods for 2 nodes of ${racePerNode}; load average ${loadavg()[0]?.toFixed(1) ?? "?"}`);

/** RSS per process name: idle once settled, and the peak seen under load. */
const memory = new Map<string, { idleMiB: number; loadMiB: number }>();

function runningProcesses(topolvm: Topolvm, swap: ImplementationSwitch | undefined): TopolvmProcess[] {
  const all = [...topolvm.processes(), ...(swap?.current() === "upstream" ? swap.processes() : [])];
  return all.filter((process) => process.running());
}

function watched(processes: readonly TopolvmProcess[]): { name: string; pid: number }[] {
  return processes.flatMap((process) => {
    const pid = process.pid();
    return pid === undefined ? [] : [{ name: process.name, pid }];
  });
}

/** Waits --settle seconds and records the RSS of the processes that have none recorded idle yet. */
async function recordIdle(processes: readonly TopolvmProcess[]): Promise<void> {
  await sleep(settleSeconds * 1000);
  for (const { name, pid } of watched(processes)) {
    const entry = memory.get(name);
    if (entry === undefined || Number.isNaN(entry.idleMiB)) {
      memory.set(name, { idleMiB: rssMiB(pid), loadMiB: entry?.loadMiB ?? Number.NaN });
    }
  }
}

/** Runs a workload while sampling the RSS of the processes, and records each one's peak. */
async function measured(
  cluster: LocalCluster,
  processes: readonly TopolvmProcess[],
  options: { namespace: string; claims: number; sizeBytes: number },
): Promise<WorkloadResult> {
  const sampler = sampleRss(watched(processes));
  try {
    return await runWorkload(cluster.kubeConfig, { ...options, timeoutMs });
  } finally {
    for (const span of sampler.stop()) {
      const entry = memory.get(span.name) ?? { idleMiB: Number.NaN, loadMiB: Number.NaN };
      if (!(entry.loadMiB >= span.peakMiB)) {
        entry.loadMiB = span.peakMiB;
      }
      memory.set(span.name, entry);
    }
  }
}

/** Switches to an implementation (recording the idle RSS of its processes the first time) unless it runs already. */
async function use(topolvm: Topolvm, swap: ImplementationSwitch | undefined, implementation: Implementation): Promise<void> {
  if (swap === undefined || swap.current() === implementation) {
    return;
  }
  await swap.use(implementation);
  await recordIdle(runningProcesses(topolvm, swap));
}

/** Removes a workload and waits until the volume groups of these nodes hold no LV. */
async function clean(cluster: LocalCluster, topolvm: Topolvm, namespace: string): Promise<void> {
  await removeWorkload(cluster.kubeConfig, namespace, timeoutMs);
  await until(
    "every LV to be removed",
    async () => (await Promise.all([...topolvm.nodes.values()].map((node) => node.lvs()))).every((lvs) => lvs.length === 0),
    timeoutMs,
  );
}

/**
 * Starts a cluster with these nodes and TopoLVM on it (and upstream's processes to switch to, when built), records
 * the idle RSS, runs `body`, and stops everything; on failure prints the tail of every TopoLVM process's log.
 */
async function onCluster<T>(
  nodes: NodeSpec[],
  body: (cluster: LocalCluster, topolvm: Topolvm, swap: ImplementationSwitch | undefined) => Promise<T>,
): Promise<T> {
  const cluster = await startCluster({ nodes });
  let topolvm: Topolvm | undefined;
  let swap: ImplementationSwitch | undefined;
  try {
    topolvm = await startTopolvm(cluster, { scheduling: "extender", storageClasses: [{ name: storageClassName, fsType: "ext4" }] });
    swap = implementations.includes("upstream") ? await implementationSwitch(cluster, topolvm) : undefined;
    await recordIdle(runningProcesses(topolvm, swap));
    return await body(cluster, topolvm, swap);
  } catch (error) {
    if (topolvm !== undefined) {
      console.log(await topolvm.logTails(20));
    }
    throw error;
  } finally {
    await swap?.stop();
    await topolvm?.stop();
    await cluster.stop();
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

/** The --claims PVCs on one node, ours and upstream's in turns: each implementation's times in ms. */
async function oneNode(): Promise<Record<Implementation, number[]>> {
  const times: Record<Implementation, number[]> = { ours: [], upstream: [] };
  // Room for every claim, plus the volume group's metadata.
  await onCluster([{ name: "node-1", vgSizeBytes: claims * claimBytes + 4 * GiB }], async (cluster, topolvm, swap) => {
    const node = topolvm.node("node-1");
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? implementations : [...implementations].reverse();
      for (const implementation of order) {
        await use(topolvm, swap, implementation);
        const namespace = `bench-${implementation}-${round}`;
        const result = await measured(cluster, runningProcesses(topolvm, swap), { namespace, claims, sizeBytes: claimBytes });
        const lvs = await node.lvs();
        const placed = [...result.podsPerNode].map(([name, count]) => `${name} ${count}`).join(", ");
        console.log(
          `${implementation.padEnd(8)} round ${round + 1}: ${claims} PVCs Bound in ${seconds(result.allBoundMs)} s ` +
            `(half of them by ${seconds(percentile(result.boundMs, 50))} s); pods on ${placed}; ${lvs.length} LVs in node-1's VG`,
        );
        if (lvs.length !== claims) {
          throw new Error(`node-1 has ${lvs.length} LVs for ${claims} Bound PVCs`);
        }
        times[implementation].push(result.allBoundMs);
        await clean(cluster, topolvm, namespace);
      }
    }
  });
  return times;
}

/** The race: 2 x racePerNode pods for two nodes that fit racePerNode volumes each, per implementation. */
async function race(): Promise<void> {
  const nodes = ["node-1", "node-2"].map((name) => ({ name, vgSizeBytes: racePerNode * GiB + GiB / 2 }));
  await onCluster(nodes, async (cluster, topolvm, swap) => {
    const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
    // A size that racePerNode volumes fit in the smaller node's free bytes and one more does not.
    const free = await Promise.all(
      [...topolvm.nodes.values()].map(async (node) => {
        const key = `capacity.topolvm.cybozu.com/${node.deviceClasses[0]?.name ?? ""}`;
        return Number((await core.readNode({ name: node.name })).metadata?.annotations?.[key]);
      }),
    );
    const sizeBytes = Math.floor(Math.min(...free) / racePerNode / extentBytes) * extentBytes;
    console.log(`race: ${2 * racePerNode} PVCs of ${(sizeBytes / GiB).toFixed(3)} GiB for nodes with ${free.map((bytes) => (bytes / GiB).toFixed(3)).join(" and ")} GiB free`);
    for (const implementation of implementations) {
      await use(topolvm, swap, implementation);
      const namespace = `race-${implementation}`;
      const result = await measured(cluster, runningProcesses(topolvm, swap), { namespace, claims: 2 * racePerNode, sizeBytes });
      const failures = await provisioningFailures(cluster.kubeConfig, namespace);
      const logicalVolumes = await logicalVolumesPerNode(cluster.kubeConfig);
      const problems: string[] = [];
      const report: string[] = [];
      for (const node of topolvm.nodes.values()) {
        const pods = result.podsPerNode.get(node.name) ?? 0;
        for (const vg of await volumeGroupReports(node)) {
          const usedBytes = vg.lvSizesBytes.reduce((sum, bytes) => sum + bytes, 0);
          report.push(`${node.name}: ${pods} pods, ${logicalVolumes.get(node.name) ?? 0} LogicalVolumes, ${vg.lvSizesBytes.length} LVs using ${(usedBytes / GiB).toFixed(2)} of ${(vg.sizeBytes / GiB).toFixed(2)} GiB`);
          if (usedBytes > vg.sizeBytes || vg.freeBytes < 0) {
            problems.push(`${vg.volumeGroup} holds more than it has`);
          }
          if (vg.lvSizesBytes.length !== racePerNode) {
            problems.push(`${vg.volumeGroup} has ${vg.lvSizesBytes.length} LVs`);
          }
        }
        if (pods !== racePerNode) {
          problems.push(`${node.name} got ${pods} pods`);
        }
        if ((logicalVolumes.get(node.name) ?? 0) !== racePerNode) {
          problems.push(`${node.name} has ${logicalVolumes.get(node.name) ?? 0} LogicalVolumes`);
        }
      }
      console.log(
        `${implementation.padEnd(8)} race: ${2 * racePerNode} PVCs Bound in ${seconds(result.allBoundMs)} s after ${failures} failed provisioning attempts; ` +
          `${report.join("; ")}${problems.length === 0 ? "" : `; WRONG: ${problems.join(", ")}`}`,
      );
      if (problems.length > 0) {
        throw new Error(`race with ${implementation}: ${problems.join(", ")}`);
      }
      await clean(cluster, topolvm, namespace);
    }
  });
}

function printMemory(title: string): void {
  console.log(`${title}\nprocess                              idle MiB   under load MiB (peak)`);
  for (const [name, { idleMiB, loadMiB }] of [...memory].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${name.padEnd(36)} ${idleMiB.toFixed(0).padStart(9)} ${loadMiB.toFixed(0).padStart(12)}`);
  }
  memory.clear();
}

const times = await oneNode();
printMemory("RSS, one-node cluster (idle once settled; peak while the PVCs were provisioned):");
await race();
printMemory("RSS, race cluster:");

const ours = median(times.ours);
console.log(`ours: ${times.ours.map(seconds).join(" / ")} s, median ${seconds(ours)} s`);
if (times.upstream.length > 0) {
  const theirs = median(times.upstream);
  console.log(`upstream v0.38.0: ${times.upstream.map(seconds).join(" / ")} s, median ${seconds(theirs)} s`);
  console.log(`time ours/upstream, ${claims} PVCs to Bound: ${(ours / theirs).toFixed(2)} (target <= 1.0)`);
}
