import { Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect";
import { registration, unixSocketTransport } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { startCsiServer, type CsiServer } from "./csi-server.js";
import { createIdentityService } from "./identity-service.js";

const logger = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "csi-server-"));
let sockets = 0;

/** An Identity service whose Probe waits until the test opens its gate (or the call's signal aborts). */
function gatedIdentity() {
  const identity = createIdentityService({ version: "9.9.9", readiness: () => ({ ready: true }), controllerService: true });
  const gates: (() => void)[] = [];
  const aborted: unknown[] = [];
  const impl = {
    ...identity,
    probe: async (_request: csi.ProbeRequest, context: HandlerContext) => {
      await new Promise<void>((resolve, reject) => {
        // Only an abort while the call is held counts (grpc-js also reports the stream's end as a cancel).
        const onAbort = (): void => {
          aborted.push(context.signal.reason);
          reject(new ConnectError("aborted", Code.Canceled));
        };
        gates.push(() => {
          context.signal.removeEventListener("abort", onAbort);
          resolve();
        });
        context.signal.addEventListener("abort", onAbort);
      });
      return { ready: true };
    },
  };
  return { impl, gates, aborted, openAll: () => { gates.splice(0).forEach((open) => { open(); }); } };
}

async function serve(options: { maxInFlight?: number; maxQueued?: number; drainTimeoutMs?: number } = {}) {
  sockets += 1;
  const socketPath = join(dir, `s${sockets}`, "csi.sock");
  const identity = gatedIdentity();
  const registry = new Registry();
  const server: CsiServer = await startCsiServer({ socketPath, services: [registration(csi.Identity, identity.impl)], logger, registry, ...options });
  const client = createClient(csi.Identity, unixSocketTransport(socketPath));
  return { socketPath, server, client, identity, registry };
}

const until = async (condition: () => boolean): Promise<void> => {
  while (!condition()) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

async function codeOf(promise: Promise<unknown>): Promise<Code> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error).code;
  }
  throw new Error("expected the call to fail");
}

describe("startCsiServer", () => {
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves on a unix socket only its owner can use", async () => {
    const { socketPath, server, client } = await serve();
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    expect(await client.getPluginInfo({})).toMatchObject({ name: "topolvm.cybozu.com", vendorVersion: "9.9.9" });
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
  });

  it("runs at most maxInFlight calls of a method, queues maxQueued and refuses the rest with Unavailable", async () => {
    const { server, client, identity } = await serve({ maxInFlight: 1, maxQueued: 1 });
    const first = client.probe({});
    await until(() => identity.gates.length === 1);
    const second = client.probe({});
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await codeOf(client.probe({}))).toBe(Code.Unavailable);
    // Other methods have their own limit.
    expect((await client.getPluginInfo({})).name).toBe("topolvm.cybozu.com");
    identity.openAll();
    await until(() => identity.gates.length === 1);
    identity.openAll();
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
    await server.close();
  });

  it("drops a queued call whose deadline passes", async () => {
    const { server, client, identity } = await serve({ maxInFlight: 1 });
    const first = client.probe({});
    await until(() => identity.gates.length === 1);
    expect(await codeOf(client.probe({}, { timeoutMs: 100 }))).toBe(Code.DeadlineExceeded);
    identity.openAll();
    await first;
    await server.close();
  });

  it("counts calls per method and code in go-grpc-prometheus' metrics", async () => {
    const { server, client, registry } = await serve();
    await client.getPluginInfo({});
    await client.getPluginCapabilities({});
    const text = await registry.metrics();
    expect(text).toContain('grpc_server_handled_total{grpc_type="unary",grpc_service="csi.v1.Identity",grpc_method="GetPluginInfo",grpc_code="OK"} 1');
    expect(text).toContain("grpc_server_handling_seconds_bucket");
    await server.close();
  });

  it("lets a running call finish on close and refuses new ones", async () => {
    const { socketPath, server, client, identity } = await serve();
    const running = client.probe({});
    await until(() => identity.gates.length === 1);
    const closed = server.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const newcomer = createClient(csi.Identity, unixSocketTransport(socketPath));
    await expect(newcomer.getPluginInfo({}, { timeoutMs: 1000 })).rejects.toThrow();
    identity.openAll();
    await expect(running).resolves.toMatchObject({ ready: true });
    await closed;
    expect(identity.aborted).toEqual([]);
  });

  it("aborts calls still running after the drain timeout", async () => {
    const { server, client, identity } = await serve({ drainTimeoutMs: 100 });
    const running = codeOf(client.probe({}));
    await until(() => identity.gates.length === 1);
    await server.close();
    expect(identity.aborted).toHaveLength(1);
    expect(await running).toBeTypeOf("number");
  });
});
