#!/usr/bin/env node
import { CoreV1Api, KubeConfig, makeInformer, type V1Node } from "@kubernetes/client-node";
import { registration } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { NodeLister } from "../controller/capacity.js";
import { controllerUsage, FlagError, parseControllerFlags, type ControllerFlags } from "../controller/controller-flags.js";
import { createControllerService } from "../controller/controller-service.js";
import { startCsiServer } from "../csi-server.js";
import { createHttpEndpoints, listen, type Readiness } from "../http-endpoints.js";
import { createIdentityService } from "../identity-service.js";
import { watchInformer } from "../informer.js";
import { createLogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import { createLogicalVolumeIndex } from "../logical-volume/logical-volume-index.js";
import { createLogger } from "../logger.js";

// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const component = "topolvm-controller";

/** What the leader-only controllers are started with. */
interface ControllersContext {
  readonly kubeConfig: KubeConfig;
  readonly flags: ControllerFlags;
  readonly logger: Logger;
  readonly registry: Registry;
}

/**
 * Starts the controllers that must run on one replica only (the Node and PVC finalizers) and returns their stop
 * function. Called while this replica leads (at once with --leader-election=false).
 */
function startControllers(context: ControllersContext): () => Promise<void> {
  // node-finalizer.ts (unless context.flags.skipNodeFinalize) and pvc-finalizer.ts are started here.
  context.logger.info({ skipNodeFinalize: context.flags.skipNodeFinalize }, "leader-only controllers started");
  return () => Promise.resolve();
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

  const kubeConfig = new KubeConfig();
  try {
    if (flags.kubeconfig === undefined) {
      kubeConfig.loadFromDefault();
    } else {
      kubeConfig.loadFromFile(flags.kubeconfig);
    }
  } catch (error) {
    logger.fatal({ err: error, kubeconfig: flags.kubeconfig }, "cannot load the kubeconfig");
    process.exit(1);
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const logicalVolumes = createLogicalVolumeClient(kubeConfig, component);
  const logicalVolumeInformer = logicalVolumes.informer();
  const index = createLogicalVolumeIndex(logicalVolumes, logicalVolumeInformer);
  const coreApi = kubeConfig.makeApiClient(CoreV1Api);
  const nodeInformer = makeInformer<V1Node>(kubeConfig, "/api/v1/nodes", () => coreApi.listNode());
  const nodes: NodeLister = { get: (name) => nodeInformer.get(name), list: () => nodeInformer.list() };
  const informers = [watchInformer(logicalVolumeInformer, { kind: "LogicalVolume", logger }), watchInformer(nodeInformer, { kind: "Node", logger })];

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
  try {
    csiServer = await startCsiServer({
      socketPath: flags.csiSocket,
      services: [registration(csi.Identity, identity), registration(csi.Controller, controller)],
      logger,
      registry,
    });
    await listen(health, flags.healthAddress);
    await listen(metrics, flags.metricsAddress);
  } catch (error) {
    logger.fatal({ err: error }, `${component} could not start`);
    process.exit(1);
  }
  for (const informer of informers) {
    informer.start();
  }
  logger.info({ version, socket: flags.csiSocket, health: flags.healthAddress, metrics: flags.metricsAddress }, `${component} serving`);

  // With --leader-election, leader-election.ts wraps this call site: it calls startControllers once it holds the
  // Lease flags.leaderElectionId in flags.leaderElectionNamespace, and the returned stop function when it loses it.
  const stopControllers = startControllers({ kubeConfig, flags, logger, registry });

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
      logger.info(`${component} stopped`);
      process.exit(0);
    })();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
