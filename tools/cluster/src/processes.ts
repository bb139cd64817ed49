import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

/** A process the cluster started, as recorded in its state file so that a later `down` stops exactly it. */
export interface ProcessRecord {
  name: string;
  pid: number;
  /**
   * Start time from /proc/PID/stat (clock ticks after boot): tells this process apart from an unrelated one that
   * reuses its pid after it exited, so nothing but the recorded process is ever signalled.
   */
  startTime: number;
  argv: string[];
  logFile: string;
}

export interface StartOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Start time of a live (non-zombie) process, or undefined when there is no such process. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") {
    return undefined;
  }
  const startTime = Number(fields[19]);
  return Number.isFinite(startTime) ? startTime : undefined;
}

/** Whether the recorded process is still running (and is the one that was recorded). */
export function isRunning(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

/**
 * Starts argv in its own session with stdout and stderr appended to a log file, and does not wait for it: the
 * cluster outlives the command that started it and is stopped by pid.
 */
export async function startProcess(
  name: string,
  argv: readonly string[],
  options: StartOptions,
): Promise<ProcessRecord> {
  const [command, ...args] = argv;
  if (command === undefined) {
    throw new Error(`no command given for process ${name}`);
  }
  const log = openSync(options.logFile, "a");
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) => {
        reject(new Error(`could not start ${name} (${command}): ${error.message}`));
      });
    });
    child.unref();
    const pid = child.pid;
    const startTime = pid === undefined ? undefined : processStartTime(pid);
    if (pid === undefined || startTime === undefined) {
      throw new Error(`${name} exited immediately; see ${options.logFile}`);
    }
    return { name, pid, startTime, argv: [...argv], logFile: options.logFile };
  } finally {
    closeSync(log);
  }
}

/** Sends SIGTERM to the recorded process, then SIGKILL after graceMs; resolves once it is gone. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!isRunning(record)) {
    return;
  }
  process.kill(record.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isRunning(record)) {
    if (Date.now() >= deadline) {
      process.kill(record.pid, "SIGKILL");
      break;
    }
    await sleep(50);
  }
  const killDeadline = Date.now() + 5_000;
  while (isRunning(record)) {
    if (Date.now() >= killDeadline) {
      throw new Error(`${record.name} (pid ${record.pid}) did not exit after SIGKILL`);
    }
    await sleep(50);
  }
}

/** The last lines of a log file, to quote in an error about the process that wrote it. */
export async function logTail(logFile: string, lines = 20): Promise<string> {
  try {
    const text = await readFile(logFile, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
