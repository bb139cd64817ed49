import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError, KubeConfigError, connectInCluster, connectWithKubeconfig } from "./kube-connection.js";

let dir: string;
let server: Server;
let url: string;
const seen: { url: string; headers: IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kube-connection-"));
  server = createServer((request, response) => {
    seen.push({ url: request.url ?? "", headers: request.headers });
    if (request.url?.startsWith("/prefix/api/v1/missing") === true) {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ kind: "Status", code: 404, message: 'nodes "missing" not found' }));
      return;
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfig(name: string, user: Record<string, unknown>, cluster: Record<string, unknown> = { server: `${url}/prefix` }) {
  const path = join(dir, name);
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster }],
      users: [{ name: "u", user }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
      "current-context": "ctx",
    }),
  );
  return path;
}

describe("connectWithKubeconfig", () => {
  it("sends the token from a token file, read for every request, under the server's path", async () => {
    await writeFile(join(dir, "token"), "first\n");
    const connection = await connectWithKubeconfig(await kubeconfig("token-file.yaml", { tokenFile: "token" }));
    (await connection.get("/api/v1/nodes?limit=1", { accept: "application/json" })).resume();
    await writeFile(join(dir, "token"), "second\n");
    (await connection.get("/api/v1/nodes", { accept: "application/json;as=PartialObjectMetadataList" })).resume();
    connection.close();
    expect(seen.slice(-2).map((request) => [request.url, request.headers.authorization, request.headers.accept])).toEqual([
      ["/prefix/api/v1/nodes?limit=1", "Bearer first", "application/json"],
      ["/prefix/api/v1/nodes", "Bearer second", "application/json;as=PartialObjectMetadataList"],
    ]);
  });

  it("rejects error statuses with the API server's message", async () => {
    const connection = await connectWithKubeconfig(await kubeconfig("plain.yaml", { token: "t" }));
    const failed = connection.get("/api/v1/missing", { accept: "application/json" });
    await expect(failed).rejects.toThrow(KubeApiError);
    await expect(failed).rejects.toThrow('GET /prefix/api/v1/missing: 404 nodes "missing" not found');
    connection.close();
  });

  it.each([
    { user: { exec: { command: "aws" } }, message: /users\[u\]\.user\.exec is not supported by topolvm-scheduler/ },
    { user: { "auth-provider": { name: "gcp" } }, message: /users\[u\]\.user\.auth-provider is not supported/ },
    { user: { token: 5 }, message: /users\[u\]\.user\.token must be a non-empty string/ },
  ])("refuses $user", async ({ user, message }) => {
    await expect(connectWithKubeconfig(await kubeconfig("bad-user.yaml", user))).rejects.toThrow(message);
  });

  it("names a missing server, context or file", async () => {
    await expect(connectWithKubeconfig(await kubeconfig("no-server.yaml", {}, {}))).rejects.toThrow(
      /clusters\[c\]\.cluster\.server is missing/,
    );
    const noContext = join(dir, "no-context.yaml");
    await writeFile(noContext, "apiVersion: v1\nkind: Config\n");
    await expect(connectWithKubeconfig(noContext)).rejects.toThrow(`${noContext}: current-context is not set`);
    await expect(connectWithKubeconfig(join(dir, "absent.yaml"))).rejects.toThrow(KubeConfigError);
  });
});

describe("connectInCluster", () => {
  it("needs the service environment variables", async () => {
    await expect(connectInCluster({})).rejects.toThrow(
      "--in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
    );
  });
});
