import { createClient } from "@connectrpc/connect";
import { unixSocketTransport } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import { capacityAnnotationPrefix, topologyKey } from "@topolvm/proto/names";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("./topolvm-controller.ts", import.meta.url));
// Workspace packages from their sources, so the test needs no build of them.
const nodeArgs = ["--conditions=@topolvm/source", "--import", "tsx", bin];
const dir = mkdtempSync(join(tmpdir(), "topolvm-controller-"));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...nodeArgs, ...args], { encoding: "utf8", env: { ...process.env, KUBECONFIG: join(dir, "none") } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Just enough of an API server for the controller's two informers: empty-ish lists of LogicalVolumes and Nodes and
 * watches that stay open without events.
 */
function fakeApiServer(): Server {
  const watches = new Set<import("node:http").ServerResponse>();
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    response.writeHead(200, { "Content-Type": "application/json" });
    if (url.searchParams.get("watch") === "true") {
      response.flushHeaders();
      watches.add(response);
      return;
    }
    const items = url.pathname === "/api/v1/nodes"
      ? [{ metadata: { name: "node-1", labels: { [topologyKey]: "node-1" }, annotations: { [`${capacityAnnotationPrefix}00default`]: "5368709120" } } }]
      : [];
    response.end(JSON.stringify({ apiVersion: "v1", kind: "List", metadata: { resourceVersion: "7" }, items }));
  });
  server.on("close", () => {
    for (const watch of watches) {
      watch.destroy();
    }
  });
  return server;
}

function kubeconfigFor(name: string, port: number): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return path;
}

interface Started {
  readonly child: ChildProcess;
  readonly socketPath: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly exited: Promise<number | null>;
}

/** Starts the bin and resolves once it logged that it serves. */
function start(name: string, kubeconfig: string): Promise<Started> {
  const socketPath = join(dir, name, "csi.sock");
  const child = spawn(
    process.execPath,
    [...nodeArgs, "--csi-socket", socketPath, "--kubeconfig", kubeconfig, "--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--leader-election=false"],
    { stdio: ["ignore", "pipe", "pipe"] as const },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      for (const line of out.split("\n")) {
        if (line.includes('"msg":"topolvm-controller serving"')) {
          const { healthPort, metricsPort } = JSON.parse(line) as { healthPort: number; metricsPort: number };
          resolve({ child, socketPath, healthPort, metricsPort, exited });
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    void exited.then((code) => {
      reject(new Error(`topolvm-controller exited ${String(code)} before serving:\n${out}`));
    });
  });
}

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("topolvm-controller", () => {
  const api = fakeApiServer();
  let apiPort = 0;

  beforeAll(async () => {
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    apiPort = (api.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => api.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  // Each run starts node with tsx over the workspace sources: seconds on a slow machine.
  it("prints its name and the package version with --version", { timeout: 60_000 }, () => {
    expect(run("--version")).toMatchObject({ status: 0, stdout: "topolvm-controller 0.1.0\n" });
  });

  it("prints its flags with --help", { timeout: 60_000 }, () => {
    const { status, stdout } = run("--help");
    expect(status).toBe(0);
    for (const flag of ["--csi-socket PATH", "--kubeconfig PATH", "--health-addr", "--metrics-addr", "--leader-election true|false", "--leader-election-namespace", "--leader-election-id", "--skip-node-finalize", "--minimum-allocation-block", "--minimum-allocation-ext4", "--minimum-allocation-xfs", "--minimum-allocation-btrfs", "--log-level"]) {
      expect(stdout).toContain(flag);
    }
  });

  it("exits 2 naming the flag and the value of a bad command line", { timeout: 120_000 }, () => {
    expect(run("--minimum-allocation-xfs", "lots")).toMatchObject({ status: 2, stderr: expect.stringContaining('--minimum-allocation-xfs: invalid quantity "lots"') as unknown });
    expect(run("--leader-election", "maybe")).toMatchObject({ status: 2, stderr: expect.stringContaining('--leader-election: "maybe" is not true or false') as unknown });
    expect(run("--metrics-addr", "nowhere")).toMatchObject({ status: 2, stderr: expect.stringContaining('--metrics-addr: "nowhere"') as unknown });
    expect(run("--csi-sock", "/x")).toMatchObject({ status: 2, stderr: expect.stringContaining("Unknown option '--csi-sock'") as unknown });
  });

  it("serves Identity and Controller on its socket, becomes ready once its caches synced, and drains on SIGTERM", { timeout: 60_000 }, async () => {
    const started = await start("ok", kubeconfigFor("ok.kubeconfig", apiPort));
    const transport = unixSocketTransport(started.socketPath);
    const identity = createClient(csi.Identity, transport);
    expect(await identity.getPluginInfo({})).toMatchObject({ name: "topolvm.cybozu.com", vendorVersion: "0.1.0" });
    expect((await eventually(() => identity.probe({}), (answer) => answer.ready === true)).ready).toBe(true);
    const controller = createClient(csi.Controller, transport);
    expect((await controller.getCapacity({ accessibleTopology: { segments: { [topologyKey]: "node-1" } } })).availableCapacity).toBe(5368709120n);
    expect((await fetch(`http://127.0.0.1:${started.healthPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${started.healthPort}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
    expect(metrics).toContain('grpc_server_handled_total{grpc_type="unary",grpc_service="csi.v1.Identity",grpc_method="GetPluginInfo",grpc_code="OK"} 1');
    expect(metrics).toContain("process_resident_memory_bytes");
    started.child.kill("SIGTERM");
    expect(await started.exited).toBe(0);
    expect(existsSync(started.socketPath)).toBe(false);
  });

  it("answers Probe not ready and /readyz 503 while the API server cannot be reached", { timeout: 60_000 }, async () => {
    const started = await start("down", kubeconfigFor("down.kubeconfig", 1));
    const identity = createClient(csi.Identity, unixSocketTransport(started.socketPath));
    expect(await identity.probe({})).toMatchObject({ ready: false });
    const readyz = await fetch(`http://127.0.0.1:${started.healthPort}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toContain("caches have not synced");
    started.child.kill("SIGINT");
    expect(await started.exited).toBe(0);
  });
});
