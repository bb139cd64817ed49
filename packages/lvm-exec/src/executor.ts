import { execFile } from "node:child_process";

export interface ExecOptions {
  /** The complete environment of the command. */
  env: Readonly<Record<string, string>>;
  /** The caller's time limit; the library enforces it through `signal`, an executor may also use it. */
  timeoutMs: number;
  /** Aborted on timeout or by the caller: the executor must then stop the command and settle. */
  signal: AbortSignal;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit status; null when the process was ended by a signal. */
  exitCode: number | null;
}

/**
 * Runs one command given as argv (argv[0] is the program; never a shell). Resolves with the output whatever the
 * exit status; rejects only when the command cannot run at all. Inject one to record, fake or wrap commands.
 */
export type Executor = (argv: readonly string[], options: ExecOptions) => Promise<ExecResult>;

/** Time a command gets between SIGTERM and SIGKILL once its signal is aborted. */
export const killGraceMs = 2000;

// Reports of a few thousand LVs are a few MiB; this only bounds a runaway command.
const maxOutputBytes = 256 * 1024 * 1024;

interface ExecFileFailure extends Error {
  code?: unknown;
}

/** The default executor: node:child_process.execFile, stopping the command with SIGTERM, then SIGKILL. */
export const execFileExecutor: Executor = (argv, { env, signal }) =>
  new Promise<ExecResult>((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) {
      reject(new Error("empty argv"));
      return;
    }
    let killTimer: NodeJS.Timeout | undefined;
    const child = execFile(file, args, { env, encoding: "utf8", maxBuffer: maxOutputBytes, windowsHide: true }, (error, stdout, stderr) => {
      signal.removeEventListener("abort", stop);
      if (killTimer !== undefined) clearTimeout(killTimer);
      if (error === null) {
        resolve({ stdout, stderr, exitCode: 0 });
      } else if (typeof (error as ExecFileFailure).code === "number") {
        resolve({ stdout, stderr, exitCode: (error as ExecFileFailure).code as number });
      } else if (child.exitCode === null && child.signalCode !== null) {
        resolve({ stdout, stderr, exitCode: null });
      } else {
        reject(error instanceof Error ? error : new Error("execFile failed", { cause: error }));
      }
    });
    function stop(): void {
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), killGraceMs);
      killTimer.unref();
    }
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
