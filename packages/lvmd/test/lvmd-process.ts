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
 * How long a test waits for lvmd to serve. Generous: these are correctness tests, and in the TCG VM on a
 * loaded, shared machine lvmd and the first health call each take seconds. A hook that starts lvmd allows
 * `lvmdStartHookTimeoutMs`, so this deadline (which prints what lvmd wrote) fires before the hook's own timeout.
 */
export const lvmdStartTimeoutMs = 120_000;
/** A beforeAll timeout for a hook that makes a sandbox and starts lvmd once: the start deadline plus room for the rest. */
export const lvmdStartHookTimeoutMs = lvmdStartTimeoutMs + 180_000;

/**
 * Starts the built lvmd and resolves once it serves: its "lvmd serving" log line (written after the socket is bound,
 * so the process must log at info or below) is the sync point, confirmed by one health check.
 */
export async function startLvmd(args: readonly string[], env: Record<string, string>, socketPath: string): Promise<LvmdProcess> {
  const child = spawn(process.execPath, [...shebangNodeFlags(), lvmdBin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", resolve);
  });
  let timer: NodeJS.Timeout | undefined;
  const serving = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      if (output.includes('"msg":"lvmd serving"')) resolve();
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    void exited.then((code) => {
      reject(new Error(`lvmd exited with ${String(code)} before it served; it wrote:\n${output}`));
    });
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`lvmd did not serve within ${lvmdStartTimeoutMs} ms; it wrote:\n${output}`));
    }, lvmdStartTimeoutMs);
  });
  try {
    await serving;
  } finally {
    clearTimeout(timer);
  }
  const status = await checkHealth(socketPath, 30_000);
  if (status !== ServingStatus.SERVING) {
    child.kill("SIGKILL");
    throw new Error(`lvmd logged that it serves but its health is ${ServingStatus[status]}; it wrote:\n${output}`);
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
