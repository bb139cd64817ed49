import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/** Whether the webhook should receive traffic, and why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * The plain-HTTP side server: `/metrics` (Prometheus text), `/healthz` (the process answers), `/readyz` (200 once
 * the informer caches synced and while not draining; 503 with the reason otherwise).
 */
export function createHealthServer(registry: Registry, readiness: () => Readiness): Server {
  return createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const send = (status: number, body: string, contentType = "text/plain; charset=utf-8") => {
      response.writeHead(status, { "Content-Type": contentType });
      response.end(body);
    };
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(405, `${path} accepts GET\n`);
      return;
    }
    switch (path) {
      case "/metrics":
        registry.metrics().then(
          (text) => {
            send(200, text, registry.contentType);
          },
          (error: unknown) => {
            send(500, `collecting metrics failed: ${(error as Error).message}\n`);
          },
        );
        return;
      case "/healthz":
        send(200, "ok\n");
        return;
      case "/readyz": {
        const state = readiness();
        send(state.ready ? 200 : 503, state.ready ? "ok\n" : `not ready: ${state.reason}\n`);
        return;
      }
      default:
        send(404, `no endpoint ${path}; served: /metrics, /healthz, /readyz\n`);
    }
  });
}
