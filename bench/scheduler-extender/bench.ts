import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../tools/cluster/src/ports.js";
import { until } from "../../tools/eventually.js";
import { binDir } from "../../tools/paths.js";
import { startFakeApiServer } from "../../packages/scheduler-extender/test/support/fake-api-server.js";
import { startScheduler, type SchedulerProcess } from "../../packages/scheduler-extender/test/support/scheduler-process.js";
import { startFloorServer, type FloorServer } from "./floor.js";
import { post, runLoad } from "./load.js";
import { benchNodes, benchPod } from "./nodes.js";
import { percentile } from "../support/stats.js";

// /predicate and /prioritize with 5,000 nodes per request over loopback: full Node objects (nodeCacheCapable: false)
// and node names answered from the node cache (nodeCacheCapable: true), against upstream TopoLVM's Go
// topolvm-scheduler (full objects: it has no node cache) and against the transport floor (floor.ts: a server that
// only reads the body and answers canned bytes of the same size), all in the same run. Requests go one at a time by
// default, as kube-scheduler sends them (one scheduling cycle at a time), from a load process of their own
// (load.ts); --concurrency N keeps N in flight. Every server stays up for the whole run and the cases take turns in
// --rounds rounds (after one unrecorded warm-up round), so a slow spell of this shared machine falls on all of them
// alike.
// Prints p50/p99 latency, requests/s and peak RSS per case, each round's p99, our/their throughput ratio, and each
// server's idle RSS once started and again 15 s later, before any request.
// Targets (DESIGN.md §5): p99 <= 5 ms with names, <= 50 ms with full objects, ratio >= 1.0.
//   node --import tsx bench/scheduler-extender/bench.ts [--seconds 8] [--rounds 4] [--nodes 5000] [--concurrency 1]
// Needs `npx nx run scheduler-extender:build`; the Go binary comes from tools/ensure-deps ($TOPOLVM_BIN).

const args = new Map<string, number>();
for (let i = 2; i < process.argv.length; i += 2) {
  args.set(process.argv[i]?.replace(/^--/, "") ?? "", Number(process.argv[i + 1]));
}
const secondsPerCase = args.get("seconds") ?? 8;
const rounds = args.get("rounds") ?? 4;
const nodeCount = args.get("nodes") ?? 5000;
const concurrency = args.get("concurrency") ?? 1;
const warmupRequests = 5;
const settleSeconds = 15;

const goScheduler = join(binDir(), "topolvm-scheduler");

/** One case: a body POSTed to a server, and the latencies it measured over all rounds. */
interface Case {
  readonly name: string;
  readonly url: string;
  readonly body: Buffer;
  readonly pid: number;
  readonly latenciesMs: number[];
  readonly roundP99Ms: number[];
  elapsedSeconds: number;
}

function rssMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) / 1024;
}

/** Runs one round of a case (in a load process of its own, see load.ts). */
async function runRound(run: Case): Promise<void> {
  const { latenciesMs, elapsedSeconds } = await runLoad({
    url: run.url,
    body: run.body,
    seconds: secondsPerCase / rounds,
    concurrency,
    warmupRequests,
  });
  run.latenciesMs.push(...latenciesMs);
  run.roundP99Ms.push(percentile(latenciesMs, 99));
  run.elapsedSeconds += elapsedSeconds;
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
const cases: Case[] = [];
/** The servers whose idle RSS is printed, each read once started and again once it has settled. */
const idle: { name: string; pid: number; startedMiB: number }[] = [];
const addIdle = (name: string, pid: number): void => {
  idle.push({ name, pid, startedMiB: rssMiB(pid, "VmRSS") });
};
const children: (SchedulerProcess | ChildProcess | FloorServer)[] = [];
const api = await startFakeApiServer(nodes as never[]);
const addCase = (name: string, url: string, body: Buffer, pid: number): void => {
  cases.push({ name, url, body, pid, latenciesMs: [], roundP99Ms: [], elapsedSeconds: 0 });
};
try {
  const options = join(dir, "options.yaml");
  await writeFile(options, 'listen: "127.0.0.1:0"\n');
  const full = await startScheduler(["--config", options]);
  children.push(full);
  addIdle("ours (full objects)", full.child.pid ?? 0);
  const kubeconfig = await api.writeKubeconfig(join(dir, "kubeconfig"));
  const cached = await startScheduler(["--config", options, "--kubeconfig", kubeconfig]);
  children.push(cached);
  await until("the node cache to sync", async () => (await fetch(`${cached.url}/status`)).ok);
  addIdle(`ours (node cache, ${nodeCount} nodes)`, cached.child.pid ?? 0);

  const go = existsSync(goScheduler) ? await startGoScheduler(dir) : undefined;
  if (go === undefined) {
    console.log(`upstream Go topolvm-scheduler not found at ${goScheduler} (run tools/ensure-deps): no ratio this run`);
  } else {
    children.push(go.child);
    addIdle("upstream Go", go.child.pid ?? 0);
  }
  // Idle RSS before any request. Once started it includes what starting left behind (the node cache's list pages);
  // V8's memory reducer frees that some seconds after the heap goes quiet, as it does in a long-running extender.
  await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
  const settled = new Map(idle.map(({ pid }) => [pid, rssMiB(pid, "VmRSS")]));

  // The floor answers what we answer, byte for byte.
  const agent = new Agent();
  const answers: Record<string, Buffer> = {};
  for (const [shape, server, body] of [["full", full, fullBody], ["names", cached, namesBody]] as const) {
    for (const verb of ["predicate", "prioritize"]) {
      answers[`${shape}-${verb}`] = (await post(agent, `${server.url}/${verb}`, body)).body;
    }
  }
  const floor = await startFloorServer(answers);
  children.push(floor);

  if (go !== undefined) {
    const theirFilter = await post(agent, `${go.url}/predicate`, fullBody);
    const ours = names(answers["full-predicate"] ?? Buffer.from("{}"));
    const agree = JSON.stringify(ours) === JSON.stringify(names(theirFilter.body));
    console.log(`filter answers agree with upstream: ${agree} (${ours.length} of ${nodeCount} nodes fit)`);
  }

  for (const verb of ["predicate", "prioritize"]) {
    addCase(`floor full   /${verb}`, `${floor.url}/full-${verb}`, fullBody, floor.pid);
    addCase(`ours  full   /${verb}`, `${full.url}/${verb}`, fullBody, full.child.pid ?? 0);
    if (go !== undefined) {
      addCase(`go    full   /${verb}`, `${go.url}/${verb}`, fullBody, go.child.pid ?? 0);
    }
  }
  for (const verb of ["predicate", "prioritize"]) {
    addCase(`floor names  /${verb}`, `${floor.url}/names-${verb}`, namesBody, floor.pid);
    addCase(`ours  names  /${verb}`, `${cached.url}/${verb}`, namesBody, cached.child.pid ?? 0);
  }
  // An unrecorded round first: the servers' compilers and heaps settle into their steady state, as a long-running
  // extender's have.
  for (const run of cases) {
    await runLoad({ url: run.url, body: run.body, seconds: secondsPerCase / rounds, concurrency, warmupRequests });
  }
  for (let round = 0; round < rounds; round++) {
    for (const run of cases) {
      await runRound(run);
    }
  }
  for (const run of cases) {
    run.latenciesMs.sort((a, b) => a - b);
  }
  const peakRss = new Map(cases.map((run) => [run.pid, rssMiB(run.pid, "VmHWM")]));

  for (const { name, pid, startedMiB } of idle) {
    console.log(`${name} idle RSS ${startedMiB.toFixed(0)} MiB once started, ${(settled.get(pid) ?? Number.NaN).toFixed(0)} MiB settled ${settleSeconds} s later`);
  }
  console.log("case                         requests   p50 ms   p99 ms    req/s  peak RSS MiB  p99 ms per round");
  for (const run of cases) {
    console.log(
      `${run.name.padEnd(26)} ${String(run.latenciesMs.length).padStart(10)} ${percentile(run.latenciesMs, 50).toFixed(2).padStart(8)} ` +
        `${percentile(run.latenciesMs, 99).toFixed(2).padStart(8)} ${(run.latenciesMs.length / run.elapsedSeconds).toFixed(1).padStart(8)} ` +
        `${(peakRss.get(run.pid) ?? Number.NaN).toFixed(0).padStart(13)}  ${run.roundP99Ms.map((ms) => ms.toFixed(1)).join(" / ")}`,
    );
  }
  const find = (name: string): Case | undefined => cases.find((run) => run.name === name);
  for (const verb of ["/predicate", "/prioritize"]) {
    const ours = find(`ours  full   ${verb}`);
    const theirs = find(`go    full   ${verb}`);
    if (ours !== undefined && theirs !== undefined) {
      const rate = (run: Case): number => run.latenciesMs.length / run.elapsedSeconds;
      console.log(`throughput ours/upstream, full objects ${verb}: ${(rate(ours) / rate(theirs)).toFixed(2)} (target >= 1.0)`);
    }
  }
  for (const shape of ["full  ", "names "]) {
    for (const verb of ["/predicate", "/prioritize"]) {
      const ours = find(`ours  ${shape} ${verb}`);
      const base = find(`floor ${shape} ${verb}`);
      if (ours !== undefined && base !== undefined) {
        const p = (run: Case, percent: number): string => percentile(run.latenciesMs, percent).toFixed(2);
        console.log(
          `${shape.trim()} ${verb}: ours p50 ${p(ours, 50)} p99 ${p(ours, 99)} ms; the transport floor alone p50 ${p(base, 50)} p99 ${p(base, 99)} ms`,
        );
      }
    }
  }
} finally {
  for (const child of children) {
    await ("child" in child ? child.stop() : "kill" in child ? stop(child) : child.stop());
  }
  await api.close();
  await rm(dir, { recursive: true, force: true });
}
