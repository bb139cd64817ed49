import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensurePki, type Pki } from "../../../tools/cluster/src/pki.js";
import { sendJson, startTestServer, type TestServer } from "../test/support/test-server.js";
import { inClusterCredentials } from "./in-cluster.js";
import { createKubeClient } from "./kube-client.js";
import { loadKubeCredentials } from "./load-credentials.js";

let dir: string;
let pki: Pki;
let server: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kube-client-load-"));
  pki = await ensurePki(join(dir, "pki"));
  server = await startTestServer(
    (_request, response) => {
      sendJson(response, {});
    },
    { key: await readFile(pki.apiserver.keyFile), cert: await readFile(pki.apiserver.certFile) },
  );
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function writeKubeconfig(path: string, server: string): Promise<string> {
  await writeFile(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: c, cluster: {server: "${server}"}}]`,
      "users: [{name: u, user: {token: t}}]",
      "contexts: [{name: x, context: {cluster: c, user: u}}]",
      "current-context: x",
      "",
    ].join("\n"),
  );
  return path;
}

describe("loadKubeCredentials", () => {
  it("takes the explicit kubeconfig before $KUBECONFIG and ~/.kube/config", async () => {
    const explicit = await writeKubeconfig(join(dir, "explicit"), "https://explicit:6443");
    const fromEnv = await writeKubeconfig(join(dir, "env"), "https://env:6443");
    const home = join(dir, "home");
    await mkdir(join(home, ".kube"), { recursive: true });
    await writeKubeconfig(join(home, ".kube", "config"), "https://home:6443");
    const env = { KUBECONFIG: fromEnv, KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    expect((await loadKubeCredentials({ kubeconfig: explicit, env, homeDir: home })).server).toBe("https://explicit:6443");
    expect((await loadKubeCredentials({ env, homeDir: home })).server).toBe("https://env:6443");
    expect((await loadKubeCredentials({ env: { KUBECONFIG: "" }, homeDir: home })).source).toBe(join(home, ".kube", "config"));
  });

  it("refuses a KUBECONFIG that lists several files", async () => {
    await expect(loadKubeCredentials({ env: { KUBECONFIG: "/a:/b" }, homeDir: dir })).rejects.toThrow(
      "KUBECONFIG names 2 files; merging kubeconfigs is not supported by @topolvm/kube-client: name one",
    );
  });

  it("falls back to the service account, and says what it looked for when there is none", async () => {
    const accountDir = join(dir, "account");
    await mkdir(accountDir, { recursive: true });
    await writeFile(join(accountDir, "ca.crt"), await readFile(pki.caCertFile));
    await writeFile(join(accountDir, "token"), "sa-token\n");
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "6443" };
    const credentials = await loadKubeCredentials({ env, homeDir: join(dir, "nobody"), serviceAccountDir: accountDir });
    expect([credentials.source, credentials.server]).toEqual(["in-cluster", "https://127.0.0.1:6443"]);
    await expect(loadKubeCredentials({ env: {}, homeDir: join(dir, "nobody") })).rejects.toThrow(
      `no kubeconfig: none given, KUBECONFIG is unset, ${join(dir, "nobody", ".kube", "config")} does not exist, and not in a cluster`,
    );
  });
});

describe("inClusterCredentials", () => {
  it("trusts the mounted CA, re-reads the rotating token for every request and reads the namespace", async () => {
    const accountDir = join(dir, "rotating");
    await mkdir(accountDir, { recursive: true });
    await writeFile(join(accountDir, "ca.crt"), await readFile(pki.caCertFile));
    await writeFile(join(accountDir, "token"), "one\n");
    await writeFile(join(accountDir, "namespace"), "topolvm-system");
    const port = new URL(server.url).port;
    const credentials = await inClusterCredentials({
      env: { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port },
      serviceAccountDir: accountDir,
    });
    expect(credentials.namespace).toBe("topolvm-system");
    const client = createKubeClient(credentials);
    await client.get("/api/v1/nodes");
    await writeFile(join(accountDir, "token"), "two\n");
    await client.get("/api/v1/nodes");
    client.close();
    expect(server.requests.slice(-2).map((request) => request.headers.authorization)).toEqual(["Bearer one", "Bearer two"]);
  });

  it("brackets an IPv6 service host", async () => {
    const accountDir = join(dir, "v6");
    await mkdir(accountDir, { recursive: true });
    await writeFile(join(accountDir, "ca.crt"), "");
    await writeFile(join(accountDir, "token"), "t");
    const credentials = await inClusterCredentials({
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" },
      serviceAccountDir: accountDir,
    });
    expect(credentials.server).toBe("https://[fd00::1]:443");
  });

  it("needs the service environment and the mounted files", async () => {
    await expect(inClusterCredentials({ env: {} })).rejects.toThrow(
      "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set",
    );
    await expect(
      inClusterCredentials({
        env: { KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "1" },
        serviceAccountDir: join(dir, "absent"),
      }),
    ).rejects.toThrow(/^in-cluster: ENOENT.*ca\.crt/);
  });
});
