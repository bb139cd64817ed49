import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubernetesObjectApi } from "@kubernetes/client-node";
import { type LocalCluster, startCluster } from "../../../../tools/cluster/src/index.js";
import { createTestPki } from "./test-pki.js";
import { webhookConfigurationManifest } from "../../../../tools/cluster/src/topolvm-manifests.js";
import { startWebhookProcess, type WebhookProcess, writeSecretVolume } from "./webhook-process.js";
import { until } from "../../../../tools/eventually.js";

/** The TopoLVM StorageClass the hooked cluster has (device-class `ssd`). */
export const storageClassName = "topolvm-ssd";

/** A container as the tests write and read it. */
export interface Container {
  name: string;
  image: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

/** The parts of a Pod the tests write and read. */
export interface Pod {
  apiVersion: "v1";
  kind: "Pod";
  metadata: { namespace: string; name: string; annotations?: Record<string, string> };
  spec: { containers: Container[]; volumes: unknown[] };
}

/** The parts of a PersistentVolumeClaim the tests write and read. */
export interface Claim {
  apiVersion: "v1";
  kind: "PersistentVolumeClaim";
  metadata: { namespace: string; name: string; finalizers?: string[] };
  spec: { accessModes: string[]; storageClassName: string; resources: { requests: { storage: string } } };
}

/** A PVC of the TopoLVM StorageClass. */
export function claimManifest(namespace: string, name: string, storage: string): Claim {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { namespace, name },
    spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage } } },
  };
}

/** A one-container pod with the given volumes. */
export function podManifest(namespace: string, name: string, volumes: unknown[]): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name },
    spec: { containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }], volumes },
  };
}

/** A volume using the PVC of that name. */
export const claimVolume = (claimName: string) => ({ name: claimName, persistentVolumeClaim: { claimName } });

/** A local cluster whose kube-apiserver calls a topolvm-webhook process through `topolvm-hook`. */
export interface HookedCluster {
  readonly cluster: LocalCluster;
  readonly objects: KubernetesObjectApi;
  readonly webhook: WebhookProcess;
  /** Stops the webhook (if still running) and the cluster, and removes the certificates. */
  stop(): Promise<void>;
}

/**
 * Starts a local cluster without nodes, the built topolvm-webhook with an openssl-made serving certificate, the
 * TopoLVM StorageClass, a namespace the hooks see and one labelled to be ignored, and registers `topolvm-hook`;
 * resolves once kube-apiserver calls the hooks.
 */
export async function startHookedCluster(namespaces: { hooked: string; ignored: string }): Promise<HookedCluster> {
  const dir = mkdtempSync(join(tmpdir(), "topolvm-webhook-cluster-"));
  let cluster: LocalCluster | undefined;
  let webhook: WebhookProcess | undefined;
  const stop = async () => {
    await webhook?.stop("SIGKILL");
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pki = createTestPki(dir);
    const serving = pki.issueServing("webhook");
    writeSecretVolume(join(dir, "certs"), 1, { "tls.crt": serving.cert, "tls.key": serving.key });
    cluster = await startCluster({ nodes: 0 });
    const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
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
    await objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespaces.hooked } });
    await objects.create({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespaces.ignored, labels: { "topolvm.cybozu.com/webhook": "ignore" } },
    });
    // The ServiceAccount admission plugin refuses pods until the controller has made the namespace's default account.
    for (const namespace of [namespaces.hooked, namespaces.ignored]) {
      await until(`the default ServiceAccount of ${namespace}`, () =>
        objects.read({ apiVersion: "v1", kind: "ServiceAccount", metadata: { namespace, name: "default" } }).then(
          () => true,
          () => false,
        ),
      30_000);
    }
    await until("the webhook's informers to sync", async () =>
      (await fetch(`http://127.0.0.1:${started.metricsPort}/readyz`)).status === 200,
    30_000);
    await objects.create(webhookConfigurationManifest(`https://127.0.0.1:${started.port}`, pki.caCert.toString("base64")));
    // kube-apiserver picks new webhook configurations up from its own informer: probe with dry-run claims.
    await until("kube-apiserver to call the PVC hook", async () =>
      (await objects.create(claimManifest(namespaces.hooked, "probe", "1Gi"), undefined, "All")).metadata.finalizers?.includes(
        "topolvm.cybozu.com/pvc",
      ) === true,
    30_000);
    return { cluster, objects, webhook: started, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
