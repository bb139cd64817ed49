// One long-running process of the TopoLVM deployment (lvmd, topolvm-node, topolvm-controller, a sidecar...),
// started detached with its output in a log file, recorded in the cluster's state so `cluster down` stops it too,
// and controllable by tests: stop, SIGKILL, restart, pause (SIGSTOP) and resume.
import { appendFile, readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

import { isRunning, startProcess, stopProcess, type ProcessRecord } from "./processes.js";
import { updateState } from "./state.js";

/** Says whether the process is ready: undefined when it is, else what it is still waiting for. */
export type ReadinessProbe = () => Promise<string | undefined>;

export interface ManagedProcessSpec {
  /** Unique in the cluster, e.g. `lvmd-node-1`; also the name in state.json. */
  name: string;
  argv: readonly string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  logFile: string;
  /** The cluster whose state records the process. */
  stateDir: string;
  ready: ReadinessProbe;
  /** Deadline of ready() after a start; default 120 s (a shared 2-core machine under load is slow). */
  readyTimeoutMs?: number;
  /**
   * Start it again when it exits on its own, as kubelet restarts a container (the CSI sidecars exit when they lose
   * the driver's socket); stop() and kill() do not count. Restarts back off from 1 s, doubling up to 30 s.
   */
  restartOnExit?: boolean;
}

/** A process of the deployment, as tests see it. */
export interface TopolvmProcess {
  readonly name: string;
  readonly logFile: string;
  readonly argv: readonly string[];
  /** The pid of the current run, undefined before the first start. */
  pid(): number | undefined;
  running(): boolean;
  /** Starts it (unless it runs) and resolves when it is ready; fails with its log tail if it exits or is late. */
  start(): Promise<void>;
  /** SIGTERM, SIGKILL after graceMs (default 15 s); resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Sends the signal (default SIGKILL) and resolves when it is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** SIGSTOP: the process stays but does nothing, to hold a window open. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Everything it wrote, all runs (each run starts with a `--- start` line). */
  log(): Promise<string>;
  /** The last lines it wrote. */
  logTail(lines?: number): Promise<string>;
  /** Resolves with the first line of the current run matching pattern. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** How often it was started again after exiting on its own (restartOnExit). */
  restarts(): number;
}

// Processes still running when the test process exits without stopping them (a crash) are killed with it.
const live = new Map<string, ProcessRecord>();
process.once("exit", () => {
  for (const record of live.values()) {
    if (isRunning(record)) {
      process.kill(record.pid, "SIGKILL");
    }
  }
});

const startMarker = "--- start";

async function readLog(logFile: string): Promise<string> {
  try {
    return await readFile(logFile, "utf8");
  } catch {
    return "";
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function recordInState(stateDir: string, name: string, record: ProcessRecord | undefined): Promise<void> {
  await updateState(stateDir, (state) => {
    state.processes = state.processes.filter((entry) => entry.name !== name);
    if (record !== undefined) {
      state.processes.push(record);
    }
  });
}

async function waitGone(record: ProcessRecord, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(record)) {
    if (Date.now() >= deadline) {
      throw new Error(`${record.name} (pid ${record.pid}) did not exit within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}

/** A process handle; nothing runs until start(). */
export function managedProcess(spec: ManagedProcessSpec): TopolvmProcess {
  let record: ProcessRecord | undefined;
  let runStart = 0;
  const readyTimeoutMs = spec.readyTimeoutMs ?? 120_000;
  // Whether the process should be running: set by start(), cleared by stop() and kill().
  let wanted = false;
  let restarts = 0;
  let restarting = false;
  let backoffMs = 1_000;
  const supervisor =
    spec.restartOnExit === true
      ? setInterval(() => {
          if (!wanted || restarting || record === undefined || isRunning(record)) {
            return;
          }
          restarting = true;
          const delayMs = backoffMs;
          backoffMs = Math.min(backoffMs * 2, 30_000);
          void appendFile(spec.logFile, `--- exited on its own; restarting in ${delayMs} ms, as kubelet would\n`)
            .then(() => sleep(delayMs))
            .then(async () => {
              if (wanted && record !== undefined && !isRunning(record)) {
                restarts += 1;
                await handle.start();
                backoffMs = 1_000;
              }
            })
            .catch(() => undefined)
            .finally(() => {
              restarting = false;
            });
        }, 500)
      : undefined;
  supervisor?.unref();

  const currentRunLog = async (): Promise<string> => (await readLog(spec.logFile)).slice(runStart);

  const handle: TopolvmProcess = {
    name: spec.name,
    logFile: spec.logFile,
    argv: spec.argv,
    pid: () => record?.pid,
    running: () => record !== undefined && isRunning(record),
    async start() {
      wanted = true;
      if (handle.running()) {
        return;
      }
      runStart = (await readLog(spec.logFile)).length;
      const launch = async (): Promise<ProcessRecord> => {
        await appendFile(spec.logFile, `${startMarker} ${new Date().toISOString()} ${spec.argv.join(" ")}\n`);
        const launched = await startProcess(spec.name, spec.argv, {
          logFile: spec.logFile,
          env: { ...process.env, ...spec.env },
        });
        live.set(spec.name, launched);
        await recordInState(spec.stateDir, spec.name, launched);
        return launched;
      };
      let current = await launch();
      record = current;
      const started = Date.now();
      let waiting = "no answer yet";
      for (;;) {
        if (!handle.running()) {
          if (spec.restartOnExit !== true || Date.now() - started > readyTimeoutMs) {
            throw new Error(
              `${spec.name} (pid ${current.pid}) exited before it was ready; last lines of ${spec.logFile}:\n` +
                tail(await currentRunLog(), 30),
            );
          }
          if (restarting) {
            // The supervisor is starting it again already.
            await sleep(200);
            continue;
          }
          // A sidecar whose first connection to a slow driver's socket fails exits; kubelet would start it again.
          restarting = true;
          try {
            await appendFile(spec.logFile, `--- exited before it was ready; restarting in ${backoffMs} ms, as kubelet would\n`);
            await sleep(backoffMs);
            backoffMs = Math.min(backoffMs * 2, 30_000);
            restarts += 1;
            current = await launch();
            record = current;
          } finally {
            restarting = false;
          }
          continue;
        }
        try {
          const reason = await spec.ready();
          if (reason === undefined) {
            return;
          }
          waiting = reason;
        } catch (error) {
          waiting = error instanceof Error ? error.message : String(error);
        }
        if (Date.now() - started > readyTimeoutMs) {
          throw new Error(
            `${spec.name} (pid ${current.pid}) was not ready after ${readyTimeoutMs} ms (${waiting}); ` +
              `last lines of ${spec.logFile}:\n${tail(await currentRunLog(), 30)}`,
          );
        }
        await sleep(200);
      }
    },
    async stop(graceMs = 15_000) {
      wanted = false;
      if (record === undefined) {
        return;
      }
      if (isRunning(record)) {
        // A paused process cannot act on SIGTERM.
        process.kill(record.pid, "SIGCONT");
      }
      await stopProcess(record, graceMs);
      live.delete(spec.name);
    },
    async kill(signal = "SIGKILL") {
      wanted = false;
      if (record === undefined || !isRunning(record)) {
        return;
      }
      process.kill(record.pid, signal);
      if (signal !== "SIGKILL") {
        process.kill(record.pid, "SIGCONT");
      }
      await waitGone(record, 30_000);
      live.delete(spec.name);
    },
    async restart() {
      await handle.stop();
      await handle.start();
    },
    pause() {
      if (record !== undefined && isRunning(record)) {
        process.kill(record.pid, "SIGSTOP");
      }
    },
    resume() {
      if (record !== undefined && isRunning(record)) {
        process.kill(record.pid, "SIGCONT");
      }
    },
    restarts: () => restarts,
    log: () => readLog(spec.logFile),
    logTail: async (lines = 30) => tail(await readLog(spec.logFile), lines),
    async waitForLog(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = (await currentRunLog()).split("\n").find((entry) => pattern.test(entry));
        if (line !== undefined) {
          return line;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `${spec.name} logged no line matching ${String(pattern)} within ${timeoutMs} ms; last lines:\n` +
              tail(await currentRunLog(), 30),
          );
        }
        await sleep(200);
      }
    },
  };
  return handle;
}

/** Forgets a stopped process in the cluster's state (the state keeps only what may still run). */
export async function forgetProcess(stateDir: string, name: string): Promise<void> {
  live.delete(name);
  await recordInState(stateDir, name, undefined).catch(() => undefined);
}
