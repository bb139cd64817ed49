import { V1ObjectMeta } from "@kubernetes/client-node";
import type { KubeClient, KubeList, WatchOptions } from "@topolvm/kube-client";
import { describe, expect, it } from "vitest";
import { kubeApiError } from "../../test/kube-errors.js";
import type { LogicalVolume } from "./logical-volume.js";
import { createLogicalVolumeClient, isApiStatus } from "./logical-volume-client.js";

const path = "/apis/topolvm.cybozu.com/v1/logicalvolumes";

const lv = (name: string, resourceVersion = "5"): LogicalVolume => ({
  apiVersion: "topolvm.cybozu.com/v1",
  kind: "LogicalVolume",
  metadata: Object.assign(new V1ObjectMeta(), { name, resourceVersion }),
  spec: { name, nodeName: "node-1", size: "1073741824" },
});

interface Call {
  readonly verb: string;
  readonly path: string;
  readonly body?: unknown;
  readonly options?: unknown;
}

/** A KubeClient that records each call and answers with `answer(call)` (thrown when it is an Error). */
function recordingKube(answer: (call: Call) => unknown = () => ({})): { kube: KubeClient; calls: Call[] } {
  const calls: Call[] = [];
  const respond = <T>(call: Call): Promise<T> => {
    calls.push(call);
    const value = answer(call);
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value as T);
  };
  const kube: KubeClient = {
    server: "https://127.0.0.1:6443",
    namespace: undefined,
    get: (p, options) => respond({ verb: "get", path: p, options }),
    list: <T>(p: string, options?: unknown) => respond<KubeList<T>>({ verb: "list", path: p, options }),
    create: (p, body, options) => respond({ verb: "create", path: p, body, options }),
    replace: (p, body, options) => respond({ verb: "replace", path: p, body, options }),
    patch: (p, body, options) => respond({ verb: "patch", path: p, body, options }),
    delete: (p, options) => respond({ verb: "delete", path: p, options }),
    // A watch that ends at once without events: the informer counts it as failed and retries later.
    watch: (p: string, options: WatchOptions) => respond<undefined>({ verb: "watch", path: p, options: { ...options, signal: undefined } }),
    close: () => undefined,
  };
  return { kube, calls };
}

describe("createLogicalVolumeClient", () => {
  it("reads one resource by its path, and answers undefined for a 404", async () => {
    const { kube, calls } = recordingKube((call) => (call.path.endsWith("/gone") ? kubeApiError("GET", call.path, 404) : lv("pvc-1")));
    const client = createLogicalVolumeClient(kube, "topolvm-controller");
    expect(await client.get("pvc-1")).toEqual(lv("pvc-1"));
    expect(await client.get("gone")).toBeUndefined();
    expect(calls.map((call) => call.path)).toEqual([`${path}/pvc-1`, `${path}/gone`]);
  });

  it("rethrows other API errors of a read", async () => {
    const { kube } = recordingKube((call) => kubeApiError("GET", call.path, 403, "forbidden"));
    await expect(createLogicalVolumeClient(kube, "m").get("pvc-1")).rejects.toMatchObject({ status: 403 });
  });

  it("lists every resource, or a node's by the spec.nodeName field selector", async () => {
    const { kube, calls } = recordingKube(() => ({ metadata: {}, items: [lv("pvc-1")] }));
    const client = createLogicalVolumeClient(kube, "m");
    expect(await client.list()).toEqual([lv("pvc-1")]);
    await client.list({ nodeName: "node-1" });
    expect(calls).toEqual([
      { verb: "list", path, options: {} },
      { verb: "list", path, options: { fieldSelector: "spec.nodeName=node-1" } },
    ]);
  });

  it("creates with the spec's name, the given metadata and its field manager", async () => {
    const { kube, calls } = recordingKube(() => lv("pvc-1"));
    await createLogicalVolumeClient(kube, "topolvm-controller").create(lv("pvc-1").spec, { annotations: { a: "b" } });
    expect(calls).toEqual([
      {
        verb: "create",
        path,
        body: { apiVersion: "topolvm.cybozu.com/v1", kind: "LogicalVolume", metadata: { name: "pvc-1", annotations: { a: "b" } }, spec: lv("pvc-1").spec },
        options: { fieldManager: "topolvm-controller" },
      },
    ]);
  });

  it("patches metadata and spec as a JSON merge patch, and finalizers as a JSON patch guarded by the resourceVersion", async () => {
    const { kube, calls } = recordingKube(() => lv("pvc-1", "6"));
    const client = createLogicalVolumeClient(kube, "topolvm-node");
    await client.patch("pvc-1", { spec: { size: "2147483648" } });
    await client.setFinalizers(lv("pvc-1"), ["topolvm.cybozu.com/logicalvolume"]);
    expect(calls).toEqual([
      { verb: "patch", path: `${path}/pvc-1`, body: { spec: { size: "2147483648" } }, options: { type: "merge", fieldManager: "topolvm-node" } },
      {
        verb: "patch",
        path: `${path}/pvc-1`,
        body: [
          { op: "test", path: "/metadata/resourceVersion", value: "5" },
          { op: "add", path: "/metadata/finalizers", value: ["topolvm.cybozu.com/logicalvolume"] },
        ],
        options: { type: "json", fieldManager: "topolvm-node" },
      },
    ]);
  });

  it("replaces the status through the status subresource, with the resourceVersion that was read", async () => {
    const { kube, calls } = recordingKube(() => lv("pvc-1", "6"));
    await createLogicalVolumeClient(kube, "topolvm-node").setStatus(lv("pvc-1"), { volumeID: "v", code: 0 });
    expect(calls).toEqual([
      { verb: "replace", path: `${path}/pvc-1/status`, body: { ...lv("pvc-1"), status: { volumeID: "v", code: 0 } }, options: { fieldManager: "topolvm-node" } },
    ]);
  });

  it("deletes, answering false for a resource that was not there", async () => {
    const { kube } = recordingKube((call) => (call.path.endsWith("/gone") ? kubeApiError("DELETE", call.path, 404) : { kind: "Status" }));
    const client = createLogicalVolumeClient(kube, "m");
    expect(await client.delete("pvc-1")).toBe(true);
    expect(await client.delete("gone")).toBe(false);
  });

  it("builds an informer over the collection, a node's by field selector, caching objects without managedFields", async () => {
    const listed = { ...lv("pvc-1"), metadata: Object.assign(new V1ObjectMeta(), lv("pvc-1").metadata, { managedFields: [{ manager: "kubectl" }] }) };
    const { kube, calls } = recordingKube((call) => (call.verb === "list" ? { metadata: { resourceVersion: "9" }, items: [listed] } : undefined));
    const informer = createLogicalVolumeClient(kube, "m").informer({ nodeName: "node-1" });
    informer.start();
    for (let i = 0; i < 100 && !informer.synced(); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await informer.stop();
    expect(calls[0]).toMatchObject({ verb: "list", path, options: { fieldSelector: "spec.nodeName=node-1" } });
    expect(informer.get("pvc-1")).toEqual(lv("pvc-1"));
  });
});

describe("isApiStatus", () => {
  it("holds for a KubeApiError of that HTTP status only", () => {
    expect(isApiStatus(kubeApiError("POST", path, 409, "exists", "AlreadyExists"), 409)).toBe(true);
    expect(isApiStatus(kubeApiError("PUT", path, 409), 409)).toBe(true);
    expect(isApiStatus(kubeApiError("GET", path, 404), 409)).toBe(false);
    expect(isApiStatus(new Error("409"), 409)).toBe(false);
  });
});
