#!/usr/bin/env -S node --max-semi-space-size=1
import type { V1Node } from "@kubernetes/client-node";
import { connectKube, createInformer, type KubeClient } from "@topolvm/kube-client";
import { unixSocketTransport } from "@topolvm/lvmd";
import { createRequire } from "node:module";
import type { Server } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { CsiServer } from "../csi-server.js";
import { createHttpEndpoints, listen, type ListenAddress, type Readiness } from "../http-endpoints.js";
import { describeError, logInformer, startController, withoutManagedFields } from "../informer.js";
import { createLogger } from "../logger.js";
import { createLogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import { startCapacityAnnotator } from "../node/capacity-annotator.js";
import { createLogicalVolumeReconciler } from "../node/logical-volume-reconciler.js";
import { createLvmdClient } from "../node/lvmd-client.js";
import { createNodeMetrics } from "../node/metrics.js";
import { startNodeCsiServer } from "../node/node-csi-server.js";
import { NodeFlagError, nodeUsage, parseNodeFlags, type NodeFlags } from "../node/node-flags.js";

// The shebang caps V8's young generation at 1 MiB per semi-space, as lvmd's: the process allocates little per event
// or call, and the default (16 MiB) only lets its idle RSS grow by about 5 MiB (DESIGN.md §5: at most 70 MB idle).
// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const fieldManager = "topolvm-node";
/** LogicalVolumes reconciled at once: also the bound on concurrent lvmd mutations from this node. */
const RECONCILE_CONCURRENCY = 4;
const LVMD_HEALTH_PERIOD_MS = 5_000;
/** Longest wait for in-flight reconciles after SIGTERM (kubelet's default grace period is 30 s). */
const DRAIN_TIMEOUT_MS = 25_000;

/** A client from --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the service account. */
async function connect(path: string | undefined): Promise<KubeClient> {
  try {
    return await connectKube(path === undefined ? {} : { kubeconfig: path });
  } catch (error) {
    throw new NodeFlagError(`--kubeconfig: ${JSON.stringify(path ?? "(default)")}: ${(error as Error).message}`);
  }
}

const sameAddress = (a: ListenAddress, b: ListenAddress): boolean => a.host === b.host && a.port === b.port;

async function run(flags: NodeFlags, kube: KubeClient): Promise<number> {
  const { nodeName } = flags;
  const logger = createLogger("topolvm-node", flags.logLevel).child({ node: nodeName });
  logger.info({ version, lvmdSocket: flags.lvmdSocket, csiSocket: flags.csiSocket }, "starting");

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = createNodeMetrics(registry, nodeName);
  const lvmd = createLvmdClient(unixSocketTransport(flags.lvmdSocket));
  const logicalVolumes = createLogicalVolumeClient(kube, fieldManager);

  const lvController = startController({
    name: "logicalvolume",
    informer: logicalVolumes.informer({ nodeName }),
    keyOf: (lv) => (lv.spec.nodeName === nodeName ? lv.metadata.name : undefined),
    reconcile: createLogicalVolumeReconciler({ nodeName, logicalVolumes, lvmd, logger: logger.child({ controller: "logicalvolume" }), metrics }),
    logger,
    concurrency: RECONCILE_CONCURRENCY,
  });

  const annotator = startCapacityAnnotator({
    nodeName,
    lvmd,
    metrics,
    logger: logger.child({ controller: "node-capacity" }),
    patchNode: (patch) => kube.patch<V1Node>(`/api/v1/nodes/${encodeURIComponent(nodeName)}`, patch, { type: "strategic", fieldManager }),
  });
  // This node's Node, as metadata only: the annotator reads its annotations, finalizers and deletion.
  const nodeInformer = createInformer<V1Node>(kube, {
    path: "/api/v1/nodes",
    fieldSelector: `metadata.name=${nodeName}`,
    metadataOnly: true,
    transform: withoutManagedFields,
  });
  logInformer(nodeInformer, { kind: "Node", logger });
  nodeInformer.on("add", (node) => {
    annotator.nodeChanged(node);
  });
  nodeInformer.on("update", (node) => {
    annotator.nodeChanged(node);
  });
  nodeInformer.on("delete", () => {
    annotator.nodeChanged(undefined);
  });
  nodeInformer.start();

  // lvmd missing at start (or restarting) is a state, not a crash: calls fail Unavailable and are retried.
  let lvmdServing: boolean | undefined;
  const checkLvmd = async (): Promise<void> => {
    const serving = await lvmd.isServing();
    if (serving !== lvmdServing) {
      logger[serving ? "info" : "warn"]({ lvmdSocket: flags.lvmdSocket }, serving ? "lvmd is serving" : "lvmd is not serving");
    }
    lvmdServing = serving;
  };
  void checkLvmd();
  const healthTimer = setInterval(() => void checkLvmd(), LVMD_HEALTH_PERIOD_MS);

  let stopping = false;
  const readiness = (): Readiness => {
    if (stopping) {
      return { ready: false, reason: "stopping" };
    }
    if (lvmdServing !== true) {
      return { ready: false, reason: `lvmd at ${flags.lvmdSocket} does not answer health checks` };
    }
    if (!lvController.synced()) {
      return { ready: false, reason: "LogicalVolume informer not synced" };
    }
    if (!nodeInformer.synced()) {
      return { ready: false, reason: "Node informer not synced" };
    }
    return { ready: true };
  };

  // Probe tells kubelet's probes (through livenessprobe) whether volumes can be served: that needs lvmd only.
  const csiReadiness = (): Readiness => {
    if (stopping) {
      return { ready: false, reason: "stopping" };
    }
    return lvmdServing === true ? { ready: true } : { ready: false, reason: `lvmd at ${flags.lvmdSocket} does not answer health checks` };
  };

  const servers: Server[] = [];
  let ports: { health: number; metrics: number };
  let csiServer: CsiServer;
  try {
    csiServer = await startNodeCsiServer({
      socketPath: flags.csiSocket,
      nodeName,
      version,
      lvmd,
      readiness: csiReadiness,
      logger,
      deviceDir: flags.deviceDir,
      registry,
    });
  } catch (error) {
    logger.fatal({ err: (error as Error).message, csiSocket: flags.csiSocket }, "cannot serve the CSI socket");
    clearInterval(healthTimer);
    return 1;
  }
  try {
    if (sameAddress(flags.healthAddress, flags.metricsAddress)) {
      const server = createHttpEndpoints({ registry, readiness });
      servers.push(server);
      const port = await listen(server, flags.healthAddress);
      ports = { health: port, metrics: port };
    } else {
      const health = createHttpEndpoints({ readiness });
      const metricsServer = createHttpEndpoints({ registry, readiness });
      servers.push(health, metricsServer);
      ports = { health: await listen(health, flags.healthAddress), metrics: await listen(metricsServer, flags.metricsAddress) };
    }
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, "cannot listen");
    await csiServer.close();
    return 1;
  }
  logger.info({ healthPort: ports.health, metricsPort: ports.metrics, csiSocket: flags.csiSocket }, "started");

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  stopping = true;
  logger.info({ signal }, "stopping: no new work; finishing the running reconciles and CSI calls");
  clearInterval(healthTimer);
  const drained = Promise.all([lvController.stop(), annotator.stop(), nodeInformer.stop(), csiServer.close()]).then(
    () => true,
    (error: unknown) => {
      logger.warn({ err: describeError(error) }, "stopping failed");
      return true;
    },
  );
  let drainTimer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    drainTimer = setTimeout(() => {
      resolve(false);
    }, DRAIN_TIMEOUT_MS);
  });
  if (!(await Promise.race([drained, timedOut]))) {
    logger.warn({ timeoutMs: DRAIN_TIMEOUT_MS }, "reconciles still running after the drain timeout; exiting (they resume on restart)");
  }
  clearTimeout(drainTimer);
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  logger.info("stopped");
  return 0;
}

async function main(): Promise<number> {
  let kube: KubeClient;
  let flags: NodeFlags;
  try {
    const command = parseNodeFlags(process.argv.slice(2), process.env);
    if (command.kind === "help") {
      process.stdout.write(nodeUsage);
      return 0;
    }
    if (command.kind === "version") {
      process.stdout.write(`topolvm-node ${version}\n`);
      return 0;
    }
    flags = command.flags;
    kube = await connect(flags.kubeconfig);
  } catch (error) {
    if (error instanceof NodeFlagError) {
      process.stderr.write(`topolvm-node: ${error.message}\nRun topolvm-node --help for the flags.\n`);
      return 2;
    }
    throw error;
  }
  try {
    return await run(flags, kube);
  } finally {
    kube.close();
  }
}

main().then(
  (code) => {
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`topolvm-node: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
