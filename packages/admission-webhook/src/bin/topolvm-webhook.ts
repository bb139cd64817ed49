#!/usr/bin/env node
import { createRequire } from "node:module";
import { parseCommand, usage, UsageError } from "../flags.js";
import { createLogger, startWebhook } from "../webhook-server.js";

// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseCommand(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`topolvm-webhook: ${error.message}\n\n${usage}`);
      return 2;
    }
    throw error;
  }
  if ("version" in command) {
    process.stdout.write(`topolvm-webhook ${version}\n`);
    return 0;
  }
  if ("help" in command) {
    process.stdout.write(usage);
    return 0;
  }
  const logger = createLogger(command.run.logLevel);
  // Handlers go in before anything starts: a SIGTERM during start-up must drain too, not kill the process outright.
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    let received = false;
    // A repeated signal must not kill the drain midway (the default action would); kubelet follows up with SIGKILL.
    const onSignal = (name: NodeJS.Signals) => {
      if (received) {
        logger.info({ signal: name }, "already draining");
        return;
      }
      received = true;
      resolve(name);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  let webhook;
  try {
    webhook = await startWebhook(command.run, logger);
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, "cannot start");
    return 1;
  }
  logger.info({ signal: await signal, version }, "draining");
  await webhook.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    // Informer sockets and timers may linger after stop(); the process has nothing left to do.
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`topolvm-webhook: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
