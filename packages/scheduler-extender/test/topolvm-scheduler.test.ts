import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeApiServer, type FakeApiServer, type FakeNode } from "./support/fake-api-server.js";
import { until } from "../../../tools/eventually.js";
import { openRequest } from "./support/raw-request.js";
import { runScheduler, startScheduler, type SchedulerProcess, type StartedAs } from "./support/scheduler-process.js";

const key = "capacity.topolvm.cybozu.com/00default";
const gib = 1024 ** 3;

function node(name: string, freeGiB: number): FakeNode {
  return { metadata: { name, annotations: { [key]: String(freeGiB * gib) } }, status: { capacity: { cpu: "4" } } };
}
const pod = { metadata: { name: "db", namespace: "app", annotations: { [key]: String(5 * gib) } } };

let dir: string;
let running: SchedulerProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "topolvm-scheduler-it-"));
});
afterEach(async () => {
  await Promise.all(running.map((scheduler) => scheduler.stop()));
  running = [];
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function optionsFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function start(args: string[], startedAs?: StartedAs): Promise<SchedulerProcess> {
  const scheduler = await startScheduler(args, startedAs === undefined ? {} : { startedAs });
  running.push(scheduler);
  return scheduler;
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: response.status, json: await response.json() };
}

describe("topolvm-scheduler's memory settings", () => {
  it("come from the bin's first line: started by it, no warning; started as `node <bin>`, one warning naming them", async () => {
    const options = await optionsFile("memory.yaml", 'listen: "127.0.0.1:0"\n');
    const asBin = await start(["--config", options]);
    expect(asBin.logs.filter((entry) => entry.level === 40)).toEqual([]);
    const plain = await start(["--config", options], "plain node");
    expect(plain.logs.filter((entry) => entry.level === 40)).toMatchObject([
      {
        msg: "started without the memory settings of the bin's first line: more memory stays resident after large requests",
        missing: [
          "--heap-growing-percent=300",
          "--semi-space-growth-factor=1",
          "--expose-gc",
          "MALLOC_MMAP_THRESHOLD_=32768",
        ],
      },
    ]);
  });
});

describe("topolvm-scheduler with full Node objects", () => {
  it("serves status, predicate, prioritize and metrics, and exits 0 on SIGTERM", async () => {
    const options = await optionsFile("full.yaml", 'listen: "127.0.0.1:0"\ndivisors:\n  00default: 2\n');
    const scheduler = await start(["--config", options]);
    expect(scheduler.logs.find((entry) => entry.msg === "listening")).toMatchObject({
      name: "topolvm-scheduler",
      level: 30,
      address: "127.0.0.1",
      nodeCache: false,
      divisors: { "00default": 2 },
    });

    const status = await fetch(`${scheduler.url}/status`);
    expect([status.status, await status.text()]).toEqual([200, "ok"]);

    const nodes = { items: [node("small", 1), node("roomy", 64), node("huge", 4096)] };
    const filtered = await postJson(`${scheduler.url}/predicate`, { Pod: pod, Nodes: nodes });
    expect(filtered).toEqual({
      status: 200,
      json: {
        Nodes: { items: [nodes.items[1], nodes.items[2]] },
        FailedNodes: {},
        FailedAndUnresolvableNodes: { small: 'TopoLVM: not enough free space in device-class "00default"' },
        Error: "",
      },
    });
    const scored = await postJson(`${scheduler.url}/prioritize`, { pod, nodes });
    expect(scored.json).toEqual([
      { Host: "small", Score: 0 },
      { Host: "roomy", Score: 5 },
      { Host: "huge", Score: 10 },
    ]);

    const bad = await fetch(`${scheduler.url}/predicate`, { method: "POST", body: '{"Pod":' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^malformed JSON in request body/);

    const metrics = await (await fetch(`${scheduler.url}/metrics`)).text();
    expect(metrics).toContain('topolvm_scheduler_requests_total{verb="predicate",code="200"} 1');
    expect(metrics).toContain('topolvm_scheduler_requests_total{verb="predicate",code="400"} 1');
    expect(metrics).toContain('topolvm_scheduler_request_duration_seconds_count{verb="prioritize"} 1');
    expect(metrics).toContain("process_resident_memory_bytes");

    expect(await scheduler.stop()).toBe(0);
    expect(scheduler.logs.map((entry) => entry.msg)).toEqual(expect.arrayContaining(["draining", "stopped"]));
  });

  it("finishes a request in flight after SIGTERM before exiting 0", async () => {
    const options = await optionsFile("drain.yaml", 'listen: "127.0.0.1:0"\n');
    const scheduler = await start(["--config", options]);
    const body = JSON.stringify({ Pod: pod, Nodes: { items: [node("roomy", 64)] } });
    const { request, response: responded } = openRequest(`${scheduler.url}/predicate`, {
      "content-length": Buffer.byteLength(body),
    });
    request.write(body.slice(0, 20));
    // Let the server take the request in before the signal.
    await new Promise((resolve) => setTimeout(resolve, 200));
    scheduler.child.kill("SIGTERM");
    await until("draining", () => Promise.resolve(scheduler.logs.some((entry) => entry.msg === "draining")));
    request.end(body.slice(20));
    const response = await responded;
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as { NodeNames?: unknown; Nodes: { items: unknown[] } }).Nodes.items).toHaveLength(1);
    expect(await scheduler.exited).toBe(0);
  });
});

describe("topolvm-scheduler with a node cache (nodeCacheCapable: true)", () => {
  let api: FakeApiServer;
  beforeAll(async () => {
    api = await startFakeApiServer([node("small", 1), node("roomy", 64)]);
  });
  afterAll(async () => {
    await api.close();
  });

  it("is not ready until the cache synced, then filters and scores node names and follows Node updates", async () => {
    const release = api.holdLists();
    const kubeconfig = await api.writeKubeconfig(join(dir, "kubeconfig"));
    const options = await optionsFile("cache.yaml", 'listen: "127.0.0.1:0"\n');
    const scheduler = await start(["--config", options, "--kubeconfig", kubeconfig]);

    const notReady = await fetch(`${scheduler.url}/status`);
    expect([notReady.status, await notReady.text()]).toEqual([503, "node cache not synced with the API server yet"]);
    const early = await postJson(`${scheduler.url}/predicate`, { Pod: pod, NodeNames: ["roomy"] });
    expect(early.json).toMatchObject({ Error: "TopoLVM: topolvm-scheduler's node cache has not synced with the API server yet" });

    release();
    await until("/status 200", async () => (await fetch(`${scheduler.url}/status`)).status === 200);
    const filtered = await postJson(`${scheduler.url}/predicate`, { Pod: pod, NodeNames: ["small", "roomy", "ghost"] });
    expect(filtered.json).toEqual({
      NodeNames: ["roomy"],
      FailedNodes: {},
      FailedAndUnresolvableNodes: {
        small: 'TopoLVM: not enough free space in device-class "00default"',
        ghost: "TopoLVM: node is not in topolvm-scheduler's node cache",
      },
      Error: "",
    });

    api.setNode(node("ghost", 2048));
    api.setNode(node("roomy", 2));
    await until("the cache to see the updates", async () => {
      const result = await postJson(`${scheduler.url}/predicate`, { Pod: pod, NodeNames: ["small", "roomy", "ghost"] });
      return JSON.stringify((result.json as { NodeNames: unknown }).NodeNames) === '["ghost"]';
    });
    const scored = await postJson(`${scheduler.url}/prioritize`, { Pod: pod, NodeNames: ["roomy", "ghost"] });
    expect(scored.json).toEqual([
      { Host: "roomy", Score: 1 },
      { Host: "ghost", Score: 10 },
    ]);

    api.deleteNode("ghost");
    await until("the cache to drop the deleted node", async () => {
      const result = await postJson(`${scheduler.url}/predicate`, { Pod: pod, NodeNames: ["ghost"] });
      return (result.json as { NodeNames: unknown[] }).NodeNames.length === 0;
    });
    const metrics = await (await fetch(`${scheduler.url}/metrics`)).text();
    expect(metrics).toContain("topolvm_scheduler_node_cache_nodes 2");
    expect(new Set(api.accepts())).toEqual(
      new Set([
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
      ]),
    );
    expect(await scheduler.stop()).toBe(0);
  });
});

describe("topolvm-scheduler's command line", () => {
  it("exits 1 naming the key and value of a bad option", async () => {
    const options = await optionsFile("bad.yaml", "divisors:\n  ssd: 0\n");
    const run = await runScheduler(["--config", options]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`topolvm-scheduler: ${options}: divisors.ssd: 0 is not a number > 0\n`);
  });

  it("exits 1 when the listen port is taken", async () => {
    const first = await start(["--config", await optionsFile("first.yaml", 'listen: "127.0.0.1:0"\n')]);
    const taken = await optionsFile("taken.yaml", `listen: "127.0.0.1:${first.port}"\n`);
    const run = await runScheduler(["--config", taken]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/EADDRINUSE/);
  });

  it("exits 2 with the usage on an unknown flag or conflicting flags", async () => {
    const unknown = await runScheduler(["--listen", ":1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--listen'[\s\S]*Usage: topolvm-scheduler/);
    const conflicting = await runScheduler(["--kubeconfig", "x", "--in-cluster"]);
    expect(conflicting.code).toBe(2);
    expect(conflicting.stderr).toMatch(/--kubeconfig and --in-cluster exclude each other/);
  });

  it("prints the help", async () => {
    const help = await runScheduler(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: topolvm-scheduler \[--config FILE\]/);
  });
});
