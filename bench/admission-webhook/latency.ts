import { mkdtempSync, rmSync } from "node:fs";
import { Agent, createServer, request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { createWebhookMetrics } from "../../packages/admission-webhook/src/metrics.js";
import { createWebhookApp } from "../../packages/admission-webhook/src/webhook-app.js";
import { claim, fixedLookup, storageClass } from "../../packages/admission-webhook/test/support/cluster-fixtures.js";
import { createTestPki } from "../../packages/admission-webhook/test/support/test-pki.js";
import { percentile } from "../support/stats.js";

// Latency of one admission as kube-apiserver sees it: AdmissionReview v1 over HTTPS on kept-alive connections to
// the koa app with its real handlers, cluster state from an in-memory lookup (what the informer caches give).
// Reports p50/p99/max per request and throughput, for a pod with three PVCs and an ephemeral volume (patched) and a
// pod without volumes (allowed as is), at concurrency 1 and 16.
// Run: node --import tsx bench/admission-webhook/latency.ts [requests]

const [requests = 5000] = process.argv.slice(2).map(Number);

const lookup = fixedLookup(
  [
    storageClass("ssd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "ssd" }),
    storageClass("hdd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "hdd" }),
  ],
  [claim("app", "a", "ssd", "10Gi"), claim("app", "b", "ssd", "5Gi"), claim("app", "c", "hdd", "1Ti")],
);

function review(object: unknown, uid: number): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: `uid-${uid}`, kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", namespace: "app", object },
  });
}

const withClaims = {
  metadata: { name: "web", namespace: "app", labels: { app: "web" } },
  spec: {
    containers: [{ name: "main", image: "nginx", resources: { requests: { cpu: "100m" } } }],
    volumes: [
      ...["a", "b", "c"].map((name) => ({ name, persistentVolumeClaim: { claimName: name } })),
      { name: "e", ephemeral: { volumeClaimTemplate: { spec: { storageClassName: "hdd", resources: { requests: { storage: "2Gi" } } } } } },
    ],
  },
};
const withoutVolumes = { metadata: { name: "plain", namespace: "app" }, spec: { containers: [{ name: "main", image: "nginx" }] } };

const dir = mkdtempSync(join(tmpdir(), "webhook-bench-"));
try {
  const pki = createTestPki(dir);
  const serving = pki.issueServing("bench");
  const app = createWebhookApp({
    lookupFor: () => lookup,
    podHook: true,
    pvcHook: true,
    requestTimeoutMs: 3000,
    logger: pino({ level: "silent" }),
    metrics: createWebhookMetrics(),
  });
  const handle = app.callback();
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;

  const post = (agent: Agent, body: string) =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port, path: "/pod/mutate", method: "POST", ca: pki.caCert, agent, headers: { "Content-Type": "application/json" } },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) resolve();
            else reject(new Error(`HTTP ${res.statusCode}`));
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  for (const [name, object] of [["pod with 3 PVCs + ephemeral (patched)", withClaims], ["pod without volumes (allowed)", withoutVolumes]] as const) {
    for (const concurrency of [1, 16]) {
      const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
      for (let i = 0; i < 200; i++) await post(agent, review(object, i));
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests) {
            const uid = next++;
            const body = review(object, uid);
            const t0 = performance.now();
            await post(agent, body);
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      agent.destroy();
      latencies.sort((a, b) => a - b);
      console.log(
        `${name}, concurrency ${concurrency}: ${requests} requests, p50 ${percentile(latencies, 50).toFixed(3)} ms, ` +
          `p99 ${percentile(latencies, 99).toFixed(3)} ms, max ${(latencies.at(-1) ?? 0).toFixed(3)} ms, ${(requests / seconds).toFixed(0)} req/s`,
      );
    }
  }
  server.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
