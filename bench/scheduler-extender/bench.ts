import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "../../tools/eventually.js";
import { binDir } from "../../tools/paths.js";
import { startFakeApiServer } from "../../packages/scheduler-extender/test/support/fake-api-server.js";
import { startScheduler, type SchedulerProcess } from "../../packages/scheduler-extender/test/support/scheduler-process.js";
import { post, runLoad } from "./load.js";
import { benchNodes, benchPod } from "./nodes.js";
import { percentile } from "../support/stats.js";

// /predicate and /prioritize with 5,000 nodes per request over loopback: full Node objects (nodeCacheCapable: false)
// and node names answered from the node cache (nodeCacheCapable: true), then the same full-object load against
// upstream TopoLVM's Go topolvm-scheduler in the same run. Requests go one at a time by default, as kube-scheduler
// sends them (one scheduling cycle at a time), from a load process of their own (load.ts); --concurrency N keeps N
// in flight.
// Prints p50/p99 latency, requests/s and RSS per case, and our/their throughput ratio. Targets (DESIGN.md §5):
// p99 <= 5 ms with names, <= 50 ms with full objects, ratio >= 1.0.
//   node --import tsx bench/scheduler-extender/bench.ts [--seconds 8] [--nodes 5000] [--concurrency 1]
// Needs `npx nx run scheduler-extender:build`; the Go binary comes from tools/ensure-deps ($TOPOLVM_BIN).

const args = new Map<string, number>();
for (let i = 2; i < process.argv.length; i += 2) {
  args.set(process.argv[i]?.replace(/^--/, "") ?? "", Number(process.argv[i + 1]));
}
const secondsPerCase = args.get("seconds") ?? 8;
const nodeCount = args.get("nodes") ?? 5000;
const concurrency = args.get("concurrency") ?? 1;
const warmupRequests = 10;

const goScheduler = join(binDir(), "topolvm-scheduler");

interface CaseResult {
  name: string;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
  peakRssMiB: number;
}

function rssMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) / 1024;
}

/** Runs one case's load (in a load process of its own, see load.ts) and reads the server's peak RSS. */
async function runCase(name: string, url: string, body: Buffer, pid: number): Promise<CaseResult> {
  const { latenciesMs, elapsedSeconds } = await runLoad({ url, body, seconds: secondsPerCase, concurrency, warmupRequests });
  return {
    name,
    requests: latenciesMs.length,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    perSecond: latenciesMs.length / elapsedSeconds,
    peakRssMiB: rssMiB(pid, "VmHWM"),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** Starts upstream's Go scheduler with the legacy `topolvm.cybozu.com` names and waits until /status answers. */
async function startGoScheduler(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const config = join(dir, "go-scheduler.yaml");
  await writeFile(config, `listen: "127.0.0.1:${port}"\ndefault-divisor: 1\n`);
  const child = spawn(goScheduler, ["--config", config], {
    env: { ...process.env, USE_LEGACY: "1" },
    stdio: ["ignore", "ignore", "ignore"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) {
      throw new Error(`${goScheduler} exited with ${child.exitCode}`);
    }
    try {
      if ((await fetch(`${url}/status`)).status === 200) {
        return { child, url };
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${goScheduler} did not answer /status`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

function names(answer: Buffer): string[] {
  const parsed = JSON.parse(answer.toString("utf8")) as { Nodes?: { items?: { metadata: { name: string } }[] }; nodes?: { items?: { metadata: { name: string } }[] } };
  return ((parsed.Nodes ?? parsed.nodes)?.items ?? []).map((node) => node.metadata.name);
}

const nodes = benchNodes(nodeCount);
const nodeNames = nodes.map((node) => (node.metadata as { name: string }).name);
const fullBody = Buffer.from(JSON.stringify({ Pod: benchPod, Nodes: { items: nodes } }));
const namesBody = Buffer.from(JSON.stringify({ Pod: benchPod, NodeNames: nodeNames }));
console.log(
  `${nodeCount} nodes per request: full objects ${(fullBody.length / 1024 / 1024).toFixed(1)} MiB, names ${(namesBody.length / 1024).toFixed(0)} KiB; ` +
    `${secondsPerCase} s per case, concurrency ${concurrency}; load average ${loadavg()[0]?.toFixed(1) ?? "?"}`,
);

const dir = await mkdtemp(join(tmpdir(), "bench-scheduler-extender-"));
const results: CaseResult[] = [];
const idle: string[] = [];
const children: (SchedulerProcess | ChildProcess)[] = [];
const api = await startFakeApiServer(nodes as never[]);
try {
  const options = join(dir, "options.yaml");
  await writeFile(options, 'listen: "127.0.0.1:0"\n');

  const full = await startScheduler(["--config", options]);
  children.push(full);
  idle.push(`ours (full objects) idle RSS ${rssMiB(full.child.pid ?? 0, "VmRSS").toFixed(0)} MiB`);
  const ourFilter = await post(new Agent(), `${full.url}/predicate`, fullBody);
  results.push(await runCase("ours  full   /predicate", `${full.url}/predicate`, fullBody, full.child.pid ?? 0));
  results.push(await runCase("ours  full   /prioritize", `${full.url}/prioritize`, fullBody, full.child.pid ?? 0));
  await full.stop();

  const kubeconfig = await api.writeKubeconfig(join(dir, "kubeconfig"));
  const cached = await startScheduler(["--config", options, "--kubeconfig", kubeconfig]);
  children.push(cached);
  await until("the node cache to sync", async () => (await fetch(`${cached.url}/status`)).ok);
  idle.push(`ours (node cache, ${nodeCount} nodes) idle RSS ${rssMiB(cached.child.pid ?? 0, "VmRSS").toFixed(0)} MiB`);
  results.push(await runCase("ours  names  /predicate", `${cached.url}/predicate`, namesBody, cached.child.pid ?? 0));
  results.push(await runCase("ours  names  /prioritize", `${cached.url}/prioritize`, namesBody, cached.child.pid ?? 0));
  await cached.stop();

  if (existsSync(goScheduler)) {
    const go = await startGoScheduler(dir);
    children.push(go.child);
    idle.push(`upstream Go idle RSS ${rssMiB(go.child.pid ?? 0, "VmRSS").toFixed(0)} MiB`);
    const theirFilter = await post(new Agent(), `${go.url}/predicate`, fullBody);
    const agree = JSON.stringify(names(ourFilter.body)) === JSON.stringify(names(theirFilter.body));
    console.log(`filter answers agree with upstream: ${agree} (${names(ourFilter.body).length} of ${nodeCount} nodes fit)`);
    results.push(await runCase("go    full   /predicate", `${go.url}/predicate`, fullBody, go.child.pid ?? 0));
    results.push(await runCase("go    full   /prioritize", `${go.url}/prioritize`, fullBody, go.child.pid ?? 0));
    await stop(go.child);
  } else {
    console.log(`upstream Go topolvm-scheduler not found at ${goScheduler} (run tools/ensure-deps): no ratio this run`);
  }
} finally {
  for (const child of children) {
    await ("stop" in child ? child.stop() : stop(child));
  }
  await api.close();
  await rm(dir, { recursive: true, force: true });
}

for (const line of idle) {
  console.log(line);
}
console.log("case                          requests   p50 ms   p99 ms    req/s   peak RSS MiB");
for (const r of results) {
  console.log(
    `${r.name.padEnd(28)} ${String(r.requests).padStart(9)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ` +
      `${r.perSecond.toFixed(1).padStart(8)} ${r.peakRssMiB.toFixed(0).padStart(14)}`,
  );
}
const rate = (name: string): number | undefined => results.find((r) => r.name === name)?.perSecond;
for (const verb of ["/predicate", "/prioritize"]) {
  const ours = rate(`ours  full   ${verb}`);
  const theirs = rate(`go    full   ${verb}`);
  if (ours !== undefined && theirs !== undefined) {
    console.log(`throughput ours/upstream, full objects ${verb}: ${(ours / theirs).toFixed(2)} (target >= 1.0)`);
  }
}
