import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { createBufferPool } from "../../packages/scheduler-extender/src/buffer-pool.js";
import { nodeCapacitiesOf } from "../../packages/scheduler-extender/src/capacity.js";
import type { CandidateNode } from "../../packages/scheduler-extender/src/candidate-node.js";
import {
  answerPredicate,
  answerPrioritize,
  type ExtenderContext,
  type VerbAnswer,
} from "../../packages/scheduler-extender/src/extender-verbs.js";
import { scanPredicate, scanPrioritize } from "../../packages/scheduler-extender/src/full-object-scan.js";
import { median, percentile } from "../support/stats.js";
import { benchNodes, benchPod } from "./nodes.js";

// The extender's two request paths in process, on the same bodies: the plain path (JSON.parse, filter/prioritize,
// JSON.stringify) and the scan (full-object-scan.ts), for full Node objects of growing size and for 5,000 names
// answered from a node cache. The app scans bodies of 1 MiB or more (extender-app.ts); this shows where that pays.
// Prints per body and verb the median and p99 of each path and how many times faster the scan is.
//   node --import tsx bench/scheduler-extender/paths.ts [--seconds 1]

const secondsArg = process.argv.indexOf("--seconds");
const secondsPerCase = secondsArg === -1 ? 1 : Number(process.argv[secondsArg + 1]);

const nodes = benchNodes(5000);
const cache = new Map<string, CandidateNode>(
  nodes.map((node) => {
    const { name, annotations } = node.metadata as { name: string; annotations: Record<string, string> };
    return [name, { name, capacities: nodeCapacitiesOf(annotations) }];
  }),
);
const context: ExtenderContext = {
  divisors: { defaultDivisor: 1, byDeviceClass: new Map() },
  nodeCache: { get: (name) => cache.get(name), synced: () => true },
};
const pool = createBufferPool(64 * 1024);

type Path = (body: Buffer) => VerbAnswer;

/** Latencies in ms of `path` over `body` for about secondsPerCase, after a warm-up. */
function measure(path: Path, body: Buffer): number[] {
  for (let i = 0; i < 5; i++) {
    pool.release(path(body).body);
  }
  const latencies: number[] = [];
  const until = performance.now() + secondsPerCase * 1000;
  while (performance.now() < until || latencies.length < 10) {
    const start = performance.now();
    const answer = path(body);
    latencies.push(performance.now() - start);
    pool.release(answer.body);
  }
  return latencies.sort((a, b) => a - b);
}

const bodies: [string, Buffer][] = [50, 250, 500, 1000, 2500, 5000].map((count) => [
  `${count} Nodes`,
  Buffer.from(JSON.stringify({ Pod: benchPod, Nodes: { items: nodes.slice(0, count) } })),
]);
bodies.push([
  "5000 names",
  Buffer.from(JSON.stringify({ Pod: benchPod, NodeNames: nodes.map((node) => (node.metadata as { name: string }).name) })),
]);

console.log(`${secondsPerCase} s per case and path; load average ${loadavg().map((load) => load.toFixed(1)).join(" ")}`);
console.log("body                 size        verb   plain p50/p99 ms    scan p50/p99 ms   scan faster (p50)");
for (const [name, body] of bodies) {
  for (const [verb, plain, scan] of [
    ["predicate", answerPredicate, scanPredicate],
    ["prioritize", answerPrioritize, scanPrioritize],
  ] as const) {
    const plainMs = measure((bytes) => plain(bytes, context), body);
    const scanMs = measure((bytes) => scan(bytes, context, pool), body);
    const figures = (ms: number[]): string => `${median(ms).toFixed(2)} / ${percentile(ms, 99).toFixed(2)}`.padStart(17);
    console.log(
      `${name.padEnd(14)} ${`${(body.length / 1024).toFixed(0)} KiB`.padStart(10)} ${verb.padStart(11)} ${figures(plainMs)} ${figures(scanMs)}` +
        `   ${(median(plainMs) / median(scanMs)).toFixed(1).padStart(6)}x`,
    );
  }
}
