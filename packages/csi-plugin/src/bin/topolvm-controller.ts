#!/usr/bin/env -S node --max-semi-space-size=1
import { connectKube, type KubeClient } from "@topolvm/kube-client";
import { registration } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { NodeLister } from "../controller/capacity.js";
import { controllerUsage, FlagError, parseControllerFlags, type ControllerFlags } from "../controller/controller-flags.js";
import { createControllerService } from "../controller/controller-service.js";
import { leaderIdentity, runLeaderElection } from "../controller/leader-election.js";
import { createNodeInformer, startNodeFinalizer, type CachedNode } from "../controller/node-finalizer.js";
import { startPvcFinalizer } from "../controller/pvc-finalizer.js";
import { startCsiServer } from "../csi-server.js";
import { createHttpEndpoints, listen, type Readiness } from "../http-endpoints.js";
import { createIdentityService } from "../identity-service.js";
import { logInformer, type CachedInformer } from "../informer.js";
import { createLogicalVolumeClient, type LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import { createLogicalVolumeIndex } from "../logical-volume/logical-volume-index.js";
import { createLogger } from "../logger.js";

// The shebang caps V8's young generation at 1 MiB per semi-space, as lvmd's: the process allocates little per event
// or call, and the default (16 MiB) only lets its idle RSS grow by about 5 MiB (DESIGN.md §5: at most 70 MB idle).
// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const component = "topolvm-controller";

/** What the leader-only controllers are started with. */
interface ControllersContext {
  readonly kube: KubeClient;
  readonly flags: ControllerFlags;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly logicalVolumes: LogicalVolumeClient;
  /** The process's Node informer, shared with the Node finalizer. */
  readonly nodes: { readonly informer: CachedInformer<CachedNode>; readonly synced: () => boolean };
}

/**
 * Starts the controllers that must run on one replica only (the Node and PVC finalizers) and returns their stop
 * function. Called while this replica leads (at once with --leader-election=false).
 */
function startControllers(context: ControllersContext): () => Promise<void> {
  const { kube, flags, logger, logicalVolumes, nodes } = context;
  const controllers = [
    startNodeFinalizer({ kube, logicalVolumes, logger, skipNodeFinalize: flags.skipNodeFinalize, nodes }),
    startPvcFinalizer({ kube, logger }),
  ];
  logger.info({ skipNodeFinalize: flags.skipNodeFinalize }, "leader-only controllers started");
  return async () => {
    await Promise.all(controllers.map((controller) => controller.stop()));
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeAllConnections();
  });
}

async function main(): Promise<void> {
  let command;
  try {
    command = parseControllerFlags(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof FlagError)) {
      throw error;
    }
    process.stderr.write(`${component}: ${error.message}\nRun '${component} --help' for the flags.\n`);
    process.exit(2);
  }
  if (command.kind === "version") {
    process.stdout.write(`${component} ${version}\n`);
    return;
  }
  if (command.kind === "help") {
    process.stdout.write(controllerUsage);
    return;
  }
  const { flags } = command;
  const logger = createLogger(component, flags.logLevel);

  let kube: KubeClient;
  try {
    // --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the service account.
    kube = await connectKube(flags.kubeconfig === undefined ? {} : { kubeconfig: flags.kubeconfig });
  } catch (error) {
    logger.fatal({ err: error, kubeconfig: flags.kubeconfig }, "cannot load the kubeconfig");
    process.exit(1);
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const logicalVolumes = createLogicalVolumeClient(kube, component);
  const logicalVolumeInformer = logicalVolumes.informer();
  const index = createLogicalVolumeIndex(logicalVolumes, logicalVolumeInformer);
  const nodeInformer = createNodeInformer(kube);
  const nodes: NodeLister = { get: (name) => nodeInformer.get(name), list: () => nodeInformer.list() };
  logInformer(logicalVolumeInformer, { kind: "LogicalVolume", logger });
  logInformer(nodeInformer, { kind: "Node", logger });
  const informers = [logicalVolumeInformer, nodeInformer];

  let stopping = false;
  const synced = (): boolean => informers.every((informer) => informer.synced());
  const readiness = (): Readiness => {
    if (stopping) {
      return { ready: false, reason: "shutting down" };
    }
    return synced() ? { ready: true } : { ready: false, reason: "the LogicalVolume and Node caches have not synced with the API server yet" };
  };

  const identity = createIdentityService({ version, readiness, controllerService: true });
  const controller = createControllerService({ client: logicalVolumes, index, nodes, synced, minimumAllocation: flags.minimumAllocation, logger });
  const health = createHttpEndpoints({ readiness });
  const metrics = createHttpEndpoints({ registry, readiness });
  let csiServer;
  let ports;
  try {
    csiServer = await startCsiServer({
      socketPath: flags.csiSocket,
      services: [registration(csi.Identity, identity), registration(csi.Controller, controller)],
      logger,
      registry,
    });
    ports = { health: await listen(health, flags.healthAddress), metrics: await listen(metrics, flags.metricsAddress) };
  } catch (error) {
    logger.fatal({ err: error }, `${component} could not start`);
    process.exit(1);
  }
  for (const informer of informers) {
    informer.start();
  }
  logger.info({ version, socket: flags.csiSocket, healthPort: ports.health, metricsPort: ports.metrics }, `${component} serving`);

  // With --leader-election the controllers run only while this replica holds the Lease; losing it stops them and
  // the replica campaigns again; stopping releases the Lease after they have stopped, so a standby takes over at once.
  const nodeCache = { informer: nodeInformer, synced: () => informers.every((informer) => informer.synced()) };
  const context: ControllersContext = { kube, flags, logger, registry, logicalVolumes, nodes: nodeCache };
  let stopControllers: () => Promise<void>;
  if (flags.leaderElection) {
    const election = runLeaderElection({
      api: kube,
      namespace: flags.leaderElectionNamespace,
      name: flags.leaderElectionId,
      identity: leaderIdentity(),
      logger,
      onStartedLeading: async (signal) => {
        const stopLeading = startControllers(context);
        await new Promise((resolve) => {
          signal.addEventListener("abort", resolve, { once: true });
        });
        await stopLeading();
      },
    });
    stopControllers = () => election.stop();
  } else {
    stopControllers = startControllers(context);
  }

  const server = csiServer;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, "draining");
    void (async () => {
      await stopControllers();
      await server.close();
      await Promise.all([closeServer(health), closeServer(metrics), ...informers.map((informer) => informer.stop())]);
      kube.close();
      logger.info(`${component} stopped`);
      process.exit(0);
    })();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
