// Against the real kube-apiserver of the local cluster (tools/cluster, etcd and kube-apiserver only): the verbs, the
// patch formats and the error reasons as the server really sends them, and an informer following a ConfigMap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterPrerequisitesMissing, startCluster, type LocalCluster } from "../../../tools/cluster/src/index.js";
import { until } from "../../../tools/eventually.js";
import { createInformer, createKubeClient, isKubeApiError, readKubeconfig, type KubeClient, type KubeObject } from "../src/index.js";

const missing = clusterPrerequisitesMissing();
const mustRun = process.env.CI === "true";
const namespace = "default";
const collection = `/api/v1/namespaces/${namespace}/configmaps`;
const label = "kube-client-test";

interface ConfigMap extends KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

describe.skipIf(missing.length > 0 && !mustRun)("@topolvm/kube-client against kube-apiserver", () => {
  let cluster: LocalCluster | undefined;
  let client: KubeClient;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`the local cluster cannot start here: ${missing.join("; ")}`);
    }
    cluster = await startCluster({ nodes: 0, controlPlane: "apiserver-only" });
    client = createKubeClient(await readKubeconfig(cluster.kubeconfigPath));
  });

  afterAll(async () => {
    client.close();
    await cluster?.stop();
  });

  it("creates, applies, patches, replaces and deletes a ConfigMap while an informer sees each change", async () => {
    const informer = createInformer<ConfigMap>(client, { path: collection, labelSelector: `${label}=yes` });
    const events: string[] = [];
    informer.on("add", (object) => events.push(`add ${JSON.stringify(object.data)}`));
    informer.on("update", (object) => events.push(`update ${JSON.stringify(object.data)}`));
    informer.on("delete", (object) => events.push(`delete ${object.metadata?.name ?? ""}`));
    informer.start();
    await until("the informer to sync", () => Promise.resolve(informer.synced()));

    const path = `${collection}/settings`;
    const created = await client.create<ConfigMap>(collection, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "settings", labels: { [label]: "yes" } },
      data: { a: "1" },
    });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    const again = await client.create(collection, { metadata: { name: "settings" } }).catch((error: unknown) => error);
    expect(isKubeApiError(again, "AlreadyExists") && again.status === 409).toBe(true);

    const applied = await client.patch<ConfigMap>(
      path,
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: { b: "2" } },
      { type: "apply", fieldManager: "kube-client-test", force: true },
    );
    expect(applied.data).toEqual({ a: "1", b: "2" });
    const patched = await client.patch<ConfigMap>(path, { data: { c: "3" } }, { type: "strategic" });
    expect(patched.data).toEqual({ a: "1", b: "2", c: "3" });
    const merged = await client.patch<ConfigMap>(path, { data: { a: null } }, { type: "merge" });
    expect(merged.data).toEqual({ b: "2", c: "3" });
    const jsonPatched = await client.patch<ConfigMap>(path, [{ op: "replace", path: "/data/b", value: "20" }], { type: "json" });
    expect(jsonPatched.data).toEqual({ b: "20", c: "3" });

    const stale = await client.replace(path, { ...created, data: { stale: "yes" } }).catch((error: unknown) => error);
    expect(isKubeApiError(stale, "Conflict")).toBe(true);
    expect((stale as Error).message).toMatch(/^PUT \/api\/v1\/namespaces\/default\/configmaps\/settings: 409 Conflict: /);

    await until("the informer to see the changes", () =>
      Promise.resolve(events.at(-1) === `update ${JSON.stringify({ b: "20", c: "3" })}`),
    );
    expect(events[0]).toBe(`add ${JSON.stringify({ a: "1" })}`);
    expect(informer.get("settings", namespace)?.data).toEqual({ b: "20", c: "3" });

    const wrongUid = await client
      .delete(path, { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } })
      .catch((error: unknown) => error);
    expect(isKubeApiError(wrongUid, "Conflict")).toBe(true);
    await client.delete(path, { preconditions: { uid: created.metadata?.uid ?? "" }, propagationPolicy: "Background" });
    await until("the informer to see the delete", () => Promise.resolve(events.at(-1) === "delete settings"));
    expect(informer.list(namespace)).toEqual([]);
    const gone = await client.get(path).catch((error: unknown) => error);
    expect(isKubeApiError(gone, "NotFound") && gone.status === 404).toBe(true);
    await informer.stop();
  });

  it("lists metadata only, in pages", async () => {
    const first = await client.list<KubeObject>("/api/v1/namespaces", { metadataOnly: true, limit: 1 });
    expect(first.items).toHaveLength(1);
    expect(first.items[0]?.kind).toBe("PartialObjectMetadata");
    expect(first.metadata.continue).toBeTruthy();
    const second = await client.list<KubeObject>("/api/v1/namespaces", { limit: 1, continue: first.metadata.continue ?? "" });
    expect(second.items[0]?.metadata?.name).not.toBe(first.items[0]?.metadata?.name);
  });

  it("watches from a list's version and resolves when the server ends the watch at timeoutSeconds", async () => {
    const listed = await client.list<ConfigMap>(collection);
    const events: string[] = [];
    const started = Date.now();
    const watching = client.watch<ConfigMap>(
      collection,
      { resourceVersion: listed.metadata.resourceVersion ?? "", timeoutSeconds: 2, fieldSelector: "metadata.name=watched" },
      (event) => {
        events.push(`${event.type} ${event.object.metadata?.name ?? ""}`);
      },
    );
    await client.create(collection, { metadata: { name: "watched" }, data: { x: "1" } });
    await client.create(collection, { metadata: { name: "ignored" } });
    await client.delete(`${collection}/watched`);
    await watching;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(events).toEqual(["ADDED watched", "DELETED watched"]);
  });
});
