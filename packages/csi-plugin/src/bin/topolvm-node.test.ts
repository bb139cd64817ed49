import { createClient } from "@connectrpc/connect";
import { unixSocketTransport } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("./topolvm-node.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "topolvm-node-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, ...args], { env: { ...process.env, NODE_NAME: undefined, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr });
    });
  });
}

describe("topolvm-node", () => {
  it("prints its name and the package version with --version", { timeout: 30_000 }, async () => {
    expect(await run(["--version"])).toEqual({ code: 0, stdout: "topolvm-node 0.1.0\n", stderr: "" });
  });

  it("prints its flags with --help", { timeout: 30_000 }, async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    for (const flag of ["--nodename", "--lvmd-socket", "--csi-socket", "--device-dir", "--kubeconfig", "--metrics-addr", "--health-addr", "--log-level", "--version"]) {
      expect(result.stdout).toContain(flag);
    }
  });

  // Every flag's validation is tested in-process (node/node-flags.test.ts); these check that the bin exits 2 with it.
  it.each([
    [["--nodename", "n1", "--bogus"], "--bogus"],
    [[], "--nodename: required"],
    [["--nodename", "n1", "--metrics-addr", "localhost"], '--metrics-addr: "localhost"'],
    [["--nodename", "n1", "--kubeconfig", "/nonexistent/kubeconfig"], '--kubeconfig: "/nonexistent/kubeconfig"'],
  ])(
    "exits 2 on %j, naming the flag and the value",
    async (args, message) => {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    },
    30_000,
  );

  it(
    "starts without lvmd or an API server, reports not ready with the reason, serves Identity and Node on its CSI socket, and exits 0 on SIGTERM",
    async () => {
      const kubeconfig = join(dir, "kubeconfig");
      const csiSocket = join(dir, "plugin", "csi-topolvm.sock");
      writeFileSync(
        kubeconfig,
        [
          "apiVersion: v1",
          "kind: Config",
          "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
          "users: [{name: u, user: {token: t}}]",
          "contexts: [{name: x, context: {cluster: c, user: u}}]",
          "current-context: x",
        ].join("\n"),
      );
      const child = spawn(
        process.execPath,
        [
          "--conditions=@topolvm/source",
          "--import",
          "tsx",
          bin,
          "--nodename",
          "node-1",
          "--kubeconfig",
          kubeconfig,
          "--lvmd-socket",
          join(dir, "none.sock"),
          "--csi-socket",
          csiSocket,
          "--device-dir",
          join(dir, "dev"),
          "--health-addr",
          "127.0.0.1:0",
          "--metrics-addr",
          "127.0.0.1:0",
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      const ports = await new Promise<{ healthPort: number; metricsPort: number }>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout });
        lines.on("line", (line) => {
          const entry = JSON.parse(line) as { msg?: string; healthPort?: number; metricsPort?: number };
          if (entry.msg === "started" && entry.healthPort !== undefined && entry.metricsPort !== undefined) {
            resolve({ healthPort: entry.healthPort, metricsPort: entry.metricsPort });
          }
        });
        child.on("exit", () => {
          reject(new Error("topolvm-node exited before it started"));
        });
      });
      const health = await fetch(`http://127.0.0.1:${ports.healthPort}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${ports.healthPort}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(/lvmd|informer/);
      const metrics = await fetch(`http://127.0.0.1:${ports.metricsPort}/metrics`);
      expect(await metrics.text()).toContain("topolvm_node_lv_operations_total");
      expect(statSync(csiSocket).mode & 0o777).toBe(0o600);
      const transport = unixSocketTransport(csiSocket);
      const identity = createClient(csi.Identity, transport);
      expect(await identity.getPluginInfo({})).toMatchObject({ name: "topolvm.cybozu.com", vendorVersion: "0.1.0" });
      // Probe follows lvmd, which is not there.
      expect(await identity.probe({})).toMatchObject({ ready: false });
      expect(await createClient(csi.Node, transport).nodeGetInfo({})).toMatchObject({ nodeId: "node-1" });
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(existsSync(csiSocket)).toBe(false);
    },
    60_000,
  );
});
