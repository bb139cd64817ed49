import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startScheduler } from "../../packages/scheduler-extender/test/support/scheduler-process.js";
import { percentile } from "../support/stats.js";
import { runLoad } from "./load.js";
import { benchNodes, benchPod } from "./nodes.js";

// The extender under hostile load (issue 18): a burst of 50 concurrent 5,000-Node bodies (full objects, 9 MiB each)
// and 200 slow connections that each declare a 10 MiB body and send one byte a second, while a load process of its
// own sends ordinary requests (100 Nodes, one at a time, as kube-scheduler does) for the whole burst.
// Prints the extender's peak RSS, its RSS 60 s after the burst, the status counts of every answer and the p99 of the
// ordinary requests. Targets: peak <= 250 MB, settled <= 100 MB, ordinary p99 <= 50 ms.
//   node --import tsx bench/scheduler-extender/hostile.ts [--settle 60]
// Needs `npx nx run scheduler-extender:build`.

const settleArg = process.argv.indexOf("--settle");
const settleSeconds = settleArg === -1 ? 60 : Number(process.argv[settleArg + 1]);
const burstBodies = 50;
const slowConnections = 200;
const slowSeconds = 35;

function statusMB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return (Number(match?.[1] ?? Number.NaN) * 1024) / 1e6;
}

/** POSTs a body on a connection of its own; resolves with the status, or how the connection ended. */
function postOnce(url: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const request = httpRequest(url, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "content-length": body.length },
    });
    request.on("error", (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? error.message);
    });
    request.on("response", (response) => {
      response.resume();
      response.on("end", () => {
        resolve(String(response.statusCode));
      });
    });
    request.end(body);
  });
}

/** Declares a 10 MiB body and sends one byte a second for `seconds`; resolves with the status or how it ended. */
function slowPost(port: number, seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    let sent = 0;
    const drip = setInterval(() => {
      sent += 1;
      if (sent > seconds) {
        socket.destroy();
        return;
      }
      socket.write(" ");
    }, 1000);
    socket.setEncoding("latin1");
    socket.on("connect", () => {
      socket.write(`POST /predicate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n{`);
    });
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(drip);
      resolve(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? (sent > seconds ? "still open at the end" : "closed"));
    });
  });
}

function count(outcomes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) {
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  }
  return [...counts].sort().map(([outcome, n]) => `${outcome}: ${n}`).join(", ");
}

const fullBody = Buffer.from(JSON.stringify({ Pod: benchPod, Nodes: { items: benchNodes(5000) } }));
const ordinaryBody = Buffer.from(JSON.stringify({ Pod: benchPod, Nodes: { items: benchNodes(100) } }));
console.log(
  `burst: ${burstBodies} x ${(fullBody.length / 1024 / 1024).toFixed(1)} MiB bodies + ${slowConnections} slow connections; ` +
    `ordinary: ${(ordinaryBody.length / 1024).toFixed(0)} KiB (100 Nodes), one at a time; load average ${loadavg()[0]?.toFixed(1) ?? "?"}`,
);
const dir = await mkdtemp(join(tmpdir(), "bench-scheduler-hostile-"));
const options = join(dir, "options.yaml");
await writeFile(options, 'listen: "127.0.0.1:0"\n');
const scheduler = await startScheduler(["--config", options]);
try {
  const pid = scheduler.child.pid ?? 0;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idleMB = statusMB(pid, "VmRSS");
  const url = `${scheduler.url}/predicate`;
  const ordinary = runLoad({ url, body: ordinaryBody, seconds: slowSeconds + 5, concurrency: 1, warmupRequests: 5 });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const started = Date.now();
  const [burst, slow] = await Promise.all([
    Promise.all(Array.from({ length: burstBodies }, () => postOnce(url, fullBody))),
    Promise.all(Array.from({ length: slowConnections }, () => slowPost(scheduler.port, slowSeconds))),
  ]);
  const burstSeconds = (Date.now() - started) / 1000;
  const { latenciesMs } = await ordinary;
  const peakMB = statusMB(pid, "VmHWM");
  const afterMB = statusMB(pid, "VmRSS");
  await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
  const settledMB = statusMB(pid, "VmRSS");
  const metrics = await (await fetch(`${scheduler.url}/metrics`)).text();
  const gauge = (name: string): string =>
    (Number(new RegExp(`^${name} (\\S+)`, "m").exec(metrics)?.[1] ?? Number.NaN) / 1e6).toFixed(0);
  console.log(`idle RSS ${idleMB.toFixed(0)} MB; peak RSS ${peakMB.toFixed(0)} MB (target <= 250)`);
  console.log(
    `RSS at the end of the burst ${afterMB.toFixed(0)} MB, ${settleSeconds} s later ${settledMB.toFixed(0)} MB (target <= 100): ` +
      `V8 heap ${gauge("nodejs_heap_size_used_bytes")} MB used of ${gauge("nodejs_heap_size_total_bytes")} MB, external ${gauge("nodejs_external_memory_bytes")} MB`,
  );
  console.log(`burst bodies (${burstSeconds.toFixed(1)} s): ${count(burst)}`);
  console.log(`slow connections: ${count(slow)}`);
  console.log(
    `ordinary requests during the burst: ${latenciesMs.length}, all 200, p50 ${percentile(latenciesMs, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(latenciesMs, 99).toFixed(1)} ms (target <= 50)`,
  );
} finally {
  await scheduler.stop();
  await rm(dir, { recursive: true, force: true });
}
