import { spawn, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The built bin the integration tests run (the `integration` target depends on `build`). */
export const schedulerBin = fileURLToPath(new URL("../../dist/bin/topolvm-scheduler.js", import.meta.url));

/** A running topolvm-scheduler process. */
export interface SchedulerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  stop(): Promise<number | string>;
}

/** What a process that ended before listening printed. */
export interface SchedulerRun {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** How a test starts the bin: as the kernel runs it (its first line's interpreter), or as `node <bin>`. */
export type StartedAs = "bin" | "plain node";

/**
 * Spawns the bin as execve does: the interpreter of its first line, that line's one argument, the bin's path, then
 * `args`; or with this process's node, which gives it none of that line's settings.
 */
function spawnBin(args: readonly string[], startedAs: StartedAs): ChildProcess & { stdout: Readable; stderr: Readable } {
  if (!existsSync(schedulerBin)) {
    throw new Error(`${schedulerBin} is missing: build the package first (npx nx run scheduler-extender:build)`);
  }
  const stdio: { stdio: ["ignore", "pipe", "pipe"] } = { stdio: ["ignore", "pipe", "pipe"] };
  if (startedAs === "plain node") {
    return spawn(process.execPath, [schedulerBin, ...args], stdio);
  }
  const firstLine = readFileSync(schedulerBin, "utf8").split("\n", 1)[0] ?? "";
  const match = /^#!\s*(\S+)(?:\s+(.*\S))?\s*$/.exec(firstLine);
  if (match?.[1] === undefined) {
    throw new Error(`${schedulerBin} does not start with an interpreter line: ${firstLine}`);
  }
  return spawn(match[1], [...(match[2] === undefined ? [] : [match[2]]), schedulerBin, ...args], stdio);
}

function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      resolve(code ?? signal ?? "unknown");
    });
  });
}

/** Runs the bin to completion (for flag and option errors). */
export async function runScheduler(args: readonly string[]): Promise<SchedulerRun> {
  const child = spawnBin(args, "bin");
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const code = await exitOf(child);
  return { code, stdout, stderr };
}

/** Starts the bin and waits for its "listening" log line; pass an options file with `listen: 127.0.0.1:0`. */
export async function startScheduler(
  args: readonly string[],
  { startedAs = "bin", timeoutMs = 20_000 }: { startedAs?: StartedAs; timeoutMs?: number } = {},
): Promise<SchedulerProcess> {
  const child = spawnBin(args, startedAs);
  const exited = exitOf(child);
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let pending = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`topolvm-scheduler did not log "listening" within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "listening" && typeof entry.port === "number") {
          clearTimeout(timer);
          resolve(entry.port);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`topolvm-scheduler exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    port,
    logs,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
      }
      return exited;
    },
  };
}
