import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cacheDir, onPath } from "../../paths.js";

// The README's first command, `bash tools/main`, on a fresh clone of the committed tree (what CI and a new user
// have): no node_modules, no dist/, only the shared cache of Go builds and Debian packages under TOPOLVM_CACHE.
const workspaceRoot = resolve(import.meta.dirname, "../../..");
const minutes = 60_000;

/**
 * What the main job must print: today one `<bin> <version>` line per component process. When the main job
 * changes (it is to become a demo), change this function, the one place that knows its output.
 */
function expectMainJobOutput(stdout: string): void {
  for (const bin of ["lvmd", "topolvm-controller", "topolvm-node", "topolvm-scheduler", "topolvm-webhook"]) {
    expect(stdout, `a version line for ${bin}`).toMatch(new RegExp(`^${bin} \\d+\\.\\d+\\.\\d+\\S*$`, "m"));
  }
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

  /** Runs `bash tools/main` in the clone and checks it; the failure message carries all it printed. */
  async function expectMainJobSucceeds(what: string): Promise<void> {
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
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
        output += chunk;
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
    const report = `bash tools/main ${what} (${seconds} s) exited ${run.code ?? run.signal}; its output:\n${run.output}`;
    expect(run.code, report).toBe(0);
    try {
      expectMainJobOutput(run.stdout);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${report}`, { cause: error });
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
    "runs again in the same clone, idempotently",
    async () => {
      expect(clone, "the fresh clone of the test before").not.toBe("");
      await expectMainJobSucceeds("again in the same clone");
    },
    15 * minutes,
  );
});
