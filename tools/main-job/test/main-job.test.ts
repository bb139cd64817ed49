import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cacheDir, onPath } from "../../paths.js";

// The README's first command, `bash tools/main`, on a fresh clone of the committed tree (what CI and a new user
// have): no node_modules, no dist/, only the shared cache of Go builds and Debian packages under TOPOLVM_CACHE.
const workspaceRoot = resolve(import.meta.dirname, "../../..");
const minutes = 60_000;

/**
 * What the main job must print: the demo's placements (tools/demo/src/scenario.ts), the per-node table with the LVs
 * that lvs shows, the Pending pod with the scheduler's reason, and that it stopped what it started. The one place
 * that knows its output.
 */
function expectMainJobOutput(stdout: string): void {
  for (const [pod, node, claims] of [
    ["web", "node-2", "web-data"],
    ["db", "node-2", "db-data"],
    ["cache", "node-1", "cache-data"],
    ["logs", "node-3", "logs-index, logs-archive"],
  ] as const) {
    expect(stdout, `pod ${pod} placed on ${node}`).toMatch(new RegExp(`Pod ${pod} with PVCs of [^\n]*\n {4}→ ${node}, PVCs ${claims} Bound`));
  }
  expect(stdout, "the pod too big for every node").toMatch(/Pod huge stays Pending\. kube-scheduler says: 0\/3 nodes are available: [^\n]*/);
  // The closing table: NODE DEVICE-CLASS VG VG-SIZE FREE-BEFORE FREE-AFTER PODS LVS, sizes in GiB.
  for (const row of [
    /node-1 +ssd +node-1-ssd +8\.0 GiB +8\.0 GiB +2\.0 GiB +cache +6\.0 GiB default\/cache-data/,
    /node-2 +ssd +node-2-ssd +16\.0 GiB +16\.0 GiB +3\.0 GiB +web,db +(1\.0 GiB default\/web-data, 12\.0 GiB default\/db-data|12\.0 GiB default\/db-data, 1\.0 GiB default\/web-data)/,
    /node-3 +ssd +node-3-ssd +4\.0 GiB +4\.0 GiB +2\.0 GiB +logs +2\.0 GiB default\/logs-index/,
    /node-3 +hdd +node-3-hdd +32\.0 GiB +32\.0 GiB +12\.0 GiB +logs +20\.0 GiB default\/logs-archive/,
  ]) {
    expect(stdout, "a row of the per-node table").toMatch(row);
  }
  expect(stdout).toMatch(/✓ \[9\/9\] Stopping everything the demo started/);
}

/** The commands of the processes running now whose command line names `text`, other than this one. */
function processesNaming(text: string): string[] {
  return readdirSync("/proc")
    .filter((entry) => /^[0-9]+$/.test(entry) && Number(entry) !== process.pid)
    .flatMap((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
        return argv.includes(text) ? [`${pid}: ${argv.slice(0, 200)}`] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
}

/**
 * The demo's cluster (tools/demo, default state directory) left nothing running: no process whose command line
 * points into its state directory (etcd, the control plane, lvmd, the TopoLVM processes and sidecars all do), no loop
 * device backed by a file there.
 */
function expectDemoStopped(): void {
  const stateDir = join(cacheDir(), "demo");
  expect(processesNaming(`${stateDir}/`), "processes still running").toEqual([]);
  const loops = JSON.parse(execFileSync("losetup", ["--list", "--json", "--output", "NAME,BACK-FILE"], { encoding: "utf8" }) || '{"loopdevices":[]}') as {
    loopdevices: { name: string; "back-file": string | null }[];
  };
  expect(loops.loopdevices.filter((loop) => (loop["back-file"] ?? "").startsWith(stateDir)), "loop devices still attached").toEqual([]);
}

function unavailableReason(): string | undefined {
  for (const command of ["git", "bash", "npm"]) if (!onPath(command)) return `${command} is not on PATH`;
  if (!existsSync(join(workspaceRoot, ".git"))) return `${workspaceRoot} is not a git repository`;
  return undefined;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout and stderr interleaved as they arrived, for the failure message. */
  output: string;
}

const unavailable = unavailableReason();

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("the main job on a fresh clone", () => {
  let work = "";
  let clone = "";
  let pid: number | undefined;

  /**
   * Runs `bash tools/main` in the clone; with `interrupt`, sends its process group `signal` once the output matches
   * `at` (a user's Ctrl-C, or a kill -9).
   */
  async function runMainJob(what: string, interrupt?: { at: RegExp; signal: NodeJS.Signals }): Promise<Run & { report: string }> {
    // The user's environment, minus what vitest adds, with the same cache as this run.
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([key, value]) => !key.startsWith("VITEST") && !(key === "NODE_ENV" && value === "test")),
    );
    env.TOPOLVM_CACHE = cacheDir();
    const started = Date.now();
    const run = await new Promise<Run>((done, fail) => {
      const child = spawn("bash", ["tools/main"], { cwd: clone, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      pid = child.pid;
      let stdout = "";
      let output = "";
      let sent = false;
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        output += chunk;
        if (interrupt !== undefined && !sent && interrupt.at.test(stdout) && child.pid !== undefined) {
          sent = true;
          process.kill(-child.pid, interrupt.signal);
        }
      });
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk;
      });
      child.on("error", fail);
      child.on("close", (code, signal) => {
        pid = undefined;
        done({ code, signal, stdout, output });
      });
    });
    const seconds = Math.round((Date.now() - started) / 1000);
    console.log(`bash tools/main ${what} took ${seconds} s`);
    return { ...run, report: `bash tools/main ${what} (${seconds} s) exited ${run.code ?? run.signal}; its output:\n${run.output}` };
  }

  /** Runs `bash tools/main` in the clone and checks what it prints and that it stopped everything. */
  async function expectMainJobSucceeds(what: string): Promise<void> {
    const run = await runMainJob(what);
    expect(run.code, run.report).toBe(0);
    try {
      expectMainJobOutput(run.stdout);
      expectDemoStopped();
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${run.report}`, { cause: error });
    }
  }

  afterAll(() => {
    // A run cut short by the test timeout must not outlive the test: stop its whole process group.
    if (pid !== undefined) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (work !== "") rmSync(work, { recursive: true, force: true });
  });

  it(
    "`bash tools/main` exits 0 and prints what the main job shows",
    async () => {
      expect(unavailable, "prerequisite").toBeUndefined();
      work = mkdtempSync(join(tmpdir(), "topolvm-main-job-"));
      clone = join(work, "repo");
      execFileSync("git", ["clone", "--quiet", workspaceRoot, clone], { stdio: "pipe" });
      await expectMainJobSucceeds("in a fresh clone");
    },
    // npm ci and a cold build of every package on a slow shared 2-core machine; Go builds come from the cache.
    45 * minutes,
  );

  it(
    "runs again after a run that was killed mid-way (kill -9), cleaning up what that one left",
    async () => {
      expect(clone, "the fresh clone of the test before").not.toBe("");
      const killed = await runMainJob("killed at the first pod", { at: /\[4\/9\] Pod web/, signal: "SIGKILL" });
      expect(killed.signal, killed.report).toBe("SIGKILL");
      await expectMainJobSucceeds("again in the same clone, after the killed run");
    },
    20 * minutes,
  );

  it(
    "stops everything it started when interrupted (Ctrl-C) mid-way",
    async () => {
      expect(clone, "the fresh clone of the test before").not.toBe("");
      const run = await runMainJob("interrupted at the second pod", { at: /\[5\/9\] Pod db/, signal: "SIGINT" });
      expect(run.code, run.report).toBe(130);
      expect(run.stdout, run.report).toContain("SIGINT: stopping everything the demo started");
      expectDemoStopped();
    },
    15 * minutes,
  );
});
