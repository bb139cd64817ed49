// csi-sanity against TopoLVM, from the host: boots one tools/vm VM that runs src/in-vm.ts (the whole deployment
// and both csi-sanity runs) and reads back its report. Used by the `run` script and by the host test.
import { mkdir, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { missingBinaries } from "../../cluster/src/binaries.js";
import { missingTopolvmBins } from "../../cluster/src/topolvm-flags.js";
import { sandboxUnavailableReason } from "../../lvm-sandbox/index.js";
import { cacheDir } from "../../paths.js";
import { runInVm, vmUnavailableReason } from "../../vm/index.js";
import { findReport, type VmReport } from "./result.js";
import type { RunName } from "./sanity-run.js";

export type { RunReport, SpecFailure, VmReport, VmTimings } from "./result.js";
export { reportSucceeded, summaryLine } from "./result.js";
export type { RunName } from "./sanity-run.js";

const repoRoot = resolve(import.meta.dirname, "..", "..", "..");
const inVmScript = join(import.meta.dirname, "in-vm.ts");

/** The cached binaries the VM runs (tools/ensure-deps). */
const neededBinaries = ["etcd", "kube-apiserver", "kubectl", "csi-sanity"];

/** What this machine lacks to run csi-sanity (VM, binaries, built bins, LVM); empty when it can. */
export function csiSanityPrerequisitesMissing(): string[] {
  const vm = vmUnavailableReason();
  const lvm = sandboxUnavailableReason();
  return [
    ...(vm === undefined ? [] : [vm]),
    ...(lvm === undefined ? [] : [lvm]),
    ...missingBinaries(neededBinaries).map((name) => `${name} (run tools/ensure-deps)`),
    ...missingTopolvmBins(["lvmd", "topolvm-node", "topolvm-controller"]).map((bin) => `the ${bin} bin (run npx nx run-many -t build)`),
  ];
}

/** Where a run leaves its logs, csi-sanity's output and Ginkgo's reports (replaced by the next run). */
export function defaultArtifactsDir(): string {
  return join(cacheDir(), "csi-sanity", "last-run");
}

export interface CsiSanityOptions {
  /** Default both, thick first. */
  runs?: readonly RunName[];
  /** Ginkgo regular expressions passed as -ginkgo.focus / -ginkgo.skip. */
  focus?: string;
  skip?: string;
  /** Default defaultArtifactsDir(); must be outside /tmp and /run, which the VM does not share. */
  artifactsDir?: string;
  /** The VM's limit, boot included; default 40 minutes. */
  timeoutMs?: number;
  /** Guest memory; default 4096 MiB (kube-apiserver, etcd, four Node.js processes, the loop files in tmpfs). */
  memMiB?: number;
  /** Each piece of the VM's output as it arrives. */
  onOutput?: (stream: "stdout" | "stderr", chunk: string) => void;
}

export interface CsiSanityOutcome {
  /** The VM side's report; undefined when it never printed one (it crashed, or the VM timed out). */
  report: VmReport | undefined;
  exitCode: number;
  timedOut: boolean;
  /** QEMU start to the command's start. */
  bootMs: number | undefined;
  /** The whole VM run. */
  durationMs: number;
  stdout: string;
  stderr: string;
  artifactsDir: string;
}

/** Runs csi-sanity against TopoLVM in one VM; resolves with what happened (never rejects for a failed run). */
export async function runCsiSanity(options: CsiSanityOptions = {}): Promise<CsiSanityOutcome> {
  const missing = csiSanityPrerequisitesMissing();
  if (missing.length > 0) {
    throw new Error(`cannot run csi-sanity: ${missing.join("; ")}`);
  }
  const artifactsDir = resolve(options.artifactsDir ?? defaultArtifactsDir());
  if (/^\/(tmp|run)(\/|$)/.test(artifactsDir)) {
    throw new Error(`artifacts directory ${artifactsDir}: the VM has its own /tmp and /run; choose a directory elsewhere`);
  }
  await rm(artifactsDir, { recursive: true, force: true });
  await mkdir(artifactsDir, { recursive: true });
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  const argv = [process.execPath, "--import", tsxLoader, inVmScript, "--artifacts", artifactsDir];
  argv.push("--runs", (options.runs ?? ["thick", "thin"]).join(","));
  if (options.focus !== undefined) argv.push("--focus", options.focus);
  if (options.skip !== undefined) argv.push("--skip", options.skip);
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const name of ["TOPOLVM_CACHE", "TOPOLVM_BIN"]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const started = Date.now();
  const result = await runInVm(argv, {
    cwd: repoRoot,
    env,
    timeoutMs: options.timeoutMs ?? 40 * 60_000,
    memMiB: options.memMiB ?? 4096,
    ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
  });
  return {
    report: findReport(result.stdout),
    exitCode: result.exitCode,
    timedOut: result.timedOut,
    bootMs: result.bootMs,
    durationMs: Date.now() - started,
    stdout: result.stdout,
    stderr: result.stderr,
    artifactsDir,
  };
}
