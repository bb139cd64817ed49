import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../../tools/eventually.js";
import { openRequest, type RawResponse } from "../test/support/raw-request.js";
import { createExtenderApp, type ExtenderAppOptions } from "./extender-app.js";
import type { NodeCapacitySource } from "./extender-verbs.js";
import {
  defaultRequestTimeouts,
  startExtenderServer,
  type ExtenderServer,
  type RequestTimeouts,
} from "./extender-server.js";
import { createExtenderMetrics } from "./metrics.js";
import { defaultBodyLimitBytes } from "./request-body.js";

const key = "capacity.topolvm.cybozu.com/00default";
const gib = 1024 ** 3;
const pod = { metadata: { name: "p", namespace: "ns", annotations: { [key]: String(5 * gib) } } };
const nodes = {
  items: [
    { metadata: { name: "small", annotations: { [key]: String(gib) } } },
    { metadata: { name: "big", annotations: { [key]: String(64 * gib) } } },
  ],
};

let servers: ExtenderServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close(1000)));
  servers = [];
});

async function start(
  overrides: Partial<ExtenderAppOptions> = {},
  timeouts?: RequestTimeouts,
): Promise<{ url: string; server: ExtenderServer }> {
  const app = createExtenderApp({
    context: { divisors: { defaultDivisor: 1, byDeviceClass: new Map() }, nodeCache: undefined },
    metrics: createExtenderMetrics({ processMetrics: false }),
    logger: pino({ level: "silent" }),
    notReadyReason: () => undefined,
    ...overrides,
  });
  const server = await startExtenderServer(app, { host: "127.0.0.1", port: 0 }, timeouts);
  servers.push(server);
  return { url: `http://127.0.0.1:${server.address.port}`, server };
}

/** Sends a POST body in the given chunks. */
function send(url: string, headers: Record<string, string | number>, chunks: (string | Buffer)[]): Promise<RawResponse> {
  const { request, response } = openRequest(url, headers);
  for (const chunk of chunks) {
    request.write(chunk);
  }
  request.end();
  return response;
}

function post(url: string, path: string, body: string): Promise<Response> {
  return fetch(`${url}${path}`, { method: "POST", body, headers: { "content-type": "application/json" } });
}

describe("the extender's HTTP adapter", () => {
  it("calls afterLargeBody once a request of 1 MiB or more is answered, and not for smaller ones", async () => {
    let calls = 0;
    const { url } = await start({ afterLargeBody: () => (calls += 1) });
    await (await post(url, "/predicate", JSON.stringify({ Pod: pod, Nodes: nodes }))).text();
    expect(calls).toBe(0);
    const padded = { Pod: pod, Nodes: { items: nodes.items.map((node) => ({ ...node, status: { pad: "x".repeat(600 * 1024) } })) } };
    expect((await post(url, "/prioritize", JSON.stringify(padded))).status).toBe(200);
    await until("afterLargeBody to be called", () => Promise.resolve(calls === 1));
  });

  it("serves /predicate and /prioritize with kube-scheduler's JSON", async () => {
    const { url } = await start();
    const filtered = await post(url, "/predicate", JSON.stringify({ Pod: pod, Nodes: nodes }));
    expect(filtered.status).toBe(200);
    expect(filtered.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await filtered.json()).toEqual({
      Nodes: { items: [nodes.items[1]] },
      FailedNodes: {},
      FailedAndUnresolvableNodes: { small: 'TopoLVM: not enough free space in device-class "00default"' },
      Error: "",
    });
    const scored = await post(url, "/prioritize", JSON.stringify({ pod, nodes }));
    expect(await scored.json()).toEqual([
      { Host: "small", Score: 0 },
      { Host: "big", Score: 6 },
    ]);
  });

  it.each([
    { body: "{bad", message: /^malformed JSON in request body: .* at position 1/ },
    { body: "", message: /^request body is empty; expected ExtenderArgs JSON$/ },
    { body: "[]", message: /^bad ExtenderArgs: request body must be a JSON object \(ExtenderArgs\)$/ },
    { body: JSON.stringify({ Nodes: nodes }), message: /^bad ExtenderArgs: Pod is missing$/ },
    { body: JSON.stringify({ Pod: pod }), message: /^bad ExtenderArgs: one of Nodes or NodeNames is required$/ },
    { body: '{"Pod": {}, "NodeNames": ["a\\qb"]}', message: /^malformed JSON in request body: Bad escaped character in JSON at position 29/ },
  ])("answers 400 with a message for the body $body", async ({ body, message }) => {
    const { url } = await start();
    for (const path of ["/predicate", "/prioritize"]) {
      const response = await post(url, path, body);
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(message);
    }
  });

  it("limits bodies to 10 MiB by default", () => {
    expect(defaultBodyLimitBytes).toBe(10 * 1024 * 1024);
  });

  it("answers 413 to a body declared larger than the limit, without reading it", async () => {
    const { url } = await start({ bodyLimitBytes: 1024 });
    const response = await send(`${url}/predicate`, { "content-length": 4096 }, ["{"]);
    expect(response.status).toBe(413);
    expect(response.body).toBe("request body is larger than the limit of 1024 bytes");
    expect(response.headers.connection).toBe("close");
  });

  it("answers 413 to a chunked body that grows past the limit", async () => {
    const { url } = await start({ bodyLimitBytes: 1024 });
    const response = await send(`${url}/prioritize`, {}, ['{"Pod":', Buffer.alloc(2048, " ")]);
    expect(response.status).toBe(413);
  });

  it("accepts a body of exactly the limit", async () => {
    const body = JSON.stringify({ Pod: pod, Nodes: nodes });
    const { url } = await start({ bodyLimitBytes: Buffer.byteLength(body) });
    expect((await post(url, "/predicate", body)).status).toBe(200);
  });

  it("answers 404 to unknown routes and 405 to the wrong method", async () => {
    const { url } = await start();
    const missing = await fetch(`${url}/filter`, { method: "POST", body: "{}" });
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("not found");
    const wrongMethod = await fetch(`${url}/predicate`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("POST");
  });

  it("reports readiness on /status", async () => {
    let reason: string | undefined = "node cache not synced with the API server yet";
    const { url } = await start({ notReadyReason: () => reason });
    const notReady = await fetch(`${url}/status`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe("node cache not synced with the API server yet");
    reason = undefined;
    const ready = await fetch(`${url}/status`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe("ok");
  });

  it("counts requests and their latency per verb on /metrics", async () => {
    const { url } = await start();
    await post(url, "/predicate", JSON.stringify({ Pod: pod, Nodes: nodes }));
    await post(url, "/predicate", "{bad");
    await post(url, "/prioritize", JSON.stringify({ Pod: pod, Nodes: nodes }));
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('topolvm_scheduler_requests_total{verb="predicate",code="200"} 1');
    expect(text).toContain('topolvm_scheduler_requests_total{verb="predicate",code="400"} 1');
    expect(text).toContain('topolvm_scheduler_requests_total{verb="prioritize",code="200"} 1');
    expect(text).toContain('topolvm_scheduler_request_duration_seconds_count{verb="predicate"} 2');
    expect(text).toContain('topolvm_scheduler_request_duration_seconds_count{verb="prioritize"} 1');
  });

  it("answers 500 when a dependency throws, and keeps serving", async () => {
    const broken: NodeCapacitySource = {
      synced: () => true,
      get: () => {
        throw new Error("cache exploded");
      },
    };
    const { url } = await start({ context: { divisors: { defaultDivisor: 1, byDeviceClass: new Map() }, nodeCache: broken } });
    const failed = await post(url, "/predicate", JSON.stringify({ Pod: pod, NodeNames: ["a"] }));
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe("internal error");
    expect((await fetch(`${url}/status`)).status).toBe(200);
  });

  it("drains: finishes a request in flight, closes its connection and refuses new ones", async () => {
    const { url, server } = await start();
    const body = JSON.stringify({ Pod: pod, Nodes: nodes });
    const { request, response: responded } = openRequest(`${url}/predicate`, { "content-length": Buffer.byteLength(body) });
    request.write(body.slice(0, 10));
    // Let the server take the request in before draining starts.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = server.close(5000);
    expect(server.draining()).toBe(true);
    await expect(fetch(`${url}/status`)).rejects.toThrow();
    request.end(body.slice(10));
    const response = await responded;
    expect(response.status).toBe(200);
    expect(response.headers.connection).toBe("close");
    expect((JSON.parse(response.body) as { Nodes: unknown }).Nodes).toEqual({ items: [nodes.items[1]] });
    await closing;
  });

  it("answers 503 with Retry-After to a large body over the bytes in flight, and serves small ones", async () => {
    const mib = 1024 * 1024;
    const { url } = await start({ maxBodyBytes: 1.5 * mib });
    const held = openRequest(`${url}/predicate`, { "content-length": mib });
    held.response.catch(() => undefined);
    held.request.write("{");
    await until("the held body to be admitted", async () => {
      const refused = await send(`${url}/predicate`, { "content-length": mib }, [Buffer.alloc(mib, " ")]);
      return refused.status === 503 && refused.headers["retry-after"] === "1";
    });
    expect((await post(url, "/predicate", JSON.stringify({ Pod: pod, Nodes: nodes }))).status).toBe(200);
    held.request.destroy();
    await until("the held body's bytes to be released", async () => {
      const padded = JSON.stringify({ Pod: pod, Nodes: nodes }).padEnd(mib);
      return (await post(url, "/predicate", padded)).status === 200;
    });
  });

  it("answers 503 with Retry-After beyond the number of bodies in flight", async () => {
    const { url } = await start({ maxBodies: 1 });
    const held = openRequest(`${url}/predicate`, { "content-length": 100 });
    held.response.catch(() => undefined);
    held.request.write("{");
    await until("the second body to be refused", async () => {
      const refused = await post(url, "/predicate", JSON.stringify({ Pod: pod, Nodes: nodes }));
      return refused.status === 503 && refused.headers.get("retry-after") === "1";
    });
    held.request.destroy();
  });

  it("logs a body cut short as one warning without a stack, and counts it", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const metrics = createExtenderMetrics({ processMetrics: false });
    const { url } = await start({ logger, metrics });
    const cut = openRequest(`${url}/prioritize`, { "content-length": 1000 });
    cut.response.catch(() => undefined);
    cut.request.write('{"Pod":');
    await new Promise((resolve) => setTimeout(resolve, 200));
    cut.request.destroy();
    await until("the abort to be counted", async () =>
      (await metrics.registry.metrics()).includes('topolvm_scheduler_client_aborts_total{verb="prioritize"} 1'),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0])).not.toMatch(/stack/);
  });

  it("answers 400 to a body that is not valid UTF-8 instead of echoing it", async () => {
    const { url } = await start();
    const body = Buffer.concat([
      Buffer.from(JSON.stringify({ Pod: pod, NodeNames: ["good"] }).replace('"good"', '"bad')),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"]}'),
    ]);
    for (const path of ["/predicate", "/prioritize"]) {
      const response = await send(`${url}${path}`, { "content-length": body.length }, [body]);
      expect(response.status).toBe(400);
      expect(response.body).toBe("request body is not valid UTF-8");
    }
  });

  it("gives a request 30 s and its headers 10 s, within kube-scheduler's extender timeout", () => {
    expect(defaultRequestTimeouts).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
  });

  it("cuts a connection whose body arrives too slowly, and counts it as a 408, not as a client abort", async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const metrics = createExtenderMetrics({ processMetrics: false });
    const { url } = await start({ logger, metrics }, { headersTimeoutMs: 500, requestTimeoutMs: 1000 });
    const slow = openRequest(`${url}/predicate`, { "content-length": 1000 });
    slow.request.write("{");
    const dripping = setInterval(() => slow.request.write(" "), 100);
    const outcome = await slow.response.then(
      (response) => response.status,
      (error: unknown) => (error as Error).message,
    );
    clearInterval(dripping);
    expect(outcome === 408 || outcome === "socket hang up" || outcome === "read ECONNRESET").toBe(true);
    await until("the timeout to be counted", async () =>
      (await metrics.registry.metrics()).includes('topolvm_scheduler_requests_total{verb="predicate",code="408"} 1'),
    );
    expect(await metrics.registry.metrics()).not.toMatch(/^topolvm_scheduler_client_aborts_total\{/m);
    expect(lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      "the request was not all sent within the request timeout",
    ]);
  });
});
