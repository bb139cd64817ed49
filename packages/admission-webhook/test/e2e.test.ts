// End to end on the local cluster (tools/cluster): a real kube-apiserver calls topolvm-webhook through a
// MutatingWebhookConfiguration, as it will in production, with the failure policies the README decides.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiException, KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterPrerequisitesMissing, type LocalCluster, startCluster } from "../../../tools/cluster/src/index.js";
import { createTestPki } from "./support/test-pki.js";
import { startWebhookProcess, type WebhookProcess, writeSecretVolume } from "./support/webhook-process.js";

const missing = clusterPrerequisitesMissing();
const mustRun = process.env.CI === "true";

const appNamespace = "e2e-app";
const ignoredNamespace = "e2e-ignored";
const storageClassName = "topolvm-ssd";
const gi = 1024 ** 3;

interface Container {
  name: string;
  image: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** The parts of a Pod the test writes and reads. */
interface Pod {
  apiVersion: "v1";
  kind: "Pod";
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes: unknown[] };
}

/** The parts of a PersistentVolumeClaim the test writes and reads. */
interface Claim {
  apiVersion: "v1";
  kind: "PersistentVolumeClaim";
  metadata: { namespace: string; name: string; finalizers?: string[] };
  spec: { accessModes: string[]; storageClassName: string; resources: { requests: { storage: string } } };
}

function webhookConfiguration(port: number, caBundle: string) {
  const namespaceSelector = {
    matchExpressions: [{ key: "topolvm.cybozu.com/webhook", operator: "NotIn", values: ["ignore"] }],
  };
  const common = { admissionReviewVersions: ["v1"], sideEffects: "None", matchPolicy: "Equivalent", timeoutSeconds: 10, namespaceSelector };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "topolvm-hook" },
    webhooks: [
      {
        ...common,
        name: "pod-hook.topolvm.cybozu.com",
        failurePolicy: "Fail",
        clientConfig: { url: `https://127.0.0.1:${port}/pod/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
        matchConditions: [
          {
            name: "has-claims",
            expression: "has(object.spec.volumes) && object.spec.volumes.exists(v, has(v.persistentVolumeClaim) || has(v.ephemeral))",
          },
        ],
      },
      {
        ...common,
        name: "pvc-hook.topolvm.cybozu.com",
        failurePolicy: "Ignore",
        clientConfig: { url: `https://127.0.0.1:${port}/pvc/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["persistentvolumeclaims"] }],
      },
    ],
  };
}

function claim(namespace: string, name: string, storage: string): Claim {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { namespace, name },
    spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage } } },
  };
}

function pod(namespace: string, name: string, volumes: unknown[]): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: { containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }], volumes },
  };
}

const claimVolume = (claimName: string) => ({ name: claimName, persistentVolumeClaim: { claimName } });

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(missing.length > 0 && !mustRun)("topolvm-webhook on the local cluster", () => {
  let cluster: LocalCluster | undefined;
  let webhook: WebhookProcess | undefined;
  let dir: string | undefined;
  let objects: KubernetesObjectApi;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`the local cluster cannot start here: ${missing.join("; ")}`);
    }
    dir = mkdtempSync(join(tmpdir(), "topolvm-webhook-e2e-"));
    const pki = createTestPki(dir);
    const serving = pki.issueServing("webhook");
    writeSecretVolume(join(dir, "certs"), 1, { "tls.crt": serving.cert, "tls.key": serving.key });
    cluster = await startCluster({ nodes: 0 });
    objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    const started = await startWebhookProcess([
      "--listen=127.0.0.1:0",
      "--metrics-listen=127.0.0.1:0",
      `--cert-dir=${join(dir, "certs")}`,
      `--kubeconfig=${cluster.kubeconfigPath}`,
    ]);
    webhook = started;
    await objects.create({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: { name: storageClassName },
      provisioner: "topolvm.cybozu.com",
      parameters: { "topolvm.cybozu.com/device-class": "ssd" },
      volumeBindingMode: "WaitForFirstConsumer",
    });
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: appNamespace } });
    await objects.create({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ignoredNamespace, labels: { "topolvm.cybozu.com/webhook": "ignore" } },
    });
    // The ServiceAccount admission plugin refuses pods until the controller has made the namespace's default account.
    for (const namespace of [appNamespace, ignoredNamespace]) {
      await eventually(
        () =>
          objects.read({ apiVersion: "v1", kind: "ServiceAccount", metadata: { namespace, name: "default" } }).then(
            () => true,
            () => false,
          ),
        (found) => found,
        `the default ServiceAccount of ${namespace}`,
      );
    }
    await eventually(
      () => fetch(`http://127.0.0.1:${started.metricsPort}/readyz`).then((response) => response.status),
      (status) => status === 200,
      "the webhook's informers to sync",
    );
    await objects.create(webhookConfiguration(started.port, pki.caCert.toString("base64")));
    // kube-apiserver picks new webhook configurations up from its own informer: probe with dry-run claims.
    await eventually(
      () => objects.create(claim(appNamespace, "probe", "1Gi"), undefined, "All"),
      (probe) => probe.metadata.finalizers?.includes("topolvm.cybozu.com/pvc") === true,
      "kube-apiserver to call the PVC hook",
    );
  });

  afterAll(async () => {
    await webhook?.stop("SIGKILL");
    await cluster?.stop();
    if (dir !== undefined) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("adds the finalizer to a PVC of the TopoLVM StorageClass", async () => {
    const created = await objects.create(claim(appNamespace, "data", "10Gi"));
    expect(created.metadata.finalizers).toContain("topolvm.cybozu.com/pvc");
  });

  it("annotates a pod with unbound TopoLVM claims and requests the capacity resource", async () => {
    await objects.create(claim(appNamespace, "logs", "512Mi"));
    const created = await objects.create(
      pod(appNamespace, "web", [
        claimVolume("data"),
        claimVolume("logs"),
        {
          name: "scratch",
          ephemeral: {
            volumeClaimTemplate: {
              spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage: "1Gi" } } },
            },
          },
        },
      ]),
    );
    expect(created.metadata.annotations?.["capacity.topolvm.cybozu.com/ssd"]).toBe(String(10 * gi + gi / 2 + gi));
    expect(created.spec.containers[0]?.resources).toEqual({
      requests: { "topolvm.cybozu.com/capacity": "1" },
      limits: { "topolvm.cybozu.com/capacity": "1" },
    });
  });

  it("leaves PVCs and pods in ignored namespaces alone", async () => {
    const createdClaim = await objects.create(claim(ignoredNamespace, "data", "10Gi"));
    expect(createdClaim.metadata.finalizers ?? []).not.toContain("topolvm.cybozu.com/pvc");
    const createdPod = await objects.create(pod(ignoredNamespace, "web", [claimVolume("data")]));
    expect(createdPod.metadata.annotations?.["capacity.topolvm.cybozu.com/ssd"]).toBeUndefined();
    expect(createdPod.spec.containers[0]?.resources?.requests?.["topolvm.cybozu.com/capacity"]).toBeUndefined();
  });

  describe("with the webhook stopped", () => {
    beforeAll(async () => {
      expect(await webhook?.stop("SIGTERM")).toBe(0);
    });

    it("still admits pods in ignored namespaces", async () => {
      const created = await objects.create(pod(ignoredNamespace, "after-stop", [claimVolume("data")]));
      expect(created.metadata.name).toBe("after-stop");
    });

    it("still admits pods without claims anywhere (matchConditions)", async () => {
      const created = await objects.create(pod(appNamespace, "no-claims", [{ name: "tmp", emptyDir: {} }]));
      expect(created.metadata.name).toBe("no-claims");
    });

    it("still admits PVCs, without the finalizer (failurePolicy Ignore)", async () => {
      const created = await objects.create(claim(appNamespace, "after-stop", "1Gi"));
      expect(created.metadata.finalizers ?? []).not.toContain("topolvm.cybozu.com/pvc");
    });

    it("rejects pods with TopoLVM claims elsewhere (failurePolicy Fail)", async () => {
      const error: unknown = await objects.create(pod(appNamespace, "blocked", [claimVolume("data")])).then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(error).toBeInstanceOf(ApiException);
      const status = JSON.parse((error as ApiException<string>).body) as { code: number; message: string };
      expect(status.code).toBe(500);
      expect(status.message).toMatch(/^Internal error occurred: failed calling webhook "pod-hook\.topolvm\.cybozu\.com": /);
    });
  });
});
