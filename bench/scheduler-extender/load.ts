import { fork } from "node:child_process";
import { Agent, request as httpRequest } from "node:http";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

// The load generator of bench.ts. It runs in a process of its own that holds nothing but the request body, so its
// garbage collections are those of a small client (as kube-scheduler is to the extender), not those of the bench
// process, which holds 5,000 Node objects and the fake API server that serves them.

/** One case's load: `body` POSTed to `url` for `seconds`, `concurrency` requests in flight, after a warm-up. */
export interface LoadSpec {
  readonly url: string;
  readonly body: Uint8Array;
  readonly seconds: number;
  readonly concurrency: number;
  readonly warmupRequests: number;
}

/** What a case measured: the latency of every request after the warm-up, sorted, and the time it took. */
export interface LoadResult {
  readonly latenciesMs: number[];
  readonly elapsedSeconds: number;
}

/** POSTs one pre-encoded body and reads the whole response; returns its status and body. */
export function post(agent: Agent, url: string, body: Uint8Array): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json", "content-length": body.length },
    });
    request.on("error", reject);
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
    });
    request.end(body);
  });
}

async function generate(spec: LoadSpec): Promise<LoadResult> {
  const { url, body, concurrency } = spec;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  for (let i = 0; i < spec.warmupRequests; i++) {
    const { status, body: answer } = await post(agent, url, body);
    if (status !== 200) {
      throw new Error(`${url} answered ${status}: ${answer.toString("utf8").slice(0, 200)}`);
    }
  }
  const latenciesMs: number[] = [];
  const started = performance.now();
  const deadline = started + spec.seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const { status } = await post(agent, url, body);
        if (status !== 200) {
          throw new Error(`${url} answered ${status}`);
        }
        latenciesMs.push(performance.now() - sent);
      }
    }),
  );
  const elapsedSeconds = (performance.now() - started) / 1000;
  agent.destroy();
  latenciesMs.sort((a, b) => a - b);
  return { latenciesMs, elapsedSeconds };
}

/** Runs one case's load in a fresh load process and returns what it measured. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ["--import", "tsx"], serialization: "advanced" });
    child.once("message", (result) => {
      resolve(result as LoadResult);
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      reject(new Error(`the load process exited with ${code} before reporting`));
    });
    child.send(spec);
  });
}

// Started by runLoad: one spec in, one result out.
if (process.send !== undefined) {
  process.once("message", (spec) => {
    void generate(spec as LoadSpec).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
