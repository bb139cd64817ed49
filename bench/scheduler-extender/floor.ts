import { fork } from "node:child_process";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

// The transport floor of bench.ts: an HTTP server in a process of its own that reads each request body whole and
// answers with a canned body of the size the extender's answer has, doing nothing else. Its latencies are what
// loopback HTTP, the load process and this machine cost by themselves; the extender's are that plus its work.

/** A running floor server: POST `/<name>` answers `answers[name]`. */
export interface FloorServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

function drain(request: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    request.on("data", () => undefined);
    request.once("end", resolve);
    request.once("error", reject);
  });
}

/** Starts the floor server in a new process with the canned answers. */
export function startFloorServer(answers: Readonly<Record<string, Uint8Array>>): Promise<FloorServer> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ["--import", "tsx"], serialization: "advanced" });
    child.once("error", reject);
    child.once("message", (port) => {
      const exited = new Promise<void>((done) => {
        child.once("exit", () => {
          done();
        });
      });
      resolve({
        url: `http://127.0.0.1:${port as number}`,
        pid: child.pid ?? 0,
        async stop() {
          child.kill("SIGTERM");
          await exited;
        },
      });
    });
    child.send(answers);
  });
}

// Started by startFloorServer: the answers in, the port out.
if (process.send !== undefined) {
  process.once("message", (message) => {
    const answers = new Map(Object.entries(message as Record<string, Uint8Array>).map(([name, bytes]) => [`/${name}`, Buffer.from(bytes)]));
    const server = createServer((request, response) => {
      void drain(request).then(() => {
        const answer = answers.get(request.url ?? "");
        response.writeHead(answer === undefined ? 404 : 200, { "content-type": "application/json" });
        response.end(answer);
      });
    });
    server.keepAliveTimeout = 65_000;
    server.listen(0, "127.0.0.1", () => process.send?.((server.address() as AddressInfo).port));
  });
}
