import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/** Whether a process should receive work, and why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** A listen address `HOST:PORT` or `:PORT` (all interfaces), as the chart passes it. */
export interface ListenAddress {
  readonly host: string | undefined;
  readonly port: number;
}

/** Parses `HOST:PORT`, `:PORT` or `[v6]:PORT`; the error names the flag and the value. */
export function parseListenAddress(flag: string, value: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`${flag}: ${JSON.stringify(value)} is not HOST:PORT or :PORT`);
  }
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}

/**
 * The plain-HTTP side server of a process: `/metrics` (Prometheus text, when a registry is given), `/healthz` (the
 * process answers) and `/readyz` (200 when ready, 503 with the reason otherwise).
 */
export function createHttpEndpoints(options: { registry?: Registry; readiness: () => Readiness }): Server {
  const { registry, readiness } = options;
  return createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    const send = (status: number, body: string, contentType = "text/plain; charset=utf-8"): void => {
      response.writeHead(status, { "Content-Type": contentType });
      response.end(body);
    };
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(405, `${path} accepts GET\n`);
      return;
    }
    if (path === "/metrics" && registry !== undefined) {
      registry.metrics().then(
        (text) => {
          send(200, text, registry.contentType);
        },
        (error: unknown) => {
          send(500, `collecting metrics failed: ${(error as Error).message}\n`);
        },
      );
      return;
    }
    if (path === "/healthz") {
      send(200, "ok\n");
      return;
    }
    if (path === "/readyz") {
      const state = readiness();
      send(state.ready ? 200 : 503, state.ready ? "ok\n" : `not ready: ${state.reason}\n`);
      return;
    }
    send(404, `no endpoint ${path}\n`);
  });
}

/** Starts listening; resolves with the bound port (useful with port 0). */
export function listen(server: Server, address: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      const bound = server.address();
      resolve(typeof bound === "object" && bound !== null ? bound.port : address.port);
    });
  });
}
