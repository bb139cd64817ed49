import { Agent, request } from "node:https";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestPki, type ServingPair, type TestPki } from "./support/test-pki.js";
import {
  httpsRequest,
  runWebhookToExit,
  startWebhookProcess,
  type WebhookProcess,
  writeSecretVolume,
} from "./support/webhook-process.js";
import { eventually } from "../../../tools/eventually.js";

// An API server that refuses connections: the hooks must still serve what needs no cluster state, report the rest as
// unavailable, and stay unready.
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: nobody
  user: {token: unused}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
`;

function review(kind: string, object: unknown, uid = "uid-1") {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid, kind: { group: "", version: "v1", kind }, operation: "CREATE", namespace: "app", object },
  });
}

const podWithoutVolumes = { metadata: { name: "plain", namespace: "app" }, spec: { containers: [{ name: "c" }] } };
const podWithClaim = {
  metadata: { name: "web", namespace: "app" },
  spec: { containers: [{ name: "c" }], volumes: [{ name: "d", persistentVolumeClaim: { claimName: "data" } }] },
};

async function getText(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe("topolvm-webhook process", () => {
  let dir: string;
  let certDir: string;
  let kubeconfig: string;
  let pki: TestPki;
  let first: ServingPair;
  let webhook: WebhookProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "topolvm-webhook-"));
    certDir = join(dir, "certs");
    kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, unreachableKubeconfig);
    pki = createTestPki(dir);
    first = pki.issueServing("first");
    writeSecretVolume(certDir, 1, { "tls.crt": first.cert, "tls.key": first.key });
    webhook = await startWebhookProcess([
      "--listen=127.0.0.1:0",
      "--metrics-listen=127.0.0.1:0",
      `--cert-dir=${certDir}`,
      `--kubeconfig=${kubeconfig}`,
      "--request-timeout-ms=2000",
    ]);
  });

  afterAll(async () => {
    await webhook.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves AdmissionReviews over HTTPS with the certificate from the cert dir", async () => {
    const answer = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body: review("Pod", podWithoutVolumes) });
    expect(answer.fingerprint256).toBe(first.fingerprint256);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "uid-1", allowed: true },
    });
  });

  it("keeps an idle keep-alive connection open longer than kube-apiserver's clients keep theirs (90 s)", async () => {
    // Node closes idle connections after 5 s by default; kube-apiserver then writes its next webhook call into a
    // socket the webhook is closing, and the pod fails to create with "write: broken pipe" (seen under load).
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const body = review("Pod", podWithoutVolumes);
      const first = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body, agent });
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      const second = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body, agent });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(second.localPort).toBe(first.localPort);
    } finally {
      agent.destroy();
    }
  });

  it("refuses plain HTTP on the hook port", async () => {
    await expect(fetch(`http://127.0.0.1:${webhook.port}/pod/mutate`, { method: "POST" })).rejects.toThrow();
  });

  it.each([
    ["malformed JSON", "{", "not an AdmissionReview v1: body is not JSON"],
    ["a v1beta1 review", review("Pod", podWithoutVolumes).replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1"), 'apiVersion "admission.k8s.io/v1beta1" is not supported'],
    ["a review without uid", review("Pod", podWithoutVolumes, ""), "request.uid is empty"],
  ])("answers %s with HTTP 400 and a Status message", async (_, body, message) => {
    const answer = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body });
    expect(answer.status).toBe(400);
    const status = JSON.parse(answer.body) as { kind: string; message: string };
    expect(status.kind).toBe("Status");
    expect(status.message).toContain(message);
  });

  it("reports cluster lookups as unavailable (503) while the caches cannot sync", async () => {
    const answer = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body: review("Pod", podWithClaim) });
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({
      reason: "ServiceUnavailable",
      message: "the PersistentVolumeClaim cache has not synced with the API server yet",
    });
  });

  it("is healthy but not ready without an API server, and exports metrics", async () => {
    expect(await getText(webhook.metricsPort, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await getText(webhook.metricsPort, "/readyz")).toEqual({
      status: 503,
      body: "not ready: informer caches have not synced with the API server yet\n",
    });
    const metrics = await getText(webhook.metricsPort, "/metrics");
    expect(metrics.body).toMatch(/topolvm_webhook_requests_total\{hook="pod",result="allowed"\} [1-9]/);
    expect(metrics.body).toMatch(/topolvm_webhook_requests_total\{hook="pod",result="unavailable"\} [1-9]/);
    expect(metrics.body).toContain("topolvm_webhook_certificate_not_after_seconds");
    await webhook.waitForLog((line) => line.msg === "list or watch failed; retrying");
  });

  it("keeps the current certificate when the new pair does not match, and switches to the next valid one", async () => {
    const second = pki.issueServing("second");
    const third = pki.issueServing("third");
    writeSecretVolume(certDir, 2, { "tls.crt": second.cert, "tls.key": third.key });
    await webhook.waitForLog((line) => line.msg === "new serving certificate rejected; keeping the current one");
    const stillFirst = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body: review("Pod", podWithoutVolumes) });
    expect(stillFirst.fingerprint256).toBe(first.fingerprint256);

    writeSecretVolume(certDir, 3, { "tls.crt": third.cert, "tls.key": third.key });
    const served = await eventually("the third certificate to be served", async () => {
      const answer = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body: review("Pod", podWithoutVolumes) });
      return answer.fingerprint256 === third.fingerprint256 ? answer : undefined;
    }, 10_000);
    expect(served.fingerprint256).toBe(third.fingerprint256);
    expect(served.status).toBe(200);
    const metrics = await getText(webhook.metricsPort, "/metrics");
    expect(metrics.body).toMatch(/topolvm_webhook_certificate_reloads_total\{result="loaded"\} 1/);
    expect(metrics.body).toMatch(/topolvm_webhook_certificate_reloads_total\{result="rejected"\} 1/);
  });
});

describe("topolvm-webhook shutdown", () => {
  let dir: string;
  let pki: TestPki;
  let args: string[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "topolvm-webhook-"));
    pki = createTestPki(dir);
    const serving = pki.issueServing("serving");
    writeSecretVolume(join(dir, "certs"), 1, { "tls.crt": serving.cert, "tls.key": serving.key });
    writeFileSync(join(dir, "kubeconfig"), unreachableKubeconfig);
    args = ["--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", `--cert-dir=${join(dir, "certs")}`, `--kubeconfig=${join(dir, "kubeconfig")}`];
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("finishes an in-flight admission after SIGTERM and exits 0", async () => {
    const webhook = await startWebhookProcess(args);
    const body = review("Pod", podWithoutVolumes);
    // Send the headers and half the body, signal, then the rest: the answer must still come.
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: webhook.port,
          path: "/pod/mutate",
          method: "POST",
          ca: pki.caCert,
          agent: false,
          headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => { resolve({ status: res.statusCode ?? 0, body: text }); });
        },
      );
      req.on("error", reject);
      req.write(body.slice(0, 20));
      req.on("socket", (socket) =>
        socket.once("secureConnect", () => {
          setTimeout(() => {
            webhook.child.kill("SIGTERM");
            setTimeout(() => req.end(body.slice(20)), 300);
          }, 100);
        }),
      );
    });
    expect(await answer).toMatchObject({ status: 200 });
    expect(await webhook.exited).toBe(0);
    expect(webhook.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(["draining", "stopped"]));
  });

  it("reloads a certificate overwritten in place in a plain directory", async () => {
    const plainDir = join(dir, "plain-certs");
    const before = pki.issueServing("plain-before");
    const after = pki.issueServing("plain-after");
    mkdirSync(plainDir);
    writeFileSync(join(plainDir, "tls.crt"), before.cert);
    writeFileSync(join(plainDir, "tls.key"), before.key);
    const webhook = await startWebhookProcess([...args.filter((arg) => !arg.startsWith("--cert-dir")), `--cert-dir=${plainDir}`]);
    try {
      const body = review("Pod", podWithoutVolumes);
      expect((await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body })).fingerprint256).toBe(before.fingerprint256);
      // Key first, then certificate: the pair is briefly mismatched, as with a copy that is not atomic.
      writeFileSync(join(plainDir, "tls.key"), after.key);
      writeFileSync(join(plainDir, "tls.crt"), after.cert);
      const served = await eventually("the new certificate to be served", async () => {
        const answer = await httpsRequest({ port: webhook.port, path: "/pod/mutate", ca: pki.caCert, body });
        return answer.fingerprint256 === after.fingerprint256 ? answer : undefined;
      }, 10_000);
      expect(served.fingerprint256).toBe(after.fingerprint256);
    } finally {
      expect(await webhook.stop()).toBe(0);
    }
  });

  it("exits 0 on SIGTERM when idle", async () => {
    const webhook = await startWebhookProcess(args);
    expect(await webhook.stop("SIGTERM")).toBe(0);
  });

  it("fails clearly without a kubeconfig outside a cluster", async () => {
    // No --kubeconfig, no $KUBECONFIG, a home without .kube/config, no KUBERNETES_SERVICE_HOST.
    const home = join(dir, "home");
    mkdirSync(home, { recursive: true });
    const { code, logs } = await runWebhookToExit(args.filter((arg) => !arg.startsWith("--kubeconfig")), { HOME: home });
    expect(code).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: "cannot start",
        err: `no kubeconfig: none given, KUBECONFIG is unset, ${home}/.kube/config does not exist, and not in a cluster (KUBERNETES_SERVICE_HOST is unset)`,
      }),
    );
  });

  it("fails clearly when --kubeconfig cannot be read", async () => {
    const { code, logs } = await runWebhookToExit([...args.filter((arg) => !arg.startsWith("--kubeconfig")), `--kubeconfig=${dir}/absent`]);
    expect(code).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: "cannot start", err: expect.stringMatching(new RegExp(`^cannot load --kubeconfig: ${dir}/absent: ENOENT`)) as unknown }),
    );
  });

  it("fails clearly when the cert dir has no certificate", async () => {
    const { code, logs } = await runWebhookToExit([...args.filter((arg) => !arg.startsWith("--cert-dir")), `--cert-dir=${dir}/none`]);
    expect(code).toBe(1);
    expect(logs).toContainEqual(expect.objectContaining({ msg: "cannot start", err: expect.stringContaining(`cannot read ${dir}/none/tls.crt`) as unknown }));
  });

  it("exits 2 with the usage on a bad flag", async () => {
    const { code, stderr } = await runWebhookToExit(["--listen=nowhere"]);
    expect(code).toBe(2);
    expect(stderr).toContain('topolvm-webhook: --listen: "nowhere" is not host:port');
    expect(stderr).toContain("Usage: topolvm-webhook");
  });
});
