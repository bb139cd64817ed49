import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createKubeClient } from "@topolvm/kube-client";
import { pino } from "pino";
import { createClusterCache, maxFallbackReadsPerReview } from "../../packages/admission-webhook/src/cluster-cache.js";
import { createWebhookMetrics } from "../../packages/admission-webhook/src/metrics.js";
import { createWebhookApp } from "../../packages/admission-webhook/src/webhook-app.js";

// API requests caused by one review of a pod whose volumes name PVCs missing from the cache (none exist), through
// the real informer cache, kube-client and koa app, against a loopback API server that counts every GET and when it
// arrived. Two API servers: one that answers 404 at once, one that never answers (each read hangs until cancelled).
// Prints the answer, the reads issued, how many arrived after the answer (within a second of it) and how many were
// still open then: targets are at most the cap, none after the answer, none left open.
// Run: node --import tsx bench/admission-webhook/fallback-reads.ts [volumes]

const [volumes = 10_000] = process.argv.slice(2).map(Number);
const requestTimeoutMs = 3000;

/** A loopback API server with empty PVC and StorageClass collections; GETs of single objects are counted. */
async function startApiServer(answerGets: boolean) {
  const gets: number[] = [];
  let open = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === "/api/v1/persistentvolumeclaims" || url.pathname === "/apis/storage.k8s.io/v1/storageclasses") {
      if (url.searchParams.get("watch") === "true") {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.flushHeaders();
        return;
      }
      json(200, { kind: "List", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: [] });
      return;
    }
    gets.push(performance.now());
    if (answerGets) {
      json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: "not found" });
      return;
    }
    open += 1;
    res.on("close", () => {
      open -= 1;
    });
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    gets,
    open: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const pod = {
  metadata: { name: "many", namespace: "app" },
  spec: {
    containers: [{ name: "main", image: "nginx" }],
    volumes: Array.from({ length: volumes }, (_, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: `missing-${i}` } })),
  },
};
const review = JSON.stringify({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: { uid: "u", kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", namespace: "app", object: pod },
});

for (const [name, answerGets] of [["API server answering 404", true], ["API server never answering", false]] as const) {
  const api = await startApiServer(answerGets);
  const kube = createKubeClient({ server: api.url, insecureSkipTlsVerify: false, token: () => Promise.resolve("t"), source: "bench" });
  const metrics = createWebhookMetrics();
  const logger = pino({ level: "silent" });
  const cache = createClusterCache({ kube, watchClaims: true, fallbackTimeoutMs: requestTimeoutMs * 0.8, logger, metrics });
  cache.start();
  while (!cache.synced()) {
    await sleep(20);
  }
  const app = createWebhookApp({ lookupFor: (signal) => cache.forReview(signal), podHook: true, pvcHook: false, requestTimeoutMs, logger, metrics });
  const handle = app.callback();
  const webhook = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => {
    webhook.listen(0, "127.0.0.1", resolve);
  });
  const { port } = webhook.address() as AddressInfo;

  const sentAt = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/pod/mutate`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: review,
  });
  const answeredAt = performance.now();
  const { message } = (await response.json()) as { message?: string };
  const openAtAnswer = api.open();
  await sleep(1000);
  const late = api.gets.filter((at) => at > answeredAt).length;
  console.log(
    `${name}: pod with ${volumes} missing PVCs → HTTP ${response.status} after ${(answeredAt - sentAt).toFixed(0)} ms (${message ?? ""}); ` +
      `API reads ${api.gets.length} (cap ${maxFallbackReadsPerReview}, ${((api.gets.length / volumes) * 100).toFixed(2)}% of the volumes), ` +
      `${late} after the answer, ${openAtAnswer} open at the answer, ${api.open()} open 1 s later`,
  );

  webhook.close();
  await cache.stop();
  kube.close();
  await api.close();
}
