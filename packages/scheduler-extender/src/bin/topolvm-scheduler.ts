#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=32768 node --heap-growing-percent=300 --semi-space-growth-factor=1 --expose-gc
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import { createExtenderApp } from "../extender-app.js";
import { startExtenderServer, type ExtenderServer } from "../extender-server.js";
import { createExtenderMetrics } from "../metrics.js";
import {
  KubeConfigError,
  createKubeClient,
  inClusterCredentials,
  readKubeconfig,
  type KubeClient,
} from "@topolvm/kube-client";
import { createGcHint, missingMemorySettings } from "../memory-settings.js";
import { createNodeCache, type NodeCache } from "../node-cache.js";
import { SchedulerOptionsError, loadSchedulerOptions, schedulerOptionsFrom } from "../scheduler-options.js";

// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const usage = `Usage: topolvm-scheduler [--config FILE] [--kubeconfig FILE | --in-cluster] [--log-level LEVEL]

The kube-scheduler extender of TopoLVM: POST /predicate, POST /prioritize, GET /status, GET /metrics.

  --config FILE      scheduler-options.yaml: listen (default ":9251"), default-divisor (default 1),
                     divisors (device-class: number > 0)
  --kubeconfig FILE  keep a node cache from this cluster, for nodeCacheCapable: true
  --in-cluster       keep a node cache using the pod's service account
  --log-level LEVEL  trace, debug, info (default), warn, error
  --version          print the version
  --help             print this help
`;

/** How long in-flight requests get after SIGTERM before their connections are cut. */
const drainGraceMs = 25_000;

/** A started node cache and the client it watches with. */
interface RunningNodeCache {
  readonly cache: NodeCache;
  readonly client: KubeClient;
}

async function startNodeCache(kubeconfig: string | undefined, logger: Logger): Promise<RunningNodeCache> {
  const credentials = kubeconfig === undefined ? await inClusterCredentials() : await readKubeconfig(kubeconfig);
  const client = createKubeClient(credentials, { userAgent: `topolvm-scheduler/${version}` });
  const cache = createNodeCache({ client, logger });
  cache.start();
  return { cache, client };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: "string" },
      kubeconfig: { type: "string" },
      "in-cluster": { type: "boolean" },
      "log-level": { type: "string", default: "info" },
      version: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.version === true) {
    process.stdout.write(`topolvm-scheduler ${version}\n`);
    return;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  if (values.kubeconfig !== undefined && values["in-cluster"] === true) {
    throw new UsageError("--kubeconfig and --in-cluster exclude each other");
  }
  const levels = ["trace", "debug", "info", "warn", "error"];
  if (!levels.includes(values["log-level"])) {
    throw new UsageError(`--log-level: "${values["log-level"]}" is not one of ${levels.join(", ")}`);
  }
  const options = values.config === undefined ? schedulerOptionsFrom({}) : await loadSchedulerOptions(values.config);
  // Synchronous writes keep lines in order and lose none at process.exit.
  const logger = pino({ name: "topolvm-scheduler", level: values["log-level"] }, pino.destination({ dest: 1, sync: true }));
  const missing = missingMemorySettings();
  if (missing.length > 0) {
    logger.warn({ missing }, "started without the memory settings of the bin's first line: more memory stays resident after large requests");
  }

  const running =
    values.kubeconfig !== undefined || values["in-cluster"] === true
      ? await startNodeCache(values.kubeconfig, logger)
      : undefined;
  const nodeCache = running?.cache;
  const metrics = createExtenderMetrics({
    processMetrics: true,
    ...(nodeCache === undefined ? {} : { cachedNodes: () => nodeCache.size() }),
  });
  // Readiness reads the server's draining state, and the server needs the app first.
  const serverRef: { current?: ExtenderServer } = {};
  const app = createExtenderApp({
    context: { divisors: options.divisors, nodeCache },
    metrics,
    logger,
    afterLargeBody: createGcHint(),
    notReadyReason: () => {
      if (serverRef.current?.draining() === true) {
        return "shutting down";
      }
      return nodeCache?.synced() === false ? "node cache not synced with the API server yet" : undefined;
    },
  });
  const listening = await startExtenderServer(app, options.listen);
  serverRef.current = listening;
  logger.info(
    {
      version,
      address: listening.address.address,
      port: listening.address.port,
      nodeCache: nodeCache !== undefined,
      defaultDivisor: options.divisors.defaultDivisor,
      divisors: Object.fromEntries(options.divisors.byDeviceClass),
    },
    "listening",
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    logger.info({ signal }, "draining");
    void (async () => {
      await listening.close(drainGraceMs);
      await nodeCache?.stop();
      running?.client.close();
      logger.info("stopped");
      process.exit(0);
    })();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

class UsageError extends Error {}

main().catch((error: unknown) => {
  if (error instanceof UsageError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
    process.stderr.write(`topolvm-scheduler: ${error.message}\n${usage}`);
    process.exitCode = 2;
    return;
  }
  // Bad options and system errors (EADDRINUSE, a missing kubeconfig) are the operator's to fix: no stack for them.
  const expected =
    error instanceof SchedulerOptionsError || error instanceof KubeConfigError || (error instanceof Error && "code" in error);
  const message = error instanceof Error ? (expected ? error.message : (error.stack ?? error.message)) : String(error);
  process.stderr.write(`topolvm-scheduler: ${message}\n`);
  process.exitCode = 1;
});
