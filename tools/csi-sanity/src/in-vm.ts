// The VM side of tools/csi-sanity/run: starts etcd and kube-apiserver, one node (its loop VGs, lvmd with a thick and
// a thin device-class, topolvm-node with its CSI socket) and topolvm-controller, runs csi-sanity once per
// device-class, stops everything and prints the figures and the result line the host side reads.
// Usage (inside tools/vm only): in-vm.ts --artifacts DIR [--runs thick,thin] [--focus RE] [--skip RE]
import { execFile, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";

import { binaryPath } from "../../cluster/src/binaries.js";
import { startCluster, startTopolvm, type LocalCluster, type Topolvm, type TopolvmDeviceClass } from "../../cluster/src/index.js";
import { parseGinkgoReport, skipReasons } from "./ginkgo-report.js";
import { reportSucceeded, resultLine, summaryLine, type RunReport, type VmReport, type VmTimings } from "./result.js";
import { csiSanityArgv, parseRunNames, runFiles, runNames, runSkip, volumeParametersYaml, type RunName } from "./sanity-run.js";

const execFileAsync = promisify(execFile);

const gib = 2 ** 30;
/** The node is named as the VM's host; its device-classes are VGs NODE-thick and NODE-thin. */
const nodeName = hostname();
const deviceClasses: TopolvmDeviceClass[] = [
  { name: "thick", default: true },
  { name: "thin", thinPool: { name: "pool0", sizeBytes: 6 * gib, overprovisionRatio: 10 } },
];
/** Readiness deadlines: kube-apiserver and node start slowly on the VM's emulated CPUs. */
const startTimeoutMs = 600_000;
const filteredOut = "left out by -ginkgo.focus / -ginkgo.skip";

const processStart = Date.now();

/** A progress line with the seconds since this process started, so a slow step stands out. */
function log(message: string): void {
  const seconds = ((Date.now() - processStart) / 1000).toFixed(1);
  process.stderr.write(`[csi-sanity +${seconds}s] ${message}\n`);
}

interface Options {
  artifacts: string;
  runs: RunName[];
  focus?: string;
  skip?: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      artifacts: { type: "string" },
      runs: { type: "string", default: runNames.join(",") },
      focus: { type: "string" },
      skip: { type: "string" },
    },
  });
  if (values.artifacts === undefined) {
    throw new Error("--artifacts DIR is required");
  }
  return {
    artifacts: values.artifacts,
    runs: parseRunNames(values.runs),
    ...(values.focus === undefined ? {} : { focus: values.focus }),
    ...(values.skip === undefined ? {} : { skip: values.skip }),
  };
}

/** Runs argv with its output streamed to ours and copied to logFile; resolves with its exit status. */
function runStreaming(argv: readonly string[], logFile: string): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) {
    throw new Error("empty argv");
  }
  const file = createWriteStream(logFile);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk);
      file.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      process.stderr.write(chunk);
      file.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      file.end(() => {
        resolve(code ?? (signal === null ? 1 : 128));
      });
    });
  });
}

async function runSanity(
  run: RunName,
  topolvm: Topolvm,
  workRoot: string,
  options: Options,
): Promise<RunReport> {
  const nodeSocket = topolvm.node(nodeName).csiSocket;
  const workDir = join(workRoot, run);
  const files = runFiles(workDir);
  await mkdir(workDir, { recursive: true });
  await writeFile(files.parameters, volumeParametersYaml(run));
  const skip = runSkip(run, options.skip);
  const argv = csiSanityArgv({
    csiSanity: binaryPath("csi-sanity"),
    ...(skip === undefined ? {} : { skip }),
    nodeSocket,
    controllerSocket: topolvm.controllerSocket,
    workDir,
    ...(options.focus === undefined ? {} : { focus: options.focus }),
  });
  log(`run ${run}: ${argv.join(" ")}`);
  const started = Date.now();
  const exitCode = await runStreaming(argv, join(options.artifacts, `csi-sanity-${run}.log`));
  const durationMs = Date.now() - started;
  let reportText: string;
  try {
    reportText = await readFile(files.report, "utf8");
  } catch {
    throw new Error(`csi-sanity (${run}) exited ${exitCode} without writing ${files.report}`);
  }
  await writeFile(join(options.artifacts, `ginkgo-report-${run}.json`), reportText);
  const summary = parseGinkgoReport(reportText);
  const failures = [...summary.suiteFailures, ...summary.specs.filter((spec) => spec.state === "failed")].map((spec) => ({
    spec: spec.name,
    message: spec.message,
    location: spec.location,
  }));
  return {
    name: run,
    deviceClass: run,
    exitCode,
    totalSpecs: summary.totalSpecs,
    passed: summary.passed,
    failed: summary.failed + summary.suiteFailures.length,
    skipped: summary.skipped,
    pending: summary.pending,
    durationMs,
    failures,
    skips: Object.fromEntries(skipReasons(summary, filteredOut)),
  };
}

async function loopDevices(): Promise<string[]> {
  const { stdout } = await execFileAsync("losetup", ["--list", "--noheadings", "--output", "NAME,BACK-FILE"]);
  return stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

function printRun(run: RunReport): void {
  log(summaryLine(run));
  for (const failure of run.failures) {
    log(`  FAILED ${failure.spec}${failure.location === "" ? "" : ` (${failure.location})`}\n    ${failure.message.replace(/\n/g, "\n    ")}`);
  }
  for (const [reason, specs] of Object.entries(run.skips)) {
    log(`  skipped (${specs.length}): ${reason}`);
    for (const spec of specs) {
      log(`    - ${spec}`);
    }
  }
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  await mkdir(options.artifacts, { recursive: true });
  const timings: VmTimings = { apiserverMs: 0, topolvmMs: 0, teardownMs: 0 };
  const report: VmReport = { runs: [], timings, loopDevicesLeft: [] };
  const stateDir = await mkdtemp(join(tmpdir(), "csi-sanity-cluster-"));
  let cluster: LocalCluster | undefined;
  let topolvm: Topolvm | undefined;
  try {
    const started = Date.now();
    cluster = await startCluster({
      stateDir,
      controlPlane: "apiserver-only",
      nodes: [{ name: nodeName, activation: true, deviceClasses: [{ name: "thick", sizeBytes: 8 * gib }, { name: "thin", sizeBytes: 8 * gib }] }],
      timeoutMs: startTimeoutMs,
      onProgress: (message) => {
        if (message === "kube-apiserver is ready") {
          timings.apiserverMs = Date.now() - started;
        }
        log(message);
      },
    });
    log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s (${cluster.kubernetesVersion})`);
    const topolvmStarted = Date.now();
    topolvm = await startTopolvm(cluster, {
      scheduling: "none",
      storageClasses: [],
      deviceClasses: { [nodeName]: deviceClasses },
      readyTimeoutMs: startTimeoutMs,
    });
    timings.topolvmMs = Date.now() - topolvmStarted;
    log(`lvmd, topolvm-node and topolvm-controller ready in ${(timings.topolvmMs / 1000).toFixed(1)} s`);
    const workRoot = join(stateDir, "sanity");
    for (const run of options.runs) {
      report.runs.push(await runSanity(run, topolvm, workRoot, options));
    }
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
    log(`error: ${report.error}`);
  } finally {
    const failed = report.error !== undefined || report.runs.some((run) => run.failed > 0 || run.exitCode !== 0);
    if (failed && topolvm !== undefined) {
      log(`what the processes wrote last:\n${await topolvm.logTails(60)}`);
    }
    const stopping = Date.now();
    await topolvm?.stop().catch((error: unknown) => {
      log(`stopping TopoLVM failed: ${String(error)}`);
    });
    await cluster?.stop().catch((error: unknown) => {
      log(`stopping the cluster failed: ${String(error)}`);
    });
    timings.teardownMs = Date.now() - stopping;
    await cp(join(stateDir, "logs"), join(options.artifacts, "logs"), { recursive: true }).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
    report.loopDevicesLeft = await loopDevices();
  }
  for (const run of report.runs) {
    printRun(run);
  }
  if (report.loopDevicesLeft.length > 0) {
    log(`loop devices left after the teardown: ${report.loopDevicesLeft.join(", ")}`);
  }
  log(
    `timings: kube-apiserver ready ${(timings.apiserverMs / 1000).toFixed(1)} s, TopoLVM ready ` +
      `${(timings.topolvmMs / 1000).toFixed(1)} s, teardown ${(timings.teardownMs / 1000).toFixed(1)} s`,
  );
  process.stdout.write(resultLine(report));
  return reportSucceeded(report) ? 0 : 1;
}

process.exitCode = await main();
// Nothing is left to do; an API client's idle keep-alive socket must not hold the VM open.
setTimeout(() => process.exit(), 2_000).unref();
