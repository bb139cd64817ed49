import { V1Node, V1ObjectMeta, V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from "@kubernetes/client-node";
import { KubeApiError, type DeleteOptions, type KubeList } from "@topolvm/kube-client";
import { driverName, logicalVolumeFinalizer, nodeFinalizer, pendingDeletionAnnotation, topologyKey } from "@topolvm/proto/names";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fakeInformer } from "../../test/fake-informer.js";
import { kubeApiError } from "../../test/kube-errors.js";
import { signalRecordingKube } from "../../test/signal-recording-kube.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import {
  cachedNodeOf,
  claimsOnNode,
  createNodeFinalizerReconcile,
  needsNodeFinalize,
  startNodeFinalizerController,
  type NodeFinalizerApi,
} from "./node-finalizer.js";

const logger = pino({ level: "silent" });
const signal = new AbortController().signal;
/** A deletionTimestamp as kube-client hands it over: the JSON string. */
const deletedAt = "2025-01-01T00:00:00Z";

const notFound = (method: string, path: string, what: string): KubeApiError => kubeApiError(method, path, 404, `${what} not found`);
const conflict = (method: string, path: string, what: string): KubeApiError =>
  kubeApiError(method, path, 409, `Operation cannot be fulfilled on ${what}: the object has been modified`);

function node(name: string, options: { deleting?: boolean; finalizers?: string[] } = {}): V1Node {
  return Object.assign(new V1Node(), {
    metadata: {
      name,
      resourceVersion: "1",
      finalizers: options.finalizers ?? [nodeFinalizer],
      ...(options.deleting === false ? {} : { deletionTimestamp: deletedAt }),
    },
  });
}

function storageClass(name: string, provisioner: string): V1StorageClass {
  return Object.assign(new V1StorageClass(), { metadata: { name }, provisioner });
}

function claim(
  namespace: string,
  name: string,
  options: { storageClass?: string; selectedNode?: string; volume?: string; annotations?: Record<string, string> } = {},
): V1PersistentVolumeClaim {
  return Object.assign(new V1PersistentVolumeClaim(), {
    metadata: {
      namespace,
      name,
      uid: `uid-${namespace}-${name}`,
      finalizers: ["kubernetes.io/pvc-protection"],
      annotations: {
        ...(options.selectedNode === undefined ? {} : { "volume.kubernetes.io/selected-node": options.selectedNode }),
        ...options.annotations,
      },
    },
    spec: {
      ...(options.storageClass === undefined ? {} : { storageClassName: options.storageClass }),
      ...(options.volume === undefined ? {} : { volumeName: options.volume }),
    },
  });
}

function volume(name: string, options: { driver?: string; node?: string; handle?: string } = {}): V1PersistentVolume {
  return Object.assign(new V1PersistentVolume(), {
    metadata: { name },
    spec: {
      csi: { driver: options.driver ?? driverName, volumeHandle: options.handle ?? `handle-${name}` },
      ...(options.node === undefined
        ? {}
        : {
            nodeAffinity: {
              required: { nodeSelectorTerms: [{ matchExpressions: [{ key: topologyKey, operator: "In", values: [options.node] }] }] },
            },
          }),
    },
  });
}

function logicalVolume(name: string, nodeName: string, options: { finalizers?: string[]; volumeID?: string } = {}): LogicalVolume {
  return {
    apiVersion: "topolvm.cybozu.com/v1",
    kind: "LogicalVolume",
    metadata: Object.assign(new V1ObjectMeta(), { name, resourceVersion: "1", finalizers: options.finalizers ?? [logicalVolumeFinalizer] }),
    spec: { name, nodeName, size: "1073741824" },
    status: { volumeID: options.volumeID ?? `lv-${name}`, code: 0 },
  };
}

/**
 * A cluster in memory behind the calls the finalizer makes, with the API server's rules that matter here: deletion
 * waits for finalizers, writes guarded by a resourceVersion fail with 409 when it moved. `calls` records every write.
 */
function fakeCluster(initial: {
  nodes?: V1Node[];
  claims?: V1PersistentVolumeClaim[];
  volumes?: V1PersistentVolume[];
  storageClasses?: V1StorageClass[];
  logicalVolumes?: LogicalVolume[];
}) {
  const nodes = new Map((initial.nodes ?? []).map((n) => [n.metadata?.name ?? "", structuredClone(n)]));
  const claims = new Map((initial.claims ?? []).map((c) => [`${c.metadata?.namespace ?? ""}/${c.metadata?.name ?? ""}`, structuredClone(c)]));
  const volumes = initial.volumes ?? [];
  const storageClasses = initial.storageClasses ?? [];
  const lvs = new Map((initial.logicalVolumes ?? []).map((lv) => [lv.metadata.name, structuredClone(lv)]));
  const calls: string[] = [];
  /** Methods that fail their next N calls. */
  const failures = new Map<string, number>();
  let version = 100;
  const bump = (): string => String((version += 1));
  const maybeFail = (method: string): void => {
    const left = failures.get(method) ?? 0;
    if (left > 0) {
      failures.set(method, left - 1);
      throw kubeApiError("GET", `/${method}`, 500, `${method} failed`);
    }
  };
  const lvOf = (name: string): LogicalVolume => {
    const lv = lvs.get(name);
    if (lv === undefined) {
      throw notFound("GET", `/apis/topolvm.cybozu.com/v1/logicalvolumes/${name}`, `logicalvolumes ${name}`);
    }
    return lv;
  };
  const settleLv = (lv: LogicalVolume): void => {
    if (lv.metadata.deletionTimestamp !== undefined && (lv.metadata.finalizers ?? []).length === 0) {
      lvs.delete(lv.metadata.name);
    }
  };

  const unexpected = (method: string, path: string): never => {
    throw new Error(`unexpected ${method} ${path}`);
  };
  const nodeName = (path: string): string | undefined => /^\/api\/v1\/nodes\/([^/]+)$/.exec(path)?.[1];
  const api: NodeFinalizerApi = {
    kube: {
      get: async <T>(path: string): Promise<T> => {
        await Promise.resolve();
        const name = nodeName(path) ?? unexpected("GET", path);
        maybeFail("readNode");
        const found = nodes.get(name);
        if (found === undefined) {
          throw notFound("GET", path, `nodes ${name}`);
        }
        return structuredClone(found) as T;
      },
      patch: async <T>(path: string, body: unknown, options: { type: string }): Promise<T> => {
        await Promise.resolve();
        const name = nodeName(path) ?? unexpected("PATCH", path);
        if (options.type !== "merge") {
          return unexpected(`PATCH (${options.type})`, path);
        }
        maybeFail("patchNode");
        const found = nodes.get(name);
        if (found?.metadata === undefined) {
          throw notFound("PATCH", path, `nodes ${name}`);
        }
        const patch = body as { metadata: { resourceVersion?: string; finalizers: string[] } };
        if (patch.metadata.resourceVersion !== found.metadata.resourceVersion) {
          throw conflict("PATCH", path, `nodes ${name}`);
        }
        found.metadata.finalizers = patch.metadata.finalizers;
        found.metadata.resourceVersion = bump();
        calls.push(`patch node ${name} finalizers=${JSON.stringify(patch.metadata.finalizers)}`);
        if (found.metadata.deletionTimestamp !== undefined && patch.metadata.finalizers.length === 0) {
          nodes.delete(name);
        }
        return structuredClone(found) as T;
      },
      list: async <T>(path: string): Promise<KubeList<T>> => {
        await Promise.resolve();
        switch (path) {
          case "/api/v1/persistentvolumeclaims":
            maybeFail("listClaims");
            return { metadata: {}, items: [...claims.values()].map((c) => structuredClone(c)) as T[] };
          case "/api/v1/persistentvolumes":
            return { metadata: {}, items: volumes as T[] };
          case "/apis/storage.k8s.io/v1/storageclasses":
            return { metadata: {}, items: storageClasses as T[] };
          default:
            return unexpected("GET", path);
        }
      },
      delete: async <T>(path: string, options: DeleteOptions = {}): Promise<T> => {
        await Promise.resolve();
        const match = /^\/api\/v1\/namespaces\/([^/]+)\/persistentvolumeclaims\/([^/]+)$/.exec(path);
        const [namespace, name] = match === null ? unexpected("DELETE", path) : [match[1] ?? "", match[2] ?? ""];
        maybeFail("deleteClaim");
        const found = claims.get(`${namespace}/${name}`);
        if (found?.metadata === undefined) {
          throw notFound("DELETE", path, `persistentvolumeclaims ${name}`);
        }
        const uid = options.preconditions?.uid;
        if (uid !== undefined && uid !== found.metadata.uid) {
          throw conflict("DELETE", path, `persistentvolumeclaims ${name}`);
        }
        Object.assign(found.metadata, { deletionTimestamp: deletedAt });
        calls.push(`delete pvc ${namespace}/${name}`);
        return structuredClone(found) as T;
      },
    },
    logicalVolumes: {
      list: async (options = {}) => {
        await Promise.resolve();
        maybeFail("listLogicalVolumes");
        return [...lvs.values()].filter((lv) => options.nodeName === undefined || lv.spec.nodeName === options.nodeName).map((lv) => structuredClone(lv));
      },
      patch: async (name, patch) => {
        await Promise.resolve();
        maybeFail("patchLogicalVolume");
        const lv = lvOf(name);
        const annotations = (patch.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {};
        lv.metadata.annotations = { ...lv.metadata.annotations, ...annotations };
        lv.metadata.resourceVersion = bump();
        calls.push(`annotate lv ${name} ${JSON.stringify(annotations)}`);
        return structuredClone(lv);
      },
      setFinalizers: async (given, finalizers) => {
        await Promise.resolve();
        maybeFail("setFinalizers");
        const lv = lvOf(given.metadata.name);
        if (given.metadata.resourceVersion !== lv.metadata.resourceVersion) {
          throw kubeApiError("PATCH", `/apis/topolvm.cybozu.com/v1/logicalvolumes/${given.metadata.name}`, 422, "test operation failed");
        }
        lv.metadata.finalizers = finalizers;
        lv.metadata.resourceVersion = bump();
        calls.push(`set lv ${lv.metadata.name} finalizers=${JSON.stringify(finalizers)}`);
        const result = structuredClone(lv);
        settleLv(lv);
        return result;
      },
      delete: async (name) => {
        await Promise.resolve();
        maybeFail("deleteLogicalVolume");
        const lv = lvs.get(name);
        if (lv === undefined) {
          return false;
        }
        Object.assign(lv.metadata, { deletionTimestamp: deletedAt });
        calls.push(`delete lv ${name}`);
        settleLv(lv);
        return true;
      },
    },
  };
  return { api, calls, failures, nodes, claims, lvs };
}

const ourClass = storageClass("topolvm-provisioner", driverName);
const otherClass = storageClass("standard", "ebs.csi.aws.com");

describe("needsNodeFinalize", () => {
  it("holds only for a Node being deleted that still has our finalizer", () => {
    expect(needsNodeFinalize(node("n1"))).toBe(true);
    expect(needsNodeFinalize(node("n1", { deleting: false }))).toBe(false);
    expect(needsNodeFinalize(node("n1", { finalizers: ["example.com/other"] }))).toBe(false);
  });

  it("reads a deletionTimestamp that a watch left as a string", () => {
    expect(needsNodeFinalize(cachedNodeOf(node("n1")))).toBe(true);
    expect(needsNodeFinalize(cachedNodeOf(node("n1", { deleting: false })))).toBe(false);
  });
});

describe("claimsOnNode", () => {
  const names = (found: V1PersistentVolumeClaim[]): string[] => found.map((c) => `${c.metadata?.namespace ?? ""}/${c.metadata?.name ?? ""}`);
  const base = { volumes: [], storageClasses: [ourClass, otherClass], logicalVolumes: [] };

  it("finds claims scheduled to the node in a StorageClass of ours, and leaves other classes and nodes", () => {
    const found = claimsOnNode("n1", {
      ...base,
      claims: [
        claim("a", "ours", { storageClass: "topolvm-provisioner", selectedNode: "n1" }),
        claim("a", "other-class", { storageClass: "standard", selectedNode: "n1" }),
        claim("a", "other-node", { storageClass: "topolvm-provisioner", selectedNode: "n2" }),
        claim("a", "no-class", { selectedNode: "n1" }),
      ],
    });
    expect(names(found)).toEqual(["a/ours"]);
  });

  it("finds a bound claim by its PV's node affinity or by the node's LogicalVolumes, without the scheduler's annotation", () => {
    const found = claimsOnNode("n1", {
      claims: [
        claim("b", "by-affinity", { storageClass: "topolvm-provisioner", volume: "pv-1" }),
        claim("b", "by-handle", { storageClass: "topolvm-provisioner", volume: "pv-2" }),
        claim("b", "by-name", { storageClass: "topolvm-provisioner", volume: "pv-3" }),
        claim("b", "elsewhere", { storageClass: "topolvm-provisioner", volume: "pv-4" }),
      ],
      volumes: [volume("pv-1", { node: "n1" }), volume("pv-2", { handle: "lv-uid-2" }), volume("pv-3"), volume("pv-4", { node: "n2" })],
      storageClasses: [ourClass],
      logicalVolumes: [logicalVolume("other-name", "n1", { volumeID: "lv-uid-2" }), logicalVolume("pv-3", "n1")],
    });
    expect(names(found)).toEqual(["b/by-affinity", "b/by-handle", "b/by-name"]);
  });

  it("decides ownership by the PV's driver for bound claims, and by the provisioner annotation when the class is gone", () => {
    const found = claimsOnNode("n1", {
      claims: [
        claim("c", "class-deleted", { storageClass: "gone", selectedNode: "n1", annotations: { "volume.kubernetes.io/storage-provisioner": driverName } }),
        claim("c", "foreign-pv", { storageClass: "topolvm-provisioner", selectedNode: "n1", volume: "pv-foreign" }),
        claim("c", "class-deleted-bound", { storageClass: "gone", volume: "pv-ours" }),
      ],
      volumes: [volume("pv-foreign", { driver: "ebs.csi.aws.com" }), volume("pv-ours", { node: "n1" })],
      storageClasses: [ourClass],
      logicalVolumes: [],
    });
    expect(names(found)).toEqual(["c/class-deleted", "c/class-deleted-bound"]);
  });

  it("skips claims already being deleted", () => {
    const deleting = claim("d", "deleting", { storageClass: "topolvm-provisioner", selectedNode: "n1" });
    deleting.metadata = Object.assign(new V1ObjectMeta(), deleting.metadata, { deletionTimestamp: deletedAt });
    expect(claimsOnNode("n1", { ...base, claims: [deleting] })).toEqual([]);
  });
});

describe("createNodeFinalizerReconcile", () => {
  function cluster() {
    return fakeCluster({
      nodes: [node("n1"), node("n2", { deleting: false })],
      claims: [
        claim("app", "data-0", { storageClass: "topolvm-provisioner", selectedNode: "n1", volume: "pvc-0" }),
        claim("app", "pending", { storageClass: "topolvm-provisioner", selectedNode: "n1" }),
        claim("app", "ebs", { storageClass: "standard", selectedNode: "n1" }),
        claim("app", "data-1", { storageClass: "topolvm-provisioner", selectedNode: "n2", volume: "pvc-1" }),
      ],
      volumes: [volume("pvc-0", { node: "n1" }), volume("pvc-1", { node: "n2" })],
      storageClasses: [ourClass, otherClass],
      logicalVolumes: [
        logicalVolume("pvc-0", "n1"),
        logicalVolume("pvc-9", "n1", { finalizers: [logicalVolumeFinalizer, "example.com/backup"] }),
        logicalVolume("pvc-1", "n2"),
      ],
    });
  }

  it("deletes the node's PVCs of our class, releases and deletes its LogicalVolumes, and removes the Node finalizer last", async () => {
    const fake = cluster();
    const reconcile = createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false });
    expect(await reconcile("n1", signal)).toBeUndefined();
    expect(fake.calls).toEqual([
      "delete pvc app/data-0",
      "delete pvc app/pending",
      `annotate lv pvc-0 {"${pendingDeletionAnnotation}":"true"}`,
      "set lv pvc-0 finalizers=[]",
      "delete lv pvc-0",
      `annotate lv pvc-9 {"${pendingDeletionAnnotation}":"true"}`,
      'set lv pvc-9 finalizers=["example.com/backup"]',
      "delete lv pvc-9",
      "patch node n1 finalizers=[]",
    ]);
    expect(fake.nodes.has("n1")).toBe(false);
    expect([...fake.lvs.keys()]).toEqual(["pvc-9", "pvc-1"]);
    // Another's finalizer stays, ours is gone, the node must not act on it.
    expect(fake.lvs.get("pvc-9")?.metadata).toMatchObject({
      finalizers: ["example.com/backup"],
      annotations: { [pendingDeletionAnnotation]: "true" },
      deletionTimestamp: deletedAt,
    });
    expect(fake.claims.get("app/ebs")?.metadata?.deletionTimestamp).toBeUndefined();
    expect(fake.claims.get("app/data-1")?.metadata?.deletionTimestamp).toBeUndefined();
    expect(fake.lvs.get("pvc-1")?.metadata.finalizers).toEqual([logicalVolumeFinalizer]);
  });

  it("keeps the Node's other finalizers", async () => {
    const fake = fakeCluster({ nodes: [node("n1", { finalizers: ["example.com/first", nodeFinalizer] })] });
    await createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false })("n1", signal);
    expect(fake.calls).toEqual(['patch node n1 finalizers=["example.com/first"]']);
    expect(fake.nodes.get("n1")?.metadata?.finalizers).toEqual(["example.com/first"]);
  });

  it("with --skip-node-finalize leaves PVCs and LogicalVolumes and only removes the finalizer", async () => {
    const fake = cluster();
    await createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: true })("n1", signal);
    expect(fake.calls).toEqual(["patch node n1 finalizers=[]"]);
    expect(fake.lvs.size).toBe(3);
  });

  it("does nothing for a Node that is not being deleted, lacks our finalizer, or is gone", async () => {
    const fake = fakeCluster({
      nodes: [node("alive", { deleting: false }), node("foreign", { finalizers: ["example.com/other"] })],
      logicalVolumes: [logicalVolume("pvc-0", "alive"), logicalVolume("pvc-1", "foreign")],
    });
    const reconcile = createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false });
    for (const name of ["alive", "foreign", "missing"]) {
      expect(await reconcile(name, signal)).toBeUndefined();
    }
    expect(fake.calls).toEqual([]);
  });

  it("releases a LogicalVolume that was already being deleted and waited on the node (a DeleteVolume in flight)", async () => {
    const stuck = logicalVolume("pvc-0", "n1");
    Object.assign(stuck.metadata, { deletionTimestamp: deletedAt });
    const fake = fakeCluster({ nodes: [node("n1")], logicalVolumes: [stuck] });
    await createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false })("n1", signal);
    expect(fake.calls).toEqual([`annotate lv pvc-0 {"${pendingDeletionAnnotation}":"true"}`, "set lv pvc-0 finalizers=[]", "patch node n1 finalizers=[]"]);
    expect(fake.lvs.size).toBe(0);
  });

  it("fails on an API error without removing the finalizer, and a second run finishes from where the first stopped", async () => {
    const fake = cluster();
    fake.failures.set("setFinalizers", 1);
    const reconcile = createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false });
    await expect(reconcile("n1", signal)).rejects.toThrow(KubeApiError);
    expect(fake.nodes.get("n1")?.metadata?.finalizers).toEqual([nodeFinalizer]);
    expect(fake.calls.filter((call) => call.startsWith("delete pvc"))).toHaveLength(2);
    await reconcile("n1", signal);
    expect(fake.nodes.has("n1")).toBe(false);
    // The claims deleted by the first run were not deleted twice; the LogicalVolume annotated once.
    expect(fake.calls.filter((call) => call.startsWith("delete pvc"))).toHaveLength(2);
    expect(fake.calls.filter((call) => call.startsWith("annotate lv pvc-0"))).toHaveLength(1);
  });

  it("fails with a conflict when the Node changed between read and patch", async () => {
    const fake = fakeCluster({ nodes: [node("n1")] });
    const reconcile = createNodeFinalizerReconcile({ ...fake.api, logger, skipNodeFinalize: false });
    const { kube } = fake.api;
    const racing: NodeFinalizerApi = {
      ...fake.api,
      kube: {
        ...kube,
        get: async <T>(path: string): Promise<T> => {
          const read = await kube.get<T>(path);
          const stored = fake.nodes.get("n1");
          if (stored?.metadata !== undefined) {
            stored.metadata.resourceVersion = "2";
          }
          return read;
        },
      },
    };
    await expect(createNodeFinalizerReconcile({ ...racing, logger, skipNodeFinalize: false })("n1", signal)).rejects.toMatchObject({ status: 409, reason: "Conflict" });
    await reconcile("n1", signal);
    expect(fake.nodes.has("n1")).toBe(false);
  });
});

describe("createNodeFinalizerReconcile's requests", () => {
  it("gives every Kubernetes API call the reconcile's signal", async () => {
    const fake = fakeCluster({
      nodes: [node("n1")],
      claims: [claim("app", "data-0", { storageClass: "topolvm-provisioner", selectedNode: "n1" })],
      storageClasses: [ourClass],
    });
    const { kube } = fake.api;
    const signals: unknown[] = [];
    const recording: NodeFinalizerApi = {
      ...fake.api,
      kube: signalRecordingKube(kube, signals),
    };
    const controller = new AbortController();
    await createNodeFinalizerReconcile({ ...recording, logger, skipNodeFinalize: false })("n1", controller.signal);
    expect(fake.calls).toEqual(["delete pvc app/data-0", "patch node n1 finalizers=[]"]);
    // Read the Node, list claims, volumes and classes, delete the claim, patch the Node.
    expect(signals).toHaveLength(6);
    expect(signals.every((signal) => signal === controller.signal)).toBe(true);
  });
});

describe("startNodeFinalizerController", () => {
  const until = async (condition: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !condition(); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(condition()).toBe(true);
  };

  it("finalizes a Node deleted while it runs, retrying failed steps with backoff", async () => {
    const fake = fakeCluster({ nodes: [node("n1", { deleting: false })], logicalVolumes: [logicalVolume("pvc-0", "n1")] });
    const nodes = fakeInformer([cachedNodeOf(node("n1", { deleting: false }))]);
    const controller = startNodeFinalizerController({ ...fake.api, nodes, logger, skipNodeFinalize: false, baseDelayMs: 5 });
    await until(() => controller.synced());
    expect(fake.calls).toEqual([]);

    fake.failures.set("listClaims", 2);
    fake.failures.set("patchNode", 1);
    const deleting = node("n1");
    fake.nodes.set("n1", structuredClone(deleting));
    nodes.emit("update", cachedNodeOf(deleting));
    await until(() => !fake.nodes.has("n1"));
    expect(fake.calls).toEqual([
      `annotate lv pvc-0 {"${pendingDeletionAnnotation}":"true"}`,
      "set lv pvc-0 finalizers=[]",
      "delete lv pvc-0",
      "patch node n1 finalizers=[]",
    ]);
    await controller.stop();
  });

  it("finalizes Nodes that were already deleting when it started, and ignores other Node updates", async () => {
    const fake = fakeCluster({ nodes: [node("n1"), node("n2", { deleting: false })] });
    const nodes = fakeInformer([cachedNodeOf(node("n1")), cachedNodeOf(node("n2", { deleting: false }))]);
    let reads = 0;
    const counting: NodeFinalizerApi = {
      ...fake.api,
      kube: {
        ...fake.api.kube,
        get: <T>(path: string): Promise<T> => {
          reads += 1;
          return fake.api.kube.get<T>(path);
        },
      },
    };
    const controller = startNodeFinalizerController({ ...counting, nodes, logger, skipNodeFinalize: false });
    await until(() => !fake.nodes.has("n1"));
    nodes.emit("update", cachedNodeOf(node("n2", { deleting: false })));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(reads).toBe(1);
    await controller.stop();
    expect(nodes.running).toBe(false);
  });

  it("keeps its informer through a failed watch (the informer retries by itself) and acts on the next event", async () => {
    const fake = fakeCluster({ nodes: [node("n1", { deleting: false })] });
    const nodes = fakeInformer([cachedNodeOf(node("n1", { deleting: false }))]);
    const controller = startNodeFinalizerController({ ...fake.api, nodes, logger, skipNodeFinalize: false });
    await until(() => nodes.starts === 1);
    nodes.fail(new Error("watch closed"));
    expect(controller.synced()).toBe(true);
    fake.nodes.set("n1", node("n1"));
    nodes.emit("update", cachedNodeOf(node("n1")));
    await until(() => !fake.nodes.has("n1"));
    expect(nodes.starts).toBe(1);
    await controller.stop();
  });
});

describe("cachedNodeOf", () => {
  it("keeps the metadata that capacity and the finalizer read, and drops managedFields, spec and status", () => {
    const full = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: "n1",
        resourceVersion: "7",
        uid: "u",
        labels: { [topologyKey]: "n1" },
        annotations: { "capacity.topolvm.cybozu.com/00default": "1024" },
        finalizers: [nodeFinalizer],
        deletionTimestamp: "2025-01-01T00:00:00Z",
        managedFields: [{ manager: "kubelet" }],
      },
      spec: { podCIDR: "10.0.0.0/24" },
      status: { images: [{ names: ["x"], sizeBytes: 1 }] },
    };
    expect(cachedNodeOf(full)).toEqual({
      metadata: {
        name: "n1",
        resourceVersion: "7",
        labels: { [topologyKey]: "n1" },
        annotations: { "capacity.topolvm.cybozu.com/00default": "1024" },
        finalizers: [nodeFinalizer],
        deletionTimestamp: "2025-01-01T00:00:00Z",
      },
    });
    expect(cachedNodeOf({ metadata: { name: "n2" } })).toEqual({ metadata: { name: "n2" } });
  });
});
