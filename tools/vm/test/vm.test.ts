import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cacheDir } from "../../paths.js";
import { runInVm, runVitestInVm, vmUnavailableReason } from "../index.js";

const execFileAsync = promisify(execFile);
const unavailable = vmUnavailableReason();
const runScript = join(import.meta.dirname, "..", "run");

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("tools/vm", () => {
  it("runs argv as given in the VM's kernel, in the caller's directory, with stdout, stderr and exit status apart", async () => {
    const script = 'printf "<%s>" "$@"; echo; echo "$GREETING"; uname -r; pwd; echo to-stderr >&2; exit 7';
    const args = ["a b", "$HOME", "*", "", 'q"uote'];
    const result = await runInVm(["sh", "-c", script, "sh", ...args], {
      cwd: import.meta.dirname,
      env: { GREETING: "hello  there" },
      timeoutMs: 240_000,
    });
    const [hostKernel] = (await execFileAsync("uname", ["-r"])).stdout.split("\n");
    const [argsLine, greeting, guestKernel, cwd] = result.stdout.split("\n");
    expect(result.exitCode).toBe(7);
    expect(argsLine).toBe('<a b><$HOME><*><><q"uote>');
    expect(greeting).toBe("hello  there");
    expect(guestKernel).toMatch(/-amd64$/);
    expect(guestKernel).not.toBe(hostKernel);
    expect(cwd).toBe(import.meta.dirname);
    expect(result.stderr).toMatch(/^to-stderr\n/);
    expect(result.stdout).not.toContain("to-stderr");
    expect(result.bootMs).toBeGreaterThan(0);
    expect(result.timedOut).toBe(false);
  });

  it("has device-mapper and LVM inside and returns exit status 0", async () => {
    const result = await runInVm(["sh", "-c", "dmsetup version && lvs --version"], { timeoutMs: 240_000 });
    expect(result.stderr).not.toContain("error");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/Driver version: +4\./);
    expect(result.stdout).toContain("LVM version:");
    console.info(`tools/vm: boot-to-command ${String(result.bootMs)} ms`);
  });

  it("streams the output while the command still runs", async () => {
    // The command waits for a file that this test creates only once it has seen the first line: without live
    // streaming it would wait until the timeout.
    const scratchRoot = join(cacheDir(), "vm", "scratch");
    mkdirSync(scratchRoot, { recursive: true });
    const scratch = mkdtempSync(join(scratchRoot, "stream-"));
    const go = join(scratch, "go");
    let signalled = false;
    try {
      const result = await runInVm(["sh", "-c", 'echo first; while [ ! -e "$1" ]; do sleep 0.1; done; echo second', "sh", go], {
        timeoutMs: 240_000,
        onOutput: (stream, chunk) => {
          if (stream === "stdout" && chunk.includes("first") && !signalled) {
            signalled = true;
            writeFileSync(go, "");
          }
        },
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe("first\nsecond\n");
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it("stops a hung command at the timeout with a clear message", async () => {
    const result = await runInVm(["sleep", "1000"], { timeoutMs: 5_000 });
    expect(result.exitCode).toBe(124);
    expect(result.timedOut).toBe(true);
    expect(result.stderr).toContain("timed out after 5 s; stopped the VM running: sleep 1000");
  });

  it("runs a vitest file inside the VM", async () => {
    const result = await runVitestInVm("tools/vm/test/in-vm.vm-test.ts", { timeoutMs: 300_000 });
    expect(result.stdout).toContain("1 passed");
    expect(result.exitCode).toBe(0);
  });
});

describe("tools/vm/run prerequisites", () => {
  it("fails naming tools/ensure-deps when the VM kernel is missing", async () => {
    const emptyCache = mkdtempSync(join(tmpdir(), "topolvm-vm-empty-cache-"));
    try {
      const run = execFileAsync(runScript, ["--", "true"], { env: { ...process.env, TOPOLVM_CACHE: emptyCache } });
      await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("run tools/ensure-deps") as unknown });
    } finally {
      rmSync(emptyCache, { recursive: true, force: true });
    }
  });

  it("rejects a bad option before booting", async () => {
    const run = execFileAsync(runScript, ["--mem", "lots", "--", "true"]);
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("--mem lots") as unknown });
  });
});
