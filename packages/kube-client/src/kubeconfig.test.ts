import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensurePki, type Pki } from "../../../tools/cluster/src/pki.js";
import { sendJson, startTestServer, type TestServer } from "../test/support/test-server.js";
import { createKubeClient } from "./kube-client.js";
import { KubeConfigError } from "./kube-config-error.js";
import { readKubeconfig } from "./kubeconfig.js";

let dir: string;
let pki: Pki;
let plain: TestServer;
let tls: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kube-client-kubeconfig-"));
  pki = await ensurePki(join(dir, "pki"));
  plain = await startTestServer((_request, response) => {
    sendJson(response, {});
  });
  // Like kube-apiserver: serving certificate for 127.0.0.1 and kubernetes.default.svc, client certificates verified.
  tls = await startTestServer(
    (_request, response) => {
      sendJson(response, {});
    },
    {
      key: await readFile(pki.apiserver.keyFile),
      cert: await readFile(pki.apiserver.certFile),
      clientCa: await readFile(pki.caCertFile),
    },
  );
});

afterAll(async () => {
  await plain.close();
  await tls.close();
  await rm(dir, { recursive: true, force: true });
});

async function kubeconfig(
  name: string,
  user: Record<string, unknown>,
  cluster: Record<string, unknown>,
  context: Record<string, unknown> = {},
): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster }],
      users: [{ name: "u", user }],
      contexts: [{ name: "ctx", context: { cluster: "c", user: "u", ...context } }],
      "current-context": "ctx",
    }),
  );
  return path;
}

describe("readKubeconfig", () => {
  it("sends a token from a token file, read again for every request, and takes the context's namespace", async () => {
    await writeFile(join(dir, "token"), "first\n");
    const credentials = await readKubeconfig(
      await kubeconfig("token-file.yaml", { tokenFile: "token" }, { server: plain.url }, { namespace: "apps" }),
    );
    expect(credentials.namespace).toBe("apps");
    const client = createKubeClient(credentials);
    await client.get("/api/v1/nodes");
    await writeFile(join(dir, "token"), "second\n");
    await client.get("/api/v1/nodes");
    client.close();
    expect(plain.requests.slice(-2).map((request) => request.headers.authorization)).toEqual(["Bearer first", "Bearer second"]);
  });

  it("sends an inline token", async () => {
    const client = createKubeClient(await readKubeconfig(await kubeconfig("token.yaml", { token: "inline" }, { server: plain.url })));
    await client.get("/api/v1/nodes");
    client.close();
    expect(plain.requests.at(-1)?.headers.authorization).toBe("Bearer inline");
  });

  it("authenticates with a client certificate from files against a server verified by the CA file", async () => {
    const path = await kubeconfig(
      "cert-files.yaml",
      { "client-certificate": join(pki.dir, "admin.crt"), "client-key": join(pki.dir, "admin.key") },
      { server: tls.url, "certificate-authority": "pki/ca.crt" },
    );
    const client = createKubeClient(await readKubeconfig(path));
    await client.get("/api/v1/nodes");
    client.close();
    expect(tls.requests.at(-1)?.clientCommonName).toBe("kubernetes-admin");
    expect(tls.requests.at(-1)?.headers.authorization).toBeUndefined();
  });

  it("reads certificate data inline and verifies the server by tls-server-name", async () => {
    const base64 = async (file: string) => (await readFile(file)).toString("base64");
    const path = await kubeconfig(
      "cert-data.yaml",
      { "client-certificate-data": await base64(pki.admin.certFile), "client-key-data": await base64(pki.admin.keyFile) },
      {
        server: tls.url.replace("127.0.0.1", "localhost"),
        "certificate-authority-data": await base64(pki.caCertFile),
        "tls-server-name": "kubernetes.default.svc",
      },
    );
    const client = createKubeClient(await readKubeconfig(path));
    await client.get("/api/v1/nodes");
    client.close();
    expect(tls.requests.at(-1)?.clientCommonName).toBe("kubernetes-admin");
    const wrongName = createKubeClient(
      await readKubeconfig(
        await kubeconfig(
          "wrong-name.yaml",
          { "client-certificate": pki.admin.certFile, "client-key": pki.admin.keyFile },
          { server: tls.url, "certificate-authority": pki.caCertFile, "tls-server-name": "wrong.example" },
        ),
      ),
    );
    await expect(wrongName.get("/api/v1/nodes")).rejects.toThrow(/wrong\.example/);
    wrongName.close();
  });

  it("rejects a server its CA did not sign, unless insecure-skip-tls-verify", async () => {
    const user = { "client-certificate": pki.admin.certFile, "client-key": pki.admin.keyFile };
    const untrusted = createKubeClient(await readKubeconfig(await kubeconfig("untrusted.yaml", user, { server: tls.url })));
    await expect(untrusted.get("/api/v1/nodes")).rejects.toThrow(/self.signed|unable to get local issuer|certificate/i);
    untrusted.close();
    const insecure = createKubeClient(
      await readKubeconfig(await kubeconfig("insecure.yaml", user, { server: tls.url, "insecure-skip-tls-verify": true })),
    );
    await expect(insecure.get("/api/v1/nodes")).resolves.toEqual({});
    insecure.close();
  });

  it.each([
    { user: { exec: { command: "aws" } }, field: "users[u].user.exec" },
    { user: { "auth-provider": { name: "gcp" } }, field: "users[u].user.auth-provider" },
    { user: { username: "admin", password: "secret" }, field: "users[u].user.username" },
    { user: { as: "someone" }, field: "users[u].user.as" },
  ])("refuses $field", async ({ user, field }) => {
    await expect(readKubeconfig(await kubeconfig("refused.yaml", user, { server: plain.url }))).rejects.toThrow(
      `${field} is not supported by @topolvm/kube-client; use a client certificate or a token`,
    );
  });

  it("refuses a proxy-url", async () => {
    await expect(
      readKubeconfig(await kubeconfig("proxy.yaml", {}, { server: plain.url, "proxy-url": "http://proxy:3128" })),
    ).rejects.toThrow("clusters[c].cluster.proxy-url is not supported");
  });

  it("names a bad field, a missing server, context, file or key", async () => {
    await expect(readKubeconfig(await kubeconfig("bad-token.yaml", { token: 5 }, { server: plain.url }))).rejects.toThrow(
      "users[u].user.token must be a non-empty string",
    );
    await expect(readKubeconfig(await kubeconfig("no-server.yaml", {}, {}))).rejects.toThrow(
      "clusters[c].cluster.server is missing",
    );
    await expect(
      readKubeconfig(await kubeconfig("half-cert.yaml", { "client-certificate": pki.admin.certFile }, { server: plain.url })),
    ).rejects.toThrow("users[u].user: client-certificate and client-key must be given together");
    await expect(
      readKubeconfig(await kubeconfig("absent-ca.yaml", {}, { server: plain.url, "certificate-authority": "nope.crt" })),
    ).rejects.toThrow(/clusters\[c\]\.cluster\.certificate-authority: ENOENT/);
    const noContext = join(dir, "no-context.yaml");
    await writeFile(noContext, "apiVersion: v1\nkind: Config\n");
    await expect(readKubeconfig(noContext)).rejects.toThrow(`${noContext}: current-context is not set`);
    await expect(readKubeconfig(join(dir, "absent.yaml"))).rejects.toBeInstanceOf(KubeConfigError);
  });

  it("refuses a server that is not an http(s) URL when the client is created", async () => {
    const credentials = await readKubeconfig(await kubeconfig("ftp.yaml", {}, { server: "ftp://host" }));
    expect(() => createKubeClient(credentials)).toThrow('server "ftp://host" is not an http(s) URL');
  });
});
