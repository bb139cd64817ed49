import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { V1ObjectMeta } from "@kubernetes/client-node";
import { csi } from "@topolvm/proto";
import { capacityAnnotationPrefix, deviceClassParameter, logicalVolumeFinalizer, resizeRequestedAtAnnotation, topologyKey } from "@topolvm/proto/names";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fakeInformer, type FakeInformer } from "../../test/fake-informer.js";
import { kubeApiError } from "../../test/kube-errors.js";
import type { LogicalVolume, LogicalVolumeSpec, LogicalVolumeStatus } from "../logical-volume/logical-volume.js";
import type { LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import { createLogicalVolumeIndex } from "../logical-volume/logical-volume-index.js";
import type { CapacityNode, NodeLister } from "./capacity.js";
import { createControllerService } from "./controller-service.js";
import { defaultMinimumAllocation } from "./create-volume.js";

const GiB = 1n << 30n;
const Mode = csi.VolumeCapability_AccessMode_Mode;
const logger = pino({ level: "silent" });
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What the simulated topolvm-node does with a LogicalVolume of its node. */
interface NodeBehaviour {
  /** Answer to a new LogicalVolume: create the LV, report a failure, or do nothing (node down). */
  create: "ok" | "never" | { code: number; message: string };
  resize: "ok" | "never" | { code: number; message: string };
  /** Whether it removes its finalizer from deleted LogicalVolumes. */
  remove: boolean;
}

/**
 * A cluster in memory: the API server's LogicalVolumes (deletion waits for finalizers, names are unique) behind a
 * LogicalVolumeClient, an informer fed by its writes one event-loop turn later (as a watch lags), and a node that
 * reconciles the resources the way topolvm-node does. `calls` records the client's writes.
 */
function fakeCluster(behaviour: Partial<NodeBehaviour> = {}) {
  const node: NodeBehaviour = { create: "ok", resize: "ok", remove: true, ...behaviour };
  const store = new Map<string, LogicalVolume>();
  const informer: FakeInformer<LogicalVolume> = fakeInformer<LogicalVolume>();
  const calls: string[] = [];
  let uids = 0;
  let version = 0;
  const emit = (verb: "add" | "update" | "delete", lv: LogicalVolume): void => {
    setImmediate(() => {
      informer.emit(verb, lv);
    });
  };
  const write = (lv: LogicalVolume, verb: "add" | "update"): LogicalVolume => {
    version += 1;
    const next: LogicalVolume = { ...lv, metadata: Object.assign(new V1ObjectMeta(), lv.metadata, { resourceVersion: String(version) }) };
    store.set(next.metadata.name, next);
    emit(verb, next);
    return next;
  };
  const finalize = (lv: LogicalVolume): void => {
    if (lv.metadata.deletionTimestamp !== undefined && (lv.metadata.finalizers ?? []).length === 0) {
      store.delete(lv.metadata.name);
      emit("delete", lv);
    }
  };
  const mustGet = (name: string): LogicalVolume => {
    const lv = store.get(name);
    if (lv === undefined) {
      throw kubeApiError("GET", `/apis/topolvm.cybozu.com/v1/logicalvolumes/${name}`, 404, `logicalvolumes ${name} not found`);
    }
    return lv;
  };

  const client: LogicalVolumeClient = {
    get: (name) => Promise.resolve(store.get(name)),
    list: () => Promise.resolve([...store.values()]),
    create(spec, metadata = {}) {
      calls.push(`create ${spec.name} ${spec.nodeName} ${spec.size}`);
      if (store.has(spec.name)) {
        return Promise.reject(kubeApiError("POST", "/apis/topolvm.cybozu.com/v1/logicalvolumes", 409, `logicalvolumes ${spec.name} already exists`, "AlreadyExists"));
      }
      uids += 1;
      const lv = write(
        { apiVersion: "topolvm.cybozu.com/v1", kind: "LogicalVolume", metadata: Object.assign(new V1ObjectMeta(), { name: spec.name, uid: `uid-${uids}`, ...metadata }), spec },
        "add",
      );
      return Promise.resolve(lv);
    },
    patch(name, patch) {
      calls.push(`patch ${name} ${JSON.stringify(patch)}`);
      const lv = mustGet(name);
      const metadata = (patch.metadata ?? {}) as { annotations?: Record<string, string> };
      return Promise.resolve(
        write(
          {
            ...lv,
            metadata: Object.assign(new V1ObjectMeta(), lv.metadata, { annotations: { ...lv.metadata.annotations, ...metadata.annotations } }),
            spec: { ...lv.spec, ...patch.spec },
          },
          "update",
        ),
      );
    },
    setFinalizers(lv, finalizers) {
      const next = write({ ...mustGet(lv.metadata.name), metadata: Object.assign(new V1ObjectMeta(), mustGet(lv.metadata.name).metadata, { finalizers }) }, "update");
      finalize(next);
      return Promise.resolve(next);
    },
    setStatus(lv, status) {
      return Promise.resolve(write({ ...mustGet(lv.metadata.name), status }, "update"));
    },
    delete(name) {
      calls.push(`delete ${name}`);
      const lv = store.get(name);
      if (lv === undefined) {
        return Promise.resolve(false);
      }
      if (lv.metadata.deletionTimestamp === undefined) {
        finalize(write({ ...lv, metadata: Object.assign(new V1ObjectMeta(), lv.metadata, { deletionTimestamp: new Date() }) }, "update"));
      }
      return Promise.resolve(true);
    },
    informer: () => informer,
  };

  // The node, as topolvm-node's reconciler: finalizer, create, resize, remove.
  const reconcile = async (seen: LogicalVolume): Promise<void> => {
    const lv = store.get(seen.metadata.name);
    if (lv === undefined) {
      return;
    }
    if (lv.metadata.deletionTimestamp !== undefined) {
      if (node.remove && (lv.metadata.finalizers ?? []).includes(logicalVolumeFinalizer)) {
        await client.setFinalizers(lv, []);
      }
      return;
    }
    if (!(lv.metadata.finalizers ?? []).includes(logicalVolumeFinalizer)) {
      await client.setFinalizers(lv, [logicalVolumeFinalizer]);
      return;
    }
    const status: LogicalVolumeStatus = lv.status ?? {};
    if ((status.volumeID ?? "") === "" && (status.code ?? 0) === 0) {
      if (node.create === "ok") {
        await client.setStatus(lv, { volumeID: lv.metadata.uid ?? "", code: 0, message: "", currentSize: lv.spec.size });
      } else if (node.create !== "never") {
        await client.setStatus(lv, { code: node.create.code, message: node.create.message });
      }
      return;
    }
    if (status.volumeID !== undefined && BigInt(lv.spec.size) > BigInt(status.currentSize ?? "0")) {
      if (node.resize === "ok") {
        await client.setStatus(lv, { ...status, currentSize: lv.spec.size, code: 0, message: "" });
      } else if (node.resize !== "never" && status.code !== node.resize.code) {
        await client.setStatus(lv, { ...status, code: node.resize.code, message: node.resize.message });
      }
    }
  };
  informer.on("add", (lv) => void reconcile(lv));
  informer.on("update", (lv) => void reconcile(lv));

  return {
    store,
    informer,
    client,
    calls,
    node,
    /** Puts a resource into the API server and the cache, as found after a restart. */
    seed(spec: LogicalVolumeSpec, status?: LogicalVolumeStatus): LogicalVolume {
      uids += 1;
      const lv: LogicalVolume = {
        metadata: Object.assign(new V1ObjectMeta(), { name: spec.name, uid: `uid-${uids}`, finalizers: [logicalVolumeFinalizer] }),
        spec,
        ...(status === undefined ? {} : { status }),
      };
      store.set(spec.name, lv);
      informer.emit("add", lv);
      return lv;
    },
  };
}

function nodeLister(nodes: Record<string, Record<string, bigint>>): NodeLister & { nodes: CapacityNode[] } {
  const list: CapacityNode[] = Object.entries(nodes).map(([name, classes]) => ({
    metadata: {
      name,
      labels: { [topologyKey]: name },
      annotations: Object.fromEntries(Object.entries(classes).map(([dc, bytes]) => [capacityAnnotationPrefix + dc, bytes.toString()])),
    },
  }));
  return { nodes: list, get: (name) => list.find((n) => n.metadata?.name === name), list: () => list };
}

function setup(options: { behaviour?: Partial<NodeBehaviour>; nodes?: Record<string, Record<string, bigint>>; synced?: boolean } = {}) {
  const cluster = fakeCluster(options.behaviour);
  const nodes = nodeLister(options.nodes ?? { a: { "00default": 10n * GiB, ssd: 5n * GiB }, b: { "00default": 20n * GiB } });
  const index = createLogicalVolumeIndex(cluster.client, cluster.informer);
  const service = createControllerService({
    client: cluster.client,
    index,
    nodes,
    synced: () => options.synced ?? true,
    minimumAllocation: defaultMinimumAllocation,
    logger,
    now: () => new Date("2026-01-02T03:04:05Z"),
  });
  return { cluster, nodes, service };
}

function context(method: keyof typeof csi.Controller.method, timeoutMs = 2000): HandlerContext {
  return createHandlerContext({
    service: csi.Controller,
    method: csi.Controller.method[method],
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/csi.v1.Controller/${method}`,
    timeoutMs,
  });
}

const mountCapability = { accessType: { case: "mount" as const, value: { fsType: "xfs" } }, accessMode: { mode: Mode.SINGLE_NODE_WRITER } };
const blockCapability = { accessType: { case: "block" as const, value: {} }, accessMode: { mode: Mode.SINGLE_NODE_WRITER } };
const at = (...nodes: string[]) => ({ preferred: nodes.map((n) => ({ segments: { [topologyKey]: n } })) });

type CreateVolumeInit = Exclude<MessageInitShape<typeof csi.CreateVolumeRequestSchema>, csi.CreateVolumeRequest>;

function createRequest(init: CreateVolumeInit = {}): csi.CreateVolumeRequest {
  const defaults: CreateVolumeInit = {
    name: "pvc-0001",
    capacityRange: { requiredBytes: GiB },
    volumeCapabilities: [mountCapability],
    accessibilityRequirements: at("a"),
  };
  return create(csi.CreateVolumeRequestSchema, {
    ...defaults,
    ...init,
  });
}

/** The code and message a call fails with, thrown at once or as a rejection. */
async function codeOf(call: () => unknown): Promise<{ code: Code; message: string }> {
  try {
    await call();
  } catch (error) {
    if (error instanceof ConnectError) {
      return { code: error.code, message: error.rawMessage };
    }
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe("CreateVolume", () => {
  it("creates a LogicalVolume on the preferred node and answers once the node created the LV", async () => {
    const { cluster, service } = setup();
    const response = await service.createVolume(createRequest({ name: "PVC-0001" }), context("createVolume"));
    expect(cluster.calls).toEqual([`create pvc-0001 a ${GiB}`]);
    expect(cluster.store.get("pvc-0001")?.spec).toEqual({ name: "pvc-0001", nodeName: "a", size: GiB.toString(), deviceClass: "", lvcreateOptionClass: "" });
    expect(response).toEqual({
      volume: { volumeId: "uid-1", capacityBytes: GiB, accessibleTopology: [{ segments: { [topologyKey]: "a" } }] },
    });
  });

  it("without topology chooses the node with the most free bytes of the class", async () => {
    const { cluster, service } = setup();
    await service.createVolume(createRequest({ accessibilityRequirements: undefined }), context("createVolume"));
    expect(cluster.store.get("pvc-0001")?.spec.nodeName).toBe("b");
  });

  it("is idempotent: a retry after a controller restart finds the resource and creates no second one", async () => {
    const { cluster, service } = setup();
    cluster.seed({ name: "pvc-0001", nodeName: "a", size: GiB.toString(), deviceClass: "", lvcreateOptionClass: "" }, { volumeID: "uid-1", code: 0, currentSize: GiB.toString() });
    const response = await service.createVolume(createRequest(), context("createVolume"));
    expect(cluster.calls).toEqual([]);
    expect(response.volume?.volumeId).toBe("uid-1");
  });

  it("finds a resource created by a crashed call that the cache has not seen, through the 409", async () => {
    const { cluster, service } = setup();
    cluster.store.set("pvc-0001", {
      metadata: Object.assign(new V1ObjectMeta(), { name: "pvc-0001", uid: "uid-old", finalizers: [logicalVolumeFinalizer] }),
      spec: { name: "pvc-0001", nodeName: "a", size: GiB.toString(), deviceClass: "", lvcreateOptionClass: "" },
      status: { volumeID: "uid-old", code: 0, currentSize: GiB.toString() },
    });
    const response = await service.createVolume(createRequest(), context("createVolume"));
    expect(response.volume?.volumeId).toBe("uid-old");
    expect(cluster.store.size).toBe(1);
  });

  it("serialises concurrent calls of one name: one resource, the same answer", async () => {
    const { cluster, service } = setup();
    const answers = await Promise.all([1, 2, 3].map(async () => service.createVolume(createRequest(), context("createVolume"))));
    expect(cluster.calls).toEqual([`create pvc-0001 a ${GiB}`]);
    expect(new Set(answers.map((answer) => answer.volume?.volumeId))).toEqual(new Set(["uid-1"]));
  });

  it("answers AlreadyExists for the same name with a larger size", async () => {
    const { service } = setup();
    await service.createVolume(createRequest(), context("createVolume"));
    const failure = await codeOf(() => service.createVolume(createRequest({ capacityRange: { requiredBytes: 2n * GiB } }), context("createVolume")));
    expect(failure.code).toBe(Code.AlreadyExists);
    expect(failure.message).toContain(`exists with ${GiB} bytes, this request asks for at least ${2n * GiB}`);
  });

  it("answers ResourceExhausted without creating anything when the node is short", async () => {
    const { cluster, service } = setup();
    const failure = await codeOf(() =>
      service.createVolume(createRequest({ capacityRange: { requiredBytes: 6n * GiB }, parameters: { [deviceClassParameter]: "ssd" } }), context("createVolume")),
    );
    expect(failure).toEqual({ code: Code.ResourceExhausted, message: `node a: device-class "ssd" has ${5n * GiB} bytes free, ${6n * GiB} wanted` });
    expect(cluster.calls).toEqual([]);
  });

  it("answers ResourceExhausted naming a device-class the node does not have", async () => {
    const { service } = setup();
    const failure = await codeOf(() => service.createVolume(createRequest({ parameters: { [deviceClassParameter]: "nvme" } }), context("createVolume")));
    expect(failure.code).toBe(Code.ResourceExhausted);
    expect(failure.message).toContain('device-class "nvme"');
  });

  it("returns the node's failure code and deletes the resource", async () => {
    const { cluster, service } = setup({ behaviour: { create: { code: Code.ResourceExhausted, message: "lvcreate: insufficient free space" } } });
    const failure = await codeOf(() => service.createVolume(createRequest(), context("createVolume")));
    expect(failure).toEqual({ code: Code.ResourceExhausted, message: "node a failed LogicalVolume pvc-0001: lvcreate: insufficient free space" });
    expect(cluster.calls).toContain("delete pvc-0001");
    await tick();
    await tick();
    expect(cluster.store.has("pvc-0001")).toBe(false);
  });

  it("stops waiting at the caller's deadline, keeps the resource, and a retry completes it", async () => {
    const { cluster, service } = setup({ behaviour: { create: "never" } });
    const failure = await codeOf(() => service.createVolume(createRequest(), context("createVolume", 50)));
    expect(failure.code).toBe(Code.DeadlineExceeded);
    expect(failure.message).toContain("waiting for node a to create LogicalVolume pvc-0001");
    expect(cluster.store.has("pvc-0001")).toBe(true);
    cluster.node.create = "ok";
    const retry = service.createVolume(createRequest(), context("createVolume"));
    // The node comes back and reconciles the resource it missed.
    const lv = cluster.store.get("pvc-0001");
    if (lv !== undefined) {
      cluster.informer.emit("update", lv);
    }
    expect((await retry).volume?.volumeId).toBe("uid-1");
    expect(cluster.calls.filter((call) => call.startsWith("create"))).toHaveLength(1);
  });

  it("answers Aborted while a resource of the name is being deleted", async () => {
    const { cluster, service } = setup({ behaviour: { remove: false } });
    await service.createVolume(createRequest(), context("createVolume"));
    await cluster.client.delete("pvc-0001");
    await tick();
    expect((await codeOf(() => service.createVolume(createRequest(), context("createVolume")))).code).toBe(Code.Aborted);
  });

  it("answers InvalidArgument before anything else for a bad request", async () => {
    const { cluster, service } = setup({ synced: false });
    const failure = await codeOf(() => service.createVolume(createRequest({ volumeCapabilities: [] }), context("createVolume")));
    expect(failure).toEqual({ code: Code.InvalidArgument, message: "volume_capabilities: required, got none" });
    expect(cluster.calls).toEqual([]);
  });

  it("answers Unavailable until the caches have synced", async () => {
    const { service } = setup({ synced: false });
    expect((await codeOf(() => service.createVolume(createRequest(), context("createVolume")))).code).toBe(Code.Unavailable);
  });
});

describe("DeleteVolume", () => {
  it("deletes the resource and waits until the node removed its finalizer", async () => {
    const { cluster, service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    await service.deleteVolume(create(csi.DeleteVolumeRequestSchema, { volumeId: volume?.volumeId ?? "" }), context("deleteVolume"));
    expect(cluster.store.has("pvc-0001")).toBe(false);
  });

  it("succeeds for a volume id nothing has", async () => {
    const { cluster, service } = setup();
    await service.deleteVolume(create(csi.DeleteVolumeRequestSchema, { volumeId: "gone" }), context("deleteVolume"));
    expect(cluster.calls).toEqual([]);
  });

  it("finds a resource the cache does not index yet by listing", async () => {
    const { cluster, service } = setup();
    cluster.store.set("pvc-x", {
      metadata: Object.assign(new V1ObjectMeta(), { name: "pvc-x", uid: "uid-x", finalizers: [] }),
      spec: { name: "pvc-x", nodeName: "a", size: "4096" },
      status: { volumeID: "uid-x", code: 0 },
    });
    await service.deleteVolume(create(csi.DeleteVolumeRequestSchema, { volumeId: "uid-x" }), context("deleteVolume"));
    expect(cluster.calls).toEqual(["delete pvc-x"]);
    expect(cluster.store.has("pvc-x")).toBe(false);
  });

  it("answers DeadlineExceeded, naming the node, while the node keeps its finalizer", async () => {
    const { service } = setup({ behaviour: { remove: false } });
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const failure = await codeOf(() => service.deleteVolume(create(csi.DeleteVolumeRequestSchema, { volumeId: volume?.volumeId ?? "" }), context("deleteVolume", 50)));
    expect(failure.code).toBe(Code.DeadlineExceeded);
    expect(failure.message).toContain("waiting for node a to remove the LV of LogicalVolume pvc-0001");
  });

  it("rejects an empty volume id", async () => {
    const { service } = setup();
    expect(await codeOf(() => service.deleteVolume(create(csi.DeleteVolumeRequestSchema, {}), context("deleteVolume")))).toEqual({
      code: Code.InvalidArgument,
      message: "volume_id: required, got an empty id",
    });
  });
});

describe("ControllerExpandVolume", () => {
  const expand = (volumeId: string, requiredBytes: bigint, capability: MessageInitShape<typeof csi.VolumeCapabilitySchema> = mountCapability) =>
    create(csi.ControllerExpandVolumeRequestSchema, { volumeId, capacityRange: { requiredBytes }, volumeCapability: capability });

  it("raises spec.size with the resize annotation and answers once the node grew the LV", async () => {
    const { cluster, service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const response = await service.controllerExpandVolume(expand(volume?.volumeId ?? "", 2n * GiB), context("controllerExpandVolume"));
    expect(response).toEqual({ capacityBytes: 2n * GiB, nodeExpansionRequired: true });
    const lv = cluster.store.get("pvc-0001");
    expect(lv?.spec.size).toBe((2n * GiB).toString());
    expect(lv?.metadata.annotations?.[resizeRequestedAtAnnotation]).toBe("2026-01-02T03:04:05.000Z");
  });

  it("needs no node expansion for a block volume", async () => {
    const { service } = setup();
    const { volume } = await service.createVolume(createRequest({ volumeCapabilities: [blockCapability] }), context("createVolume"));
    const response = await service.controllerExpandVolume(expand(volume?.volumeId ?? "", 2n * GiB, blockCapability), context("controllerExpandVolume"));
    expect(response.nodeExpansionRequired).toBe(false);
  });

  it("answers the current size for a request not above it, without writing", async () => {
    const { cluster, service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const writes = cluster.calls.length;
    expect(await service.controllerExpandVolume(expand(volume?.volumeId ?? "", GiB / 2n), context("controllerExpandVolume"))).toEqual({
      capacityBytes: GiB,
      nodeExpansionRequired: true,
    });
    expect(cluster.calls).toHaveLength(writes);
  });

  it("answers ResourceExhausted naming node, class, free and wanted bytes", async () => {
    const { service } = setup();
    const { volume } = await service.createVolume(createRequest({ parameters: { [deviceClassParameter]: "ssd" } }), context("createVolume"));
    const failure = await codeOf(() => service.controllerExpandVolume(expand(volume?.volumeId ?? "", 7n * GiB), context("controllerExpandVolume")));
    expect(failure).toEqual({
      code: Code.ResourceExhausted,
      message: `node a: device-class "ssd" has ${5n * GiB} bytes free, ${6n * GiB} wanted to grow volume uid-1 from ${GiB} to ${7n * GiB} bytes`,
    });
  });

  it("answers NotFound for an unknown volume", async () => {
    const { service } = setup();
    expect((await codeOf(() => service.controllerExpandVolume(expand("nope", GiB), context("controllerExpandVolume")))).code).toBe(Code.NotFound);
  });

  it("returns the node's failure of the resize", async () => {
    const { service } = setup({ behaviour: { resize: { code: Code.Internal, message: "lvextend failed" } } });
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    expect(await codeOf(() => service.controllerExpandVolume(expand(volume?.volumeId ?? "", 2n * GiB), context("controllerExpandVolume")))).toEqual({
      code: Code.Internal,
      message: "node a failed LogicalVolume pvc-0001: lvextend failed",
    });
  });
});

describe("ValidateVolumeCapabilities", () => {
  const validate = (volumeId: string, init: MessageInitShape<typeof csi.ValidateVolumeCapabilitiesRequestSchema> = {}) =>
    create(csi.ValidateVolumeCapabilitiesRequestSchema, { volumeId, volumeCapabilities: [mountCapability], ...init });

  it("confirms supported capabilities of an existing volume", async () => {
    const { service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const response = await service.validateVolumeCapabilities(validate(volume?.volumeId ?? ""), context("validateVolumeCapabilities"));
    expect(response.confirmed?.volumeCapabilities).toHaveLength(1);
    expect(response.message).toBe("");
  });

  it("says why a capability is not supported", async () => {
    const { service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const response = await service.validateVolumeCapabilities(
      validate(volume?.volumeId ?? "", { volumeCapabilities: [{ ...mountCapability, accessMode: { mode: Mode.MULTI_NODE_MULTI_WRITER } }] }),
      context("validateVolumeCapabilities"),
    );
    expect(response.confirmed).toBeUndefined();
    expect(response.message).toContain("MULTI_NODE_MULTI_WRITER is not supported");
  });

  it("says so when the parameters name another device-class", async () => {
    const { service } = setup();
    const { volume } = await service.createVolume(createRequest(), context("createVolume"));
    const response = await service.validateVolumeCapabilities(validate(volume?.volumeId ?? "", { parameters: { [deviceClassParameter]: "ssd" } }), context("validateVolumeCapabilities"));
    expect(response.message).toBe('volume uid-1 is in the default device-class, the parameters ask for device-class "ssd"');
  });

  it("answers NotFound for an unknown volume", async () => {
    const { service } = setup();
    expect((await codeOf(() => service.validateVolumeCapabilities(validate("nope"), context("validateVolumeCapabilities")))).code).toBe(Code.NotFound);
  });
});

describe("GetCapacity", () => {
  it("sums the nodes without topology and reads one node with it", async () => {
    const { service } = setup();
    expect(await service.getCapacity(create(csi.GetCapacityRequestSchema, {}), context("getCapacity"))).toEqual({
      availableCapacity: 30n * GiB,
      maximumVolumeSize: 20n * GiB,
    });
    const ssdOnA = create(csi.GetCapacityRequestSchema, { parameters: { [deviceClassParameter]: "ssd" }, accessibleTopology: { segments: { [topologyKey]: "a" } } });
    expect(await service.getCapacity(ssdOnA, context("getCapacity"))).toEqual({ availableCapacity: 5n * GiB, maximumVolumeSize: 5n * GiB });
  });

  it("answers 0 for capabilities the driver does not support", async () => {
    const { service } = setup();
    const request = create(csi.GetCapacityRequestSchema, { volumeCapabilities: [{ ...blockCapability, accessMode: { mode: Mode.MULTI_NODE_READER_ONLY } }] });
    expect((await service.getCapacity(request, context("getCapacity"))).availableCapacity).toBe(0n);
  });

  it("rejects an unknown parameter of the driver", async () => {
    const { service } = setup();
    const request = create(csi.GetCapacityRequestSchema, { parameters: { "topolvm.cybozu.com/deviceclass": "ssd" } });
    expect((await codeOf(() => service.getCapacity(request, context("getCapacity")))).code).toBe(Code.InvalidArgument);
  });
});

describe("CreateSnapshot, DeleteSnapshot and volumes from a source", () => {
  const thin = { [deviceClassParameter]: "thin" };
  const nodes = { a: { thin: 50n * GiB }, b: { thin: 50n * GiB } };
  const seedSource = (cluster: ReturnType<typeof setup>["cluster"]) =>
    cluster.seed({ name: "pvc-src", nodeName: "b", size: (2n * GiB).toString(), deviceClass: "thin", lvcreateOptionClass: "" }, { volumeID: "uid-1", code: 0, currentSize: (2n * GiB).toString() });
  const snapshotRequest = (name = "snapshot-1", sourceVolumeId = "uid-1") => create(csi.CreateSnapshotRequestSchema, { name, sourceVolumeId });

  it("creates a read-only LogicalVolume of the source's current size on its node, ready once the node made the LV", async () => {
    const { cluster, service } = setup({ nodes });
    seedSource(cluster);
    const { snapshot } = await service.createSnapshot(snapshotRequest("Snapshot-1"), context("createSnapshot"));
    expect(cluster.store.get("snapshot-1")?.spec).toEqual({ name: "snapshot-1", nodeName: "b", size: (2n * GiB).toString(), deviceClass: "thin", source: "pvc-src", accessType: "ro" });
    expect(snapshot).toMatchObject({ snapshotId: "uid-2", sourceVolumeId: "uid-1", sizeBytes: 2n * GiB, readyToUse: true });
    expect(snapshot?.creationTime?.seconds).toBe(BigInt(Date.parse("2026-01-02T03:04:05Z") / 1000));
  });

  it("is idempotent by name, and answers AlreadyExists for the name with another source", async () => {
    const { cluster, service } = setup({ nodes });
    seedSource(cluster);
    cluster.seed({ name: "pvc-other", nodeName: "a", size: GiB.toString(), deviceClass: "thin" }, { volumeID: "uid-other", code: 0, currentSize: GiB.toString() });
    const first = await service.createSnapshot(snapshotRequest(), context("createSnapshot"));
    const again = await service.createSnapshot(snapshotRequest(), context("createSnapshot"));
    expect(again.snapshot?.snapshotId).toBe(first.snapshot?.snapshotId);
    expect(cluster.calls.filter((call) => call.startsWith("create"))).toHaveLength(1);
    const failure = await codeOf(() => service.createSnapshot(snapshotRequest("snapshot-1", "uid-other"), context("createSnapshot")));
    expect(failure.code).toBe(Code.AlreadyExists);
    expect(failure.message).toContain("exists of LogicalVolume pvc-src");
  });

  it("answers NotFound for an unknown source volume, InvalidArgument for a missing one", async () => {
    const { cluster, service } = setup({ nodes });
    expect(await codeOf(() => service.createSnapshot(snapshotRequest("snapshot-1", "uid-404"), context("createSnapshot")))).toEqual({
      code: Code.NotFound,
      message: 'source_volume_id: no volume has the id "uid-404"',
    });
    expect((await codeOf(() => service.createSnapshot(snapshotRequest("snapshot-1", ""), context("createSnapshot")))).code).toBe(Code.InvalidArgument);
    expect(cluster.calls).toEqual([]);
  });

  it("answers Unimplemented saying a thin device-class is needed when the node refuses a thick snapshot, and deletes the resource", async () => {
    const { cluster, service } = setup({ nodes, behaviour: { create: { code: Code.Unimplemented, message: 'device-class "thick" is thick: thick snapshots are not implemented yet' } } });
    seedSource(cluster);
    const failure = await codeOf(() => service.createSnapshot(snapshotRequest(), context("createSnapshot")));
    expect(failure.code).toBe(Code.Unimplemented);
    expect(failure.message).toBe(
      'snapshots, restores and clones need a thin device-class (a thick one cannot make them): node b failed LogicalVolume snapshot-1: device-class "thick" is thick: thick snapshots are not implemented yet',
    );
    expect(cluster.calls).toContain("delete snapshot-1");
  });

  it("DeleteSnapshot removes the snapshot only; a volume id given to it, or a snapshot id given to DeleteVolume, is left alone", async () => {
    const { cluster, service } = setup({ nodes });
    seedSource(cluster);
    const { snapshot } = await service.createSnapshot(snapshotRequest(), context("createSnapshot"));
    await service.deleteSnapshot(create(csi.DeleteSnapshotRequestSchema, { snapshotId: "uid-1" }), context("deleteSnapshot"));
    await service.deleteVolume(create(csi.DeleteVolumeRequestSchema, { volumeId: snapshot?.snapshotId ?? "" }), context("deleteVolume"));
    expect(cluster.calls.filter((call) => call.startsWith("delete"))).toEqual([]);
    await service.deleteSnapshot(create(csi.DeleteSnapshotRequestSchema, { snapshotId: snapshot?.snapshotId ?? "" }), context("deleteSnapshot"));
    expect(cluster.store.has("snapshot-1")).toBe(false);
    expect(cluster.store.has("pvc-src")).toBe(true);
    await service.deleteSnapshot(create(csi.DeleteSnapshotRequestSchema, { snapshotId: "uid-404" }), context("deleteSnapshot"));
    expect(await codeOf(() => service.deleteSnapshot(create(csi.DeleteSnapshotRequestSchema, {}), context("deleteSnapshot")))).toEqual({
      code: Code.InvalidArgument,
      message: "snapshot_id: required, got an empty id",
    });
  });

  it("restores a snapshot on its node, grown to the requested size, and echoes the content source", async () => {
    const { cluster, service } = setup({ nodes });
    seedSource(cluster);
    const { snapshot } = await service.createSnapshot(snapshotRequest(), context("createSnapshot"));
    const contentSource = { type: { case: "snapshot" as const, value: { snapshotId: snapshot?.snapshotId ?? "" } } };
    const request = createRequest({ name: "pvc-restore", parameters: thin, capacityRange: { requiredBytes: 3n * GiB }, accessibilityRequirements: at("a", "b"), volumeContentSource: contentSource });
    const { volume } = await service.createVolume(request, context("createVolume"));
    expect(cluster.store.get("pvc-restore")?.spec).toMatchObject({ nodeName: "b", size: (3n * GiB).toString(), source: "snapshot-1", accessType: "rw" });
    expect(volume).toMatchObject({ capacityBytes: 3n * GiB, accessibleTopology: [{ segments: { [topologyKey]: "b" } }], contentSource: { type: { case: "snapshot" } } });
    const retry = await service.createVolume(request, context("createVolume"));
    expect(retry.volume?.volumeId).toBe(volume?.volumeId);
  });

  it("clones a volume, and refuses a clone smaller than its source (OutOfRange) or in another class (InvalidArgument)", async () => {
    const { cluster, service } = setup({ nodes: { ...nodes, b: { thin: 50n * GiB, ssd: 50n * GiB } } });
    seedSource(cluster);
    const contentSource = { type: { case: "volume" as const, value: { volumeId: "uid-1" } } };
    const clone = await service.createVolume(createRequest({ name: "pvc-clone", parameters: thin, capacityRange: undefined, accessibilityRequirements: undefined, volumeContentSource: contentSource }), context("createVolume"));
    expect(clone.volume?.capacityBytes).toBe(2n * GiB);
    expect(cluster.store.get("pvc-clone")?.spec).toMatchObject({ nodeName: "b", source: "pvc-src", accessType: "rw" });
    const small = await codeOf(() => service.createVolume(createRequest({ name: "pvc-small", parameters: thin, capacityRange: { requiredBytes: GiB }, accessibilityRequirements: undefined, volumeContentSource: contentSource }), context("createVolume")));
    expect(small.code).toBe(Code.OutOfRange);
    expect(small.message).toContain(`capacity_range.required_bytes: ${GiB} is below the ${2n * GiB} bytes of the source volume uid-1`);
    const otherClass = await codeOf(() =>
      service.createVolume(createRequest({ name: "pvc-ssd", parameters: { [deviceClassParameter]: "ssd" }, capacityRange: { requiredBytes: 2n * GiB }, accessibilityRequirements: undefined, volumeContentSource: contentSource }), context("createVolume")),
    );
    expect(otherClass.code).toBe(Code.InvalidArgument);
    expect(cluster.store.has("pvc-small") || cluster.store.has("pvc-ssd")).toBe(false);
  });

  it("answers NotFound for a restore from a snapshot that does not exist", async () => {
    const { service } = setup({ nodes });
    const failure = await codeOf(() =>
      service.createVolume(createRequest({ parameters: thin, volumeContentSource: { type: { case: "snapshot", value: { snapshotId: "uid-404" } } } }), context("createVolume")),
    );
    expect(failure).toEqual({ code: Code.NotFound, message: 'volume_content_source.snapshot.snapshot_id: no snapshot has the id "uid-404"' });
  });
});

describe("ControllerGetCapabilities and the rest", () => {
  it("advertises create/delete, capacity, expansion, snapshots and clones", async () => {
    const { service } = setup();
    const { capabilities } = await service.controllerGetCapabilities(create(csi.ControllerGetCapabilitiesRequestSchema, {}), context("controllerGetCapabilities"));
    const Type = csi.ControllerServiceCapability_RPC_Type;
    expect(capabilities?.map((capability) => capability.type?.value?.type)).toEqual([
      Type.CREATE_DELETE_VOLUME,
      Type.GET_CAPACITY,
      Type.EXPAND_VOLUME,
      Type.CREATE_DELETE_SNAPSHOT,
      Type.CLONE_VOLUME,
    ]);
  });

  it("answers Unimplemented for listing snapshots, publishing and listing volumes", async () => {
    const { service } = setup();
    expect((await codeOf(() => service.listSnapshots(create(csi.ListSnapshotsRequestSchema, {}), context("listSnapshots")))).code).toBe(Code.Unimplemented);
    expect((await codeOf(() => service.listVolumes(create(csi.ListVolumesRequestSchema, {}), context("listVolumes")))).code).toBe(Code.Unimplemented);
  });
});
