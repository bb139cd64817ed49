import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { cacheDir, onPath } from "../paths.js";

// Test helper over the `run` script next to this file: one command, or one vitest file, in a VM with a real Debian
// kernel (device-mapper, thin pools, ext4, xfs) over the host's root. See tools/vm/README.md.

const runScript = join(import.meta.dirname, "run");
const repoRoot = resolve(import.meta.dirname, "..", "..");
const vmVitestConfig = join(import.meta.dirname, "vitest.vm.config.ts");

export interface VmRunOptions {
  /** Stop the VM and resolve with `timedOut` after this long, boot included. Default 600 000. */
  timeoutMs?: number;
  /** Variables for the command on top of the PATH, HOME, CI, TERM and LANG passed anyway. */
  env?: Readonly<Record<string, string>>;
  /** Working directory inside the VM (a host path: the VM sees the host's root). Default: this process's. */
  cwd?: string;
  memMiB?: number;
  cpus?: number;
  /** Give the VM eth0 on QEMU's user network (10.0.2.15; the host's loopback answers at 10.0.2.2). Default false. */
  network?: boolean;
  /** Called with each piece of the command's output as it arrives, e.g. to echo a long run live. */
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
}

export interface VmRunResult {
  /** The command's exit status; 124 when it timed out, 125 when the VM could not run it. */
  exitCode: number;
  stdout: string;
  /** The command's stderr, then the harness's own lines (boot time, failure reasons). */
  stderr: string;
  /** Milliseconds from starting QEMU to starting the command; undefined when the command never started. */
  bootMs: number | undefined;
  timedOut: boolean;
}

interface RunReport {
  exitCode: number;
  bootMs: number | null;
  timedOut: boolean;
}

function parseReport(text: string): RunReport {
  const value: unknown = JSON.parse(text);
  if (typeof value === "object" && value !== null) {
    const { exitCode, bootMs, timedOut } = value as Record<string, unknown>;
    if (typeof exitCode === "number" && (typeof bootMs === "number" || bootMs === null) && typeof timedOut === "boolean") {
      return { exitCode, bootMs, timedOut };
    }
  }
  throw new Error(`tools/vm/run wrote an unexpected report: ${text}`);
}

/**
 * Why the VM cannot run on this machine, or undefined when it can. Tests skip on a reason only outside CI; under
 * CI=true they must run (and fail, with tools/vm/run naming what is missing) instead.
 */
export function vmUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "the VM shares the host root read-write and needs root";
  for (const command of ["qemu-system-x86_64", "busybox"]) {
    if (!onPath(command)) return `${command} is not installed (run tools/ensure-deps)`;
  }
  const boot = join(cacheDir(), "vm", "kernel", "boot");
  if (!existsSync(boot) || !readdirSync(boot).some((name) => name.startsWith("vmlinux-"))) {
    return `no VM kernel under ${boot} (run tools/ensure-deps)`;
  }
  return undefined;
}

/** Runs argv as root inside a fresh VM and resolves with its exit status and output; never rejects for the command. */
export async function runInVm(argv: readonly string[], options: VmRunOptions = {}): Promise<VmRunResult> {
  if (argv.length === 0) throw new Error("runInVm: argv is empty");
  const timeoutMs = options.timeoutMs ?? 600_000;
  if (!(timeoutMs > 0)) throw new Error(`runInVm: timeoutMs must be positive, got ${timeoutMs}`);
  const reportDir = await mkdtemp(join(tmpdir(), "topolvm-vm-report-"));
  const reportFile = join(reportDir, "report.json");
  const args = ["--timeout", String(timeoutMs / 1000), "--report", reportFile];
  if (options.cwd !== undefined) args.push("--cwd", options.cwd);
  if (options.memMiB !== undefined) args.push("--mem", String(options.memMiB));
  if (options.cpus !== undefined) args.push("--cpus", String(options.cpus));
  if (options.network === true) args.push("--net");
  for (const [name, value] of Object.entries(options.env ?? {})) args.push("--env", `${name}=${value}`);
  args.push("--", ...argv);
  try {
    const child = spawn(runScript, args, { stdio: ["ignore", "pipe", "pipe"] });
    const output = { stdout: "", stderr: "" };
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream].setEncoding("utf8");
      child[stream].on("data", (chunk: string) => {
        output[stream] += chunk;
        options.onOutput?.(stream, chunk);
      });
    }
    const status = await new Promise<number | null>((resolvePromise, reject) => {
      child.on("error", reject);
      child.on("close", (code) => {
        resolvePromise(code);
      });
    });
    if (!existsSync(reportFile)) {
      // The script failed before booting (a bad option, a missing kernel): its stderr says why.
      return { exitCode: status ?? 125, ...output, bootMs: undefined, timedOut: false };
    }
    const report = parseReport(await readFile(reportFile, "utf8"));
    return { exitCode: report.exitCode, ...output, bootMs: report.bootMs ?? undefined, timedOut: report.timedOut };
  } finally {
    await rm(reportDir, { recursive: true, force: true });
  }
}

/**
 * Runs one vitest file inside the VM with tools/vm/vitest.vm.config.ts, which collects `*.vm-test.ts` files, from
 * the repository root. A host test asserts `exitCode` 0; the inner run's report is in `stdout`.
 */
export function runVitestInVm(testFile: string, options: VmRunOptions = {}): Promise<VmRunResult> {
  const vitest = join(repoRoot, "node_modules", "vitest", "vitest.mjs");
  const argv = [process.execPath, vitest, "run", "--config", vmVitestConfig, resolve(repoRoot, testFile)];
  // The report lands in a host test's failure message, where colour codes are noise.
  return runInVm(argv, { cwd: repoRoot, ...options, env: { NO_COLOR: "1", ...options.env } });
}
