// The main job's demo (`bash tools/main`): a local cluster of three simulated nodes, TopoLVM installed from the Helm
// chart's rendered objects, pods with PVCs placed where space exists, tables of what happened, and a pod that fits
// nowhere. It stops everything it started at the end, on Ctrl-C and on error, unless --keep.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";

import { binDir, cacheDir } from "../../paths.js";
import { down } from "../../cluster/src/cluster.js";
import {
  chartWebhookCertificate,
  perNodeLvmdValues,
  startCluster,
  startTopolvmFromChart,
  type ChartTopolvm,
  type LocalCluster,
} from "../../cluster/src/index.js";
import { nodeTable, type StatusJson } from "./node-table.js";
import { createProgress } from "./progress.js";
import { demoNodes, demoPods, demoStorageClasses, placePod, type Placement } from "./scenario.js";

const execFileAsync = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../../..");
const topolvmBin = join(repoRoot, "node_modules/.bin/topolvm");

const usage = `Usage: bash tools/main [--keep] [--state-dir DIR]

Runs TopoLVM on a local cluster of three simulated nodes and shows where pods with PVCs land and why.
  --keep            leave the cluster running at the end and print how to reach it
  --state-dir DIR   where the cluster lives (default $TOPOLVM_CACHE/demo)
`;

/** `topolvm status` as the command prints it, for people or as JSON. */
async function topolvmStatus(kubeconfig: string, output: "table" | "json"): Promise<string> {
  const { stdout } = await execFileAsync(topolvmBin, ["status", "--kubeconfig", kubeconfig, "--output", output]);
  return stdout;
}

/** Everything the demo started, stopped in reverse order; safe to call twice. */
function createCleanup(): { add(stop: () => Promise<void>): void; run(): Promise<void> } {
  const stops: (() => Promise<void>)[] = [];
  return {
    add(stop) {
      stops.push(stop);
    },
    async run() {
      while (stops.length > 0) {
        await stops.pop()?.();
      }
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { keep: { type: "boolean" }, "state-dir": { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  const stateDir = values["state-dir"] ?? join(cacheDir(), "demo");
  const cleanup = createCleanup();
  const interrupted = { value: false };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted.value) {
      return;
    }
    interrupted.value = true;
    process.stdout.write(`\n${signal}: stopping everything the demo started\n`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const progress = createProgress({ total: 4 + demoPods.length });
  try {
    await progress.step("Cleaning up after an earlier run", async () => {
      if (existsSync(join(stateDir, "state.json"))) {
        await down(stateDir);
      }
    });
    const cluster: LocalCluster = await progress.step("Starting etcd, kube-apiserver, kube-scheduler and 3 simulated nodes", () =>
      startCluster({
        nodes: demoNodes.map((node, i) => (i === 0 ? { ...node, labels: { "node-role.kubernetes.io/control-plane": "" } } : node)),
        stateDir,
        timeoutMs: 300_000,
      }),
    );
    cleanup.add(() => cluster.stop());
    const topolvm: ChartTopolvm = await progress.step("Installing TopoLVM from charts/topolvm (lvmd, topolvm-node, controller, webhook, scheduler)", async () => {
      const certificate = await chartWebhookCertificate(cluster);
      return startTopolvmFromChart(cluster, {
        values: {
          lvmd: perNodeLvmdValues(await cluster.nodes()),
          webhook: { certManager: { enabled: false }, caBundle: certificate.caBundle },
          scheduler: { enabled: true, type: "daemonset" },
          storageClasses: demoStorageClasses,
        },
        extraObjects: [certificate.secret],
        readyTimeoutMs: 300_000,
      });
    });
    cleanup.add(() => topolvm.stop());

    const before = JSON.parse(await topolvmStatus(cluster.kubeconfigPath, "json")) as StatusJson;
    progress.print(`\nThe nodes before any volume (topolvm status):\n\n${await topolvmStatus(cluster.kubeconfigPath, "table")}`);

    const placements: Placement[] = [];
    for (const pod of demoPods) {
      const asks = pod.claims.map((claim) => `${String(claim.sizeBytes / 2 ** 30)} GiB ${claim.storageClass}`).join(" + ");
      const placement = await progress.step(`Pod ${pod.name} with PVCs of ${asks}`, () => placePod(cluster, pod));
      placements.push(placement);
      progress.print(
        placement.node === undefined
          ? `    Pending: ${placement.pendingReason ?? ""}\n    (${pod.why})`
          : `    → ${placement.node}, PVCs ${placement.claims.map((claim) => claim.name).join(", ")} Bound (${pod.why})`,
      );
    }

    const after = JSON.parse(await topolvmStatus(cluster.kubeconfigPath, "json")) as StatusJson;
    progress.print(`\nThe nodes after (topolvm status):\n\n${await topolvmStatus(cluster.kubeconfigPath, "table")}`);
    const lvs = new Map(await Promise.all((await cluster.nodes()).map(async (node) => [node.name, await topolvm.lvs(node.name)] as const)));
    progress.print(`\nPer node and device-class, with the LVs as lvs shows them in each volume group:\n\n${nodeTable(await cluster.nodes(), before, after, placements, lvs)}`);
    const pending = placements.find((placement) => placement.node === undefined);
    if (pending !== undefined) {
      progress.print(`\nPod ${pending.pod} stays Pending. kube-scheduler says: ${pending.pendingReason ?? ""}\n`);
    }

    if (values.keep === true) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      progress.print(
        `The cluster keeps running (state in ${stateDir}). Try:\n` +
          `  export KUBECONFIG=${cluster.kubeconfigPath} PATH=${binDir()}:$PATH\n` +
          "  kubectl get nodes,pvc,pods -o wide\n" +
          "  kubectl get logicalvolumes\n" +
          "  node_modules/.bin/topolvm status; node_modules/.bin/topolvm check\n" +
          `Stop it with: tools/cluster/cluster down --state-dir ${stateDir}\n`,
      );
      return;
    }
    await progress.step("Stopping everything the demo started", () => cleanup.run());
  } catch (error) {
    if (!interrupted.value) {
      process.stderr.write(`demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      await cleanup.run();
      process.exitCode = 1;
    }
  }
}

await main();
