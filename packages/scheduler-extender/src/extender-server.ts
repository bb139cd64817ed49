import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type Koa from "koa";
import type { ListenAddress } from "./scheduler-options.js";

/** A listening extender server. */
export interface ExtenderServer {
  /** The bound address; its port is the real one when the options asked for port 0. */
  readonly address: AddressInfo;
  /** True once draining began: readiness should turn false. */
  draining(): boolean;
  /**
   * Drains: stops accepting connections, lets in-flight requests finish (answering them with `Connection: close`), and
   * resolves when every connection is closed. Connections still open after `graceMs` are cut.
   */
  close(graceMs: number): Promise<void>;
}

/** How long a client has to send a request's headers and its whole request. */
export interface RequestTimeouts {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * kube-scheduler gives up on an extender call after its httpTimeout, 30 s by default: a request still arriving by then
 * has no one waiting for it. Node's defaults (60 s for headers, 300 s for the request) let slow connections hold their
 * bodies' memory for minutes.
 */
export const defaultRequestTimeouts: RequestTimeouts = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

/** Serves a koa application on the given address. */
export async function startExtenderServer(
  app: Koa,
  listen: ListenAddress,
  timeouts: RequestTimeouts = defaultRequestTimeouts,
): Promise<ExtenderServer> {
  let isDraining = false;
  const handle = app.callback();
  const inFlight = new Set<ServerResponse>();
  const server: Server = createServer({
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // Node checks the two timeouts above this often (30 s by default, which would double the request timeout).
    connectionsCheckingInterval: Math.min(1000, timeouts.headersTimeoutMs),
  }, (request, response) => {
    if (isDraining) {
      response.setHeader("Connection", "close");
    } else {
      inFlight.add(response);
      response.once("close", () => inFlight.delete(response));
    }
    void handle(request, response);
  });
  // kube-scheduler keeps connections alive between scheduling cycles, idle for up to 90 s (client-go's transport
  // default): outlive that, so the scheduler closes first and never writes a call into a socket being closed here.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: listen.port, ...(listen.host === "" ? {} : { host: listen.host }) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const closed = new Promise<void>((resolve) => server.once("close", resolve));
  return {
    address: server.address() as AddressInfo,
    draining: () => isDraining,
    async close(graceMs) {
      if (!isDraining) {
        isDraining = true;
        // Responses not yet started tell their clients to reconnect elsewhere instead of reusing the connection.
        for (const response of inFlight) {
          if (!response.headersSent) {
            response.setHeader("Connection", "close");
          }
        }
        inFlight.clear();
        server.close();
        server.closeIdleConnections();
        // Connections busy now become idle after their response; sweep them until none is left.
        const sweep = setInterval(() => { server.closeIdleConnections(); }, 100);
        const cut = setTimeout(() => { server.closeAllConnections(); }, graceMs);
        void closed.finally(() => {
          clearInterval(sweep);
          clearTimeout(cut);
        });
      }
      await closed;
    },
  };
}
