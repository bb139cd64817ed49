import { dirname, join } from "node:path";

import type { LocalCluster } from "../../tools/cluster/src/index.js";
import { freePort, httpStatus } from "../../tools/cluster/src/ports.js";
import { logDir } from "../../tools/cluster/src/state.js";
import type { Topolvm, TopolvmProcess } from "../../tools/cluster/src/topolvm.js";
import { managedProcess } from "../../tools/cluster/src/topolvm-process.js";
import { binDir, isExecutable } from "../../tools/paths.js";

// Upstream TopoLVM v0.38.0's topolvm-controller and topolvm-node (built by tools/deps/45-topolvm-upstream.sh) in
// place of ours on a running harness deployment: the same lvmd on each node, the same CSI socket for the same
// csi-provisioner and csi-resizer, the same webhook and extender. USE_LEGACY=true makes upstream use the
// topolvm.cybozu.com names, so the same CRD, StorageClass, annotations and finalizers serve both.

/** The upstream bins, by their names in TOPOLVM_BIN. */
export const upstreamBins = ["topolvm-controller", "topolvm-node"] as const;

/** The upstream bins that are not built. */
export function upstreamBinsMissing(): string[] {
  return upstreamBins.filter((name) => !isExecutable(join(binDir(), name)));
}

/** Which implementation of topolvm-controller and topolvm-node serves the deployment. */
export type Implementation = "ours" | "upstream";

/** Swaps the deployment's topolvm-controller and topolvm-node processes between ours and upstream's. */
export interface ImplementationSwitch {
  current(): Implementation;
  /** The controller and node processes of the implementation running now. */
  processes(): TopolvmProcess[];
  /** Stops the other implementation's processes and starts these; resolves once the provisioner leads again. */
  use(implementation: Implementation): Promise<void>;
  /** Stops upstream's processes, if they run (ours are the harness's to stop). */
  stop(): Promise<void>;
}

/** The value of `--NAME=VALUE` in an argv. */
function flagValue(argv: readonly string[], name: string): string {
  const prefix = `--${name}=`;
  const value = argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
  if (value === undefined) {
    throw new Error(`no ${prefix} in ${argv.join(" ")}`);
  }
  return value;
}

/** Controller-runtime logs this once a controller's informers have synced and it reconciles. */
const workersStarted = /"msg":"Starting workers"/;

/** A switch over a harness deployment whose own controller and node processes run now. */
export async function implementationSwitch(cluster: LocalCluster, topolvm: Topolvm): Promise<ImplementationSwitch> {
  const logs = logDir(cluster.stateDir);
  const env = { USE_LEGACY: "true", KUBECONFIG: cluster.kubeconfigPath };
  const csiSocket = flagValue(topolvm.controller.argv, "csi-socket");
  const [metricsPort, healthPort] = [await freePort(), await freePort()];
  const controller = managedProcess({
    name: "upstream-topolvm-controller",
    argv: [
      join(binDir(), "topolvm-controller"),
      `--csi-socket=${csiSocket}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${healthPort}`,
      "--enable-webhooks=false",
      "--leader-election=false",
    ],
    env,
    logFile: join(logs, "upstream-topolvm-controller.log"),
    stateDir: cluster.stateDir,
    ready: () => httpStatus(`http://127.0.0.1:${healthPort}/readyz`),
  });
  const nodes: TopolvmProcess[] = [];
  for (const node of topolvm.nodes.values()) {
    const port = await freePort();
    nodes.push(
      managedProcess({
        name: `upstream-topolvm-node-${node.name}`,
        argv: [
          join(binDir(), "topolvm-node"),
          `--nodename=${node.name}`,
          `--lvmd-socket=${node.lvmdSocket}`,
          `--csi-socket=${join(dirname(node.lvmdSocket), "upstream-node-csi.sock")}`,
          `--metrics-bind-address=127.0.0.1:${port}`,
        ],
        env: { ...env, NODE_NAME: node.name },
        logFile: join(logs, `upstream-topolvm-node-${node.name}.log`),
        stateDir: cluster.stateDir,
        ready: () => httpStatus(`http://127.0.0.1:${port}/metrics`),
      }),
    );
  }
  const ours = (): TopolvmProcess[] => [topolvm.controller, ...[...topolvm.nodes.values()].map((node) => node.node)];
  const theirs = (): TopolvmProcess[] => [controller, ...nodes];
  let current: Implementation = "ours";

  const { provisioner, resizer } = topolvm;
  if (provisioner === undefined || resizer === undefined) {
    throw new Error("switching implementations needs TopoLVM's CSI sidecars: start it with a scheduling mode other than none");
  }
  const sidecars = [provisioner, resizer];
  return {
    current: () => current,
    processes: () => (current === "ours" ? ours() : theirs()),
    async use(implementation) {
      if (implementation === current) {
        return;
      }
      // The sidecars exit when their CSI connection drops; stop them first and start them against the new server.
      await Promise.all(sidecars.map((sidecar) => sidecar.stop()));
      await Promise.all((current === "ours" ? ours() : theirs()).map((process) => process.stop()));
      const [next, ...nextNodes] = implementation === "ours" ? [topolvm.controller, ...ours().slice(1)] : theirs();
      await Promise.all(
        nextNodes.map(async (process) => {
          await process.start();
          if (implementation === "upstream") {
            await process.waitForLog(workersStarted, 120_000);
          }
        }),
      );
      await next?.start();
      if (implementation === "upstream") {
        await next?.waitForLog(workersStarted, 120_000);
      }
      await Promise.all(sidecars.map((sidecar) => sidecar.start()));
      // Ready once the Lease has a live holder, which may still be the provisioner just stopped: wait for this one.
      await provisioner.waitForLog(/successfully acquired lease/i, 120_000);
      current = implementation;
    },
    async stop() {
      await Promise.all(theirs().map((process) => process.stop()));
    },
  };
}
