// The simulated kubelets of one cluster, as one process: started by `cluster up`, stopped by `cluster down`.
// Every leaseRenewIntervalMs it renews the Lease of each node listed in the state file (re-read every round, so
// add-node and remove-node take effect without a restart) and now and then the heartbeat of its conditions.
import { KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";

import { heartbeat, leaseRenewIntervalMs, nodeClients } from "./simulated-node.js";
import { readState } from "./state.js";

/** Condition heartbeats every this many lease renewals (one minute), as kubelet reports unchanged status rarely. */
const statusEveryRounds = 6;

function logLine(message: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message, ...fields })}\n`);
}

async function main(stateDir: string): Promise<void> {
  const stop = new AbortController();
  process.once("SIGTERM", () => {
    stop.abort();
  });
  process.once("SIGINT", () => {
    stop.abort();
  });
  let kubeconfigPath: string | undefined;
  let clients: ReturnType<typeof nodeClients> | undefined;
  for (let round = 1; !stop.signal.aborted; round++) {
    const state = await readState(stateDir);
    if (state === undefined) {
      logLine("the cluster state is gone; stopping");
      return;
    }
    if (clients === undefined || kubeconfigPath !== state.kubeconfig) {
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(state.kubeconfig);
      clients = nodeClients(kubeConfig);
      kubeconfigPath = state.kubeconfig;
    }
    const refreshStatus = round % statusEveryRounds === 0;
    const active = clients;
    await Promise.all(
      state.nodes.map(async ({ name }) => {
        try {
          if (!(await heartbeat(active, name, refreshStatus))) {
            logLine("node no longer exists; skipped", { node: name });
          }
        } catch (error) {
          logLine("heartbeat failed", { node: name, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
    await sleep(leaseRenewIntervalMs, undefined, { signal: stop.signal }).catch(() => undefined);
  }
  logLine("stopped");
}

const stateDir = process.argv[2];
if (stateDir === undefined) {
  process.stderr.write("usage: node-agent STATE_DIR\n");
  process.exit(2);
}
await main(stateDir);
