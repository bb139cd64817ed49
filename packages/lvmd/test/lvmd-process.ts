import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { checkHealth } from "../src/health-client.js";
import { ServingStatus } from "../src/health.js";

// The built lvmd bin, started as its own process, as systemd or a DaemonSet would.
export const lvmdBin = fileURLToPath(new URL("../dist/bin/lvmd.js", import.meta.url));

/** The node flags of the bin's shebang (`#!/usr/bin/env -S node FLAGS`), so tests run lvmd exactly as installed. */
export function shebangNodeFlags(): string[] {
  const [first = ""] = readFileSync(lvmdBin, "utf8").split("\n", 1);
  const words = first.replace(/^#!\S+(\s+-S)?\s+/, "").split(/\s+/);
  return words[0] === "node" ? words.slice(1) : [];
}

export interface LvmdProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout (JSON log lines) and stderr so far. */
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * How long a test waits for lvmd to report SERVING. Generous: these are correctness tests, and in the TCG VM on a
 * loaded, shared machine lvmd and the first health call each take seconds. A hook that starts lvmd allows
 * `lvmdStartHookTimeoutMs`, so this deadline (which prints what lvmd wrote) fires before the hook's own timeout.
 */
export const lvmdStartTimeoutMs = 120_000;
/** A beforeAll timeout for a hook that makes a sandbox and starts lvmd once: the start deadline plus room for the rest. */
export const lvmdStartHookTimeoutMs = lvmdStartTimeoutMs + 180_000;

export async function startLvmd(args: readonly string[], env: Record<string, string>, socketPath: string): Promise<LvmdProcess> {
  const child = spawn(process.execPath, [...shebangNodeFlags(), lvmdBin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", resolve);
  });
  const startedAt = Date.now();
  let lastHealth = "no answer yet";
  for (;;) {
    if (child.exitCode !== null) throw new Error(`lvmd exited with ${child.exitCode} before it was healthy; it wrote:\n${output}`);
    const status = await checkHealth(socketPath, 5_000).catch((err: unknown) => {
      lastHealth = err instanceof Error ? err.message : String(err);
      return undefined;
    });
    if (status === ServingStatus.SERVING) break;
    if (status !== undefined) lastHealth = `status ${ServingStatus[status]}`;
    if (Date.now() - startedAt > lvmdStartTimeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`lvmd was not healthy after ${lvmdStartTimeoutMs} ms (last health check: ${lastHealth}); it wrote:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
