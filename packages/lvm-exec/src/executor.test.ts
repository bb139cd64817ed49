import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "../../../tools/eventually.js";
import { execFileExecutor } from "./executor.js";
import { createLvm } from "./lvm.js";
import { LvmError } from "./lvm-error.js";

// Real child processes stand in for a hung lvm: each writes its pid to the file named by its first argument,
// then sleeps, optionally ignoring SIGTERM. sh starts within milliseconds even on a loaded machine, so the pid file
// exists long before the timeout fires.
const work = mkdtempSync(join(tmpdir(), "lvm-exec-executor-"));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const sleeper = (ignoreTerm: boolean, pidFile: string): string[] => [
  "/bin/sh",
  "-c",
  `${ignoreTerm ? "trap '' TERM; " : ""}echo $$ > "$1"; exec sleep 1000`,
  "sleeper",
  pidFile,
];

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidIn(file: string): number {
  return Number(readFileSync(file, "utf8"));
}

const env = { PATH: process.env.PATH ?? "" };

describe("the execFile executor", () => {
  it("resolves with stdout, stderr and a non-zero exit code", async () => {
    const script = "process.stdout.write('out'); process.stderr.write('err'); process.exitCode = 5;";
    const result = await execFileExecutor([process.execPath, "-e", script], { env, timeoutMs: 10_000, signal: new AbortController().signal });
    expect(result).toEqual({ stdout: "out", stderr: "err", exitCode: 5 });
  });

  it("passes exactly the given environment", async () => {
    const script = "process.stdout.write(JSON.stringify(process.env))";
    const result = await execFileExecutor([process.execPath, "-e", script], { env: { ONLY: "this" }, timeoutMs: 10_000, signal: new AbortController().signal });
    expect(JSON.parse(result.stdout)).toMatchObject({ ONLY: "this" });
    expect(JSON.parse(result.stdout)).not.toHaveProperty("PATH");
  });

  it("does not interpret shell syntax in arguments", async () => {
    const marker = join(work, "pwned");
    const script = "process.stdout.write(process.argv[1])";
    const result = await execFileExecutor([process.execPath, "-e", script, `x; touch ${marker}`], { env, timeoutMs: 10_000, signal: new AbortController().signal });
    expect(result.stdout).toBe(`x; touch ${marker}`);
    expect(() => readFileSync(marker)).toThrow();
  });

  it("rejects when the program does not exist", async () => {
    await expect(
      execFileExecutor(["/nonexistent/lvm", "vgs"], { env, timeoutMs: 10_000, signal: new AbortController().signal }),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe("timeouts and cancellation with real child processes", () => {
  it("kills a command that outlives timeoutMs and rejects with Timeout", async () => {
    const pidFile = join(work, "timeout.pid");
    const lvm = createLvm({ commandPrefix: sleeper(false, pidFile), timeoutMs: 1000, env });
    const error = await lvm.listVolumeGroups().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LvmError);
    expect(error).toMatchObject({ code: "Timeout", message: "lvm vgs did not finish within 1000 ms and was stopped" });
    expect((error as LvmError).argv.slice(0, 5)).toEqual(sleeper(false, pidFile));
    expect(isRunning(pidIn(pidFile))).toBe(false);
  });

  it("escalates to SIGKILL when the command ignores SIGTERM", async () => {
    const pidFile = join(work, "stubborn.pid");
    const lvm = createLvm({ commandPrefix: sleeper(true, pidFile), env });
    const error = await lvm.listVolumeGroups({ timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "Timeout", exitCode: null });
    expect(isRunning(pidIn(pidFile))).toBe(false);
  });

  it("stops the command when the caller aborts and rejects with the abort reason", async () => {
    const pidFile = join(work, "abort.pid");
    const lvm = createLvm({ commandPrefix: sleeper(false, pidFile), env });
    const controller = new AbortController();
    const reason = new Error("client went away");
    const pending = lvm.listVolumeGroups({ signal: controller.signal });
    // The pid file may exist a moment before sh has written it.
    const pid = await eventually("the command to start", () => Promise.resolve(existsSync(pidFile) && pidIn(pidFile) > 0 ? pidIn(pidFile) : undefined), 5_000);
    expect(isRunning(pid)).toBe(true);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(isRunning(pid)).toBe(false);
  });

  it("runs nothing when the signal is already aborted", async () => {
    const pidFile = join(work, "never.pid");
    const lvm = createLvm({ commandPrefix: sleeper(false, pidFile), env });
    const reason = new Error("already");
    await expect(lvm.listVolumeGroups({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(() => readFileSync(pidFile)).toThrow();
  });
});
