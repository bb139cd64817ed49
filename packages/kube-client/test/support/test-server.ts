import { createServer as createHttpServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";

/** A request as the test server received it, body read whole. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The subject CN of the client certificate, over TLS with requestCert. */
  readonly clientCommonName: string | undefined;
}

/** A loopback HTTP(S) server that records requests and answers with a test's handler. */
export interface TestServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface TestServerTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** Clients must present a certificate signed by this CA. */
  readonly clientCa?: Buffer;
}

export type TestHandler = (request: RecordedRequest, response: ServerResponse) => void;

/** Answers `status` with a Status object, as kube-apiserver does. */
export function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  response.writeHead(code, { "content-type": "application/json" });
  response.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message }));
}

export function sendJson(response: ServerResponse, value: unknown, status = 200): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}

/** Starts the server on an ephemeral loopback port. */
export async function startTestServer(handle: TestHandler, tls?: TestServerTls): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server: Server =
    tls === undefined
      ? createHttpServer()
      : createHttpsServer({
          key: tls.key,
          cert: tls.cert,
          ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
        });
  server.on("request", (incoming, response: ServerResponse) => {
    let body = "";
    incoming.setEncoding("utf8");
    incoming.on("data", (chunk: string) => (body += chunk));
    incoming.on("end", () => {
      const socket = incoming.socket as Partial<TLSSocket>;
      const subject = socket.getPeerCertificate?.().subject as { CN?: string } | undefined;
      const recorded: RecordedRequest = {
        method: incoming.method ?? "",
        url: new URL(incoming.url ?? "/", "http://test"),
        headers: incoming.headers,
        body,
        clientCommonName: subject?.CN,
      };
      requests.push(recorded);
      handle(recorded, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
