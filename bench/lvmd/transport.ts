// Which gRPC server is cheaper per call on a unix socket: @grpc/grpc-js or @connectrpc/connect-node (gRPC protocol)?
// Both serve grpc.health.v1.Health/Check with the same protobuf-es schemas; each is called sequentially by a Connect
// gRPC client (what this repository's clients use) and by a plain grpc-js client (what a Go client looks like on the
// wire). Run: node --import tsx bench/lvmd/transport.ts [calls]
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { health } from "../../packages/proto/src/index.js";
import { plainGrpcClient } from "../../packages/lvmd/test/grpc-js-client.js";

const calls = Number(process.argv[2] ?? 5000);
const dir = mkdtempSync(join(tmpdir(), "lvmd-transport-"));
const { Health, HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus: ServingStatus } = health;
type HealthCheckRequest = health.HealthCheckRequest;
type HealthCheckResponse = health.HealthCheckResponse;
const serving = create(HealthCheckResponseSchema, { status: ServingStatus.SERVING });

const checkDefinition: grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse> = {
  path: "/grpc.health.v1.Health/Check",
  requestStream: false,
  responseStream: false,
  requestSerialize: (m) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
  requestDeserialize: (b) => fromBinary(HealthCheckRequestSchema, b),
  responseSerialize: (m) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
  responseDeserialize: (b) => fromBinary(HealthCheckResponseSchema, b),
};

async function startGrpcJs(path: string): Promise<() => Promise<void>> {
  const server = new grpc.Server();
  server.addService({ check: checkDefinition }, {
    check: (_call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: grpc.sendUnaryData<HealthCheckResponse>) => {
      cb(null, serving);
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  return () => new Promise((resolve) => { server.tryShutdown(() => { resolve(); }); });
}

async function startConnect(path: string): Promise<() => Promise<void>> {
  const handler = connectNodeAdapter({
    grpc: true,
    connect: false,
    grpcWeb: false,
    routes: (router) => router.service(Health, { check: () => serving }),
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => sessions.add(s));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return () =>
    new Promise((resolve) => {
      server.close(() => { resolve(); });
      // Idle client sessions would hold close() open forever.
      for (const s of sessions) s.close();
    });
}

async function viaConnect(path: string): Promise<number> {
  const transport = createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => net.connect(path) } });
  const client = createClient(Health, transport);
  const req = create(HealthCheckRequestSchema);
  for (let i = 0; i < 200; i++) await client.check(req);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await client.check(req);
  return (performance.now() - t0) / calls;
}

async function viaGrpcJs(path: string): Promise<number> {
  const client = plainGrpcClient(Health, path);
  const req = create(HealthCheckRequestSchema);
  for (let i = 0; i < 200; i++) await client.unary("check", req);
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await client.unary("check", req);
  const perCall = (performance.now() - t0) / calls;
  client.close();
  return perCall;
}

const results: Record<string, string> = {};
for (const [serverName, start] of [["grpc-js", startGrpcJs], ["connect-node", startConnect]] as const) {
  const path = join(dir, `${serverName}.sock`);
  const stop = await start(path);
  results[`${serverName} server, Connect client`] = `${(await viaConnect(path)).toFixed(3)} ms/call`;
  results[`${serverName} server, grpc-js client`] = `${(await viaGrpcJs(path)).toFixed(3)} ms/call`;
  await stop().catch(() => undefined);
}
rmSync(dir, { recursive: true, force: true });
console.table(results);
process.exit(0);
