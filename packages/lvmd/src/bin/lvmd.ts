#!/usr/bin/env -S node --max-semi-space-size=1
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import type { Level } from "pino";
import { ConfigError, defaultConfigPath, loadConfig } from "../config.js";
import { createLogger, logLevels } from "../logger.js";
import { startLvmdServer } from "../lvmd-server.js";

// The shebang caps V8's young generation at 1 MiB per semi-space: lvmd allocates little per call, and the default
// (16 MiB) would only let its RSS grow after a few large GetLVList answers.
// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const healthTimeoutMs = 5000;

const usage = `Usage: lvmd [flags]            serve the lvmd gRPC API on a unix socket
       lvmd health [flags]     exit 0 when the lvmd on the socket answers SERVING (liveness probe)

Flags:
  --config PATH      lvmd.yaml to read (default ${defaultConfigPath})
  --socket PATH      unix socket to serve on, overriding the config's socket-name
  --log-level LEVEL  ${logLevels.join(", ")} (default info)
  --version          print the version and exit
  --help             print this help and exit
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`lvmd: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        config: { type: "string", default: defaultConfigPath },
        socket: { type: "string" },
        "log-level": { type: "string", default: "info" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    process.stdout.write(`lvmd ${version}\n`);
    return;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return;
  }
  const level = values["log-level"];
  if (!(logLevels as readonly string[]).includes(level)) {
    fail(`--log-level must be one of ${logLevels.join(", ")}, got ${JSON.stringify(level)}`);
  }
  const command = positionals[0] ?? "serve";
  if (positionals.length > 1 || (command !== "serve" && command !== "health")) {
    fail(`unknown command ${JSON.stringify(positionals.join(" "))}\n${usage}`);
  }

  let config;
  try {
    config = await loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      fail(err.message, 1);
    }
    throw err;
  }
  const socketPath = values.socket ?? config.socketName;

  if (command === "health") {
    // Loaded only here: the daemon itself never needs the Connect client stack in memory.
    const { checkHealth } = await import("../health-client.js");
    const { ServingStatus } = await import("../health.js");
    try {
      const status = await checkHealth(socketPath, healthTimeoutMs);
      process.stdout.write(`${ServingStatus[status]}\n`);
      process.exitCode = status === ServingStatus.SERVING ? 0 : 1;
    } catch (err) {
      fail(`health check of ${socketPath} failed: ${(err as Error).message}`, 1);
    }
    return;
  }

  const logger = createLogger(level as Level);
  let server;
  try {
    server = await startLvmdServer({ config, socketPath, logger });
  } catch (err) {
    logger.fatal({ err }, err instanceof ConfigError ? err.message : "lvmd could not start");
    process.exit(1);
  }
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, "draining");
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

await main();
