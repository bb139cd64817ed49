import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { V1ObjectMeta } from "@kubernetes/client-node";
import { lvmd as lvmdApi } from "@topolvm/proto";
import { logicalVolumeFinalizer, pendingDeletionAnnotation } from "@topolvm/proto/names";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { LogicalVolume, LogicalVolumeStatus } from "../logical-volume/logical-volume.js";
import { createLogicalVolumeReconciler, nextStep, type LogicalVolumeAccess } from "./logical-volume-reconciler.js";
import type { LvmdClient } from "./lvmd-client.js";
import { createNodeMetrics } from "./metrics.js";
import { kubeApiError } from "../../test/kube-errors.js";

const logger = pino({ level: "silent" });
const signal = new AbortController().signal;
const GiB = 1n << 30n;
const NODE = "node-1";

function logicalVolume(name: string, options: Partial<LogicalVolume["spec"]> & { status?: LogicalVolumeStatus; finalizers?: string[]; annotations?: Record<string, string>; deleting?: boolean } = {}): LogicalVolume {
  const { status, finalizers, annotations, deleting, ...spec } = options;
  return {
    apiVersion: "topolvm.cybozu.com/v1",
    kind: "LogicalVolume",
    metadata: Object.assign(new V1ObjectMeta(), {
      name,
      uid: `uid-${name}`,
      resourceVersion: "1",
      ...(finalizers === undefined ? {} : { finalizers }),
      ...(annotations === undefined ? {} : { annotations }),
      ...(deleting === true ? { deletionTimestamp: new Date("2025-01-01T00:00:00Z") } : {}),
    }),
    spec: { name, nodeName: NODE, size: String(GiB), deviceClass: "ssd", ...spec },
    ...(status === undefined ? {} : { status }),
  };
}

/** A crash of the process at a chosen call: from then on every call of the dead process throws it. */
class Crash extends Error {}

/** Whether the process that the fakes serve has died (a restart clears it). */
interface Process {
  dead: boolean;
}

/** An API server for LogicalVolumes: resourceVersions guard writes, an object whose last finalizer goes is deleted. */
function fakeApi(initial: LogicalVolume[] = [], process: Process = { dead: false }) {
  const store = new Map<string, LogicalVolume>(initial.map((lv) => [lv.metadata.name, structuredClone(lv)]));
  let version = 10;
  const calls: string[] = [];
  let crashAt: string | undefined;
  const copy = (lv: LogicalVolume): LogicalVolume => structuredClone(lv);
  const guarded = (lv: LogicalVolume, call: string): LogicalVolume => {
    calls.push(call);
    if (crashAt === call) {
      crashAt = undefined;
      process.dead = true;
    }
    if (process.dead) {
      throw new Crash(call);
    }
    const stored = store.get(lv.metadata.name);
    if (stored === undefined) {
      throw kubeApiError("PUT", `/apis/topolvm.cybozu.com/v1/logicalvolumes/${lv.metadata.name}`, 404);
    }
    if (stored.metadata.resourceVersion !== lv.metadata.resourceVersion) {
      throw kubeApiError("PUT", `/apis/topolvm.cybozu.com/v1/logicalvolumes/${lv.metadata.name}`, 409);
    }
    return stored;
  };
  const bump = (lv: LogicalVolume): LogicalVolume => {
    version += 1;
    lv.metadata.resourceVersion = String(version);
    return copy(lv);
  };
  const access: LogicalVolumeAccess = {
    get(name) {
      calls.push("get");
      const lv = store.get(name);
      return Promise.resolve(lv === undefined ? undefined : copy(lv));
    },
    setFinalizers(lv, finalizers) {
      const stored = guarded(lv, "setFinalizers");
      stored.metadata.finalizers = [...finalizers];
      if (finalizers.length === 0 && stored.metadata.deletionTimestamp !== undefined) {
        store.delete(lv.metadata.name);
      }
      return Promise.resolve(bump(stored));
    },
    setStatus(lv, status) {
      const stored = guarded(lv, "setStatus");
      stored.status = { ...status };
      return Promise.resolve(bump(stored));
    },
  };
  return {
    access,
    calls,
    stored: (name: string) => store.get(name),
    /** Someone else changes the object (its resourceVersion moves on). */
    touch(name: string) {
      const stored = store.get(name);
      if (stored !== undefined) {
        bump(stored);
      }
    },
    put(lv: LogicalVolume) {
      store.set(lv.metadata.name, structuredClone(lv));
    },
    crashOn(call: string | undefined) {
      crashAt = call;
    },
  };
}

type LvmdMethod = "createLV" | "createLVSnapshot" | "resizeLV" | "removeLV" | "getLVList";

/** lvmd with upstream's answers over an in-memory VG per device-class; failures can be queued per method. */
function fakeLvmd(classes: Record<string, bigint> = { ssd: 10n * GiB }, process: Process = { dead: false }) {
  const volumes = new Map<string, Map<string, bigint>>(Object.keys(classes).map((name) => [name, new Map()]));
  const free = new Map(Object.entries(classes));
  const failures: Partial<Record<LvmdMethod, Error[]>> = {};
  const calls: { method: LvmdMethod; request: unknown }[] = [];
  /** LVs that exist in LVM but that GetLVList does not list yet (lvmd's model lags). */
  const unlisted = new Set<string>();
  const classOf = (deviceClass: string): Map<string, bigint> => {
    const found = volumes.get(deviceClass === "" ? "ssd" : deviceClass);
    if (found === undefined) {
      throw new ConnectError(`device-class not found: ${deviceClass}`, Code.NotFound);
    }
    return found;
  };
  const enter = (method: LvmdMethod, request: unknown): void => {
    if (process.dead) {
      throw new Crash(method);
    }
    calls.push({ method, request });
    const failure = failures[method]?.shift();
    if (failure !== undefined) {
      throw failure;
    }
  };
  const take = (deviceClass: string, bytes: bigint): void => {
    const key = deviceClass === "" ? "ssd" : deviceClass;
    const left = free.get(key) ?? 0n;
    if (left < bytes) {
      throw new ConnectError(`no enough space left on VG: free=${left}, requested=${bytes}`, Code.ResourceExhausted);
    }
    free.set(key, left - bytes);
  };
  const lv = (name: string, sizeBytes: bigint): lvmdApi.LogicalVolume => create(lvmdApi.LogicalVolumeSchema, { name, sizeBytes });
  const client: Pick<LvmdClient, LvmdMethod> = {
    async createLV(request) {
      enter("createLV", request);
      const vg = classOf(request.deviceClass);
      const existing = vg.get(request.name);
      if (existing !== undefined) {
        // Upstream's conflict path: lvmd re-reads LVM, so the LV is listed from now on.
        unlisted.delete(request.name);
        if (existing !== request.sizeBytes) {
          throw new ConnectError(`LV ${request.name} exists with another size`, Code.AlreadyExists);
        }
        return Promise.resolve(lv(request.name, existing));
      }
      take(request.deviceClass, request.sizeBytes);
      vg.set(request.name, request.sizeBytes);
      return Promise.resolve(lv(request.name, request.sizeBytes));
    },
    async createLVSnapshot(request) {
      enter("createLVSnapshot", request);
      const vg = classOf(request.deviceClass);
      if (!vg.has(request.sourceVolume)) {
        throw new ConnectError("source not found", Code.NotFound);
      }
      vg.set(request.name, request.sizeBytes);
      return Promise.resolve(lv(request.name, request.sizeBytes));
    },
    async resizeLV(request) {
      enter("resizeLV", request);
      const vg = classOf(request.deviceClass);
      const current = vg.get(request.name);
      if (current === undefined) {
        throw new ConnectError("LV not found", Code.NotFound);
      }
      if (request.sizeBytes <= current) {
        return Promise.resolve(current);
      }
      take(request.deviceClass, request.sizeBytes - current);
      vg.set(request.name, request.sizeBytes);
      return Promise.resolve(request.sizeBytes);
    },
    async removeLV(request) {
      enter("removeLV", request);
      const vg = classOf(request.deviceClass);
      if (!vg.delete(request.name)) {
        throw new ConnectError("LV not found", Code.NotFound);
      }
      return Promise.resolve();
    },
    async getLVList(deviceClass) {
      enter("getLVList", deviceClass);
      return Promise.resolve([...classOf(deviceClass)].filter(([name]) => !unlisted.has(name)).map(([name, size]) => lv(name, size)));
    },
  };
  return {
    client,
    calls,
    methods: () => calls.map((call) => call.method),
    volumes: (deviceClass = "ssd") => new Map(classOf(deviceClass)),
    fail(method: LvmdMethod, ...errors: Error[]) {
      (failures[method] ??= []).push(...errors);
    },
    /** An LV made behind lvmd's back (or left by a crash). */
    seed(name: string, sizeBytes: bigint, options: { listed?: boolean; deviceClass?: string } = {}) {
      classOf(options.deviceClass ?? "ssd").set(name, sizeBytes);
      if (options.listed === false) {
        unlisted.add(name);
      }
    },
  };
}

function setup(initial: LogicalVolume[], classes?: Record<string, bigint>) {
  const api = fakeApi(initial);
  const lvmd = fakeLvmd(classes);
  const registry = new Registry();
  const metrics = createNodeMetrics(registry, NODE);
  const reconcile = createLogicalVolumeReconciler({ nodeName: NODE, logicalVolumes: api.access, lvmd: lvmd.client, logger, metrics, conflictRetryMs: 1 });
  return { api, lvmd, registry, reconcile: (name: string) => reconcile(name, signal) };
}

describe("nextStep", () => {
  const owned = { finalizers: [logicalVolumeFinalizer] };

  it("leaves a resource of another node alone", () => {
    expect(nextStep(logicalVolume("a", { nodeName: "node-2" }), NODE)).toMatchObject({ kind: "none" });
  });

  it("leaves a resource pending deletion alone, even while it is being deleted", () => {
    const lv = logicalVolume("a", { ...owned, annotations: { [pendingDeletionAnnotation]: "true" }, deleting: true });
    expect(nextStep(lv, NODE)).toEqual({ kind: "none", reason: "pending deletion" });
  });

  it("adds the finalizer first", () => {
    expect(nextStep(logicalVolume("a"), NODE)).toEqual({ kind: "add-finalizer" });
  });

  it("creates when there is no volume ID and no recorded failure", () => {
    expect(nextStep(logicalVolume("a", owned), NODE)).toEqual({ kind: "create", sizeBytes: GiB });
  });

  it("does not create again once a failure is recorded", () => {
    expect(nextStep(logicalVolume("a", { ...owned, status: { code: Code.ResourceExhausted, message: "full" } }), NODE)).toMatchObject({ kind: "none" });
  });

  it("resizes when the current size is missing or below spec.size, and not otherwise", () => {
    expect(nextStep(logicalVolume("a", { ...owned, status: { volumeID: "uid-a", code: 0 } }), NODE)).toEqual({ kind: "resize", sizeBytes: GiB });
    expect(nextStep(logicalVolume("a", { ...owned, size: "2Gi", status: { volumeID: "uid-a", currentSize: String(GiB) } }), NODE)).toEqual({
      kind: "resize",
      sizeBytes: 2n * GiB,
    });
    expect(nextStep(logicalVolume("a", { ...owned, size: "1Gi", status: { volumeID: "uid-a", currentSize: "1Gi" } }), NODE)).toMatchObject({ kind: "none" });
  });

  it("removes a deleting resource that carries our finalizer, and ignores one that does not", () => {
    expect(nextStep(logicalVolume("a", { ...owned, deleting: true }), NODE)).toEqual({ kind: "remove" });
    expect(nextStep(logicalVolume("a", { finalizers: ["other"], deleting: true }), NODE)).toMatchObject({ kind: "none" });
  });

  it("fails a resource whose size does not parse with InvalidArgument, once", () => {
    const step = nextStep(logicalVolume("a", { ...owned, size: "lots" }), NODE);
    expect(step).toMatchObject({ kind: "fail", code: Code.InvalidArgument });
    const message = step.kind === "fail" ? step.message : "";
    expect(message).toContain("spec.size");
    expect(nextStep(logicalVolume("a", { ...owned, size: "lots", status: { code: Code.InvalidArgument, message } }), NODE)).toMatchObject({ kind: "none" });
  });
});

describe("createLogicalVolumeReconciler", () => {
  it("adds the finalizer and creates an LV named by the UID with the class, option class and size", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { lvcreateOptionClass: "raid1" })]);
    await expect(reconcile("pvc-a")).resolves.toBeUndefined();
    const createCall = lvmd.calls.find((call) => call.method === "createLV");
    expect(createCall?.request).toEqual({ name: "uid-pvc-a", deviceClass: "ssd", lvcreateOptionClass: "raid1", sizeBytes: GiB });
    expect(api.stored("pvc-a")?.metadata.finalizers).toEqual([logicalVolumeFinalizer]);
    expect(api.stored("pvc-a")?.status).toEqual({ volumeID: "uid-pvc-a", code: 0, message: "", currentSize: String(GiB) });
    expect(lvmd.volumes()).toEqual(new Map([["uid-pvc-a", GiB]]));
  });

  it("keeps the finalizers others set", async () => {
    const { api, reconcile } = setup([logicalVolume("pvc-a", { finalizers: ["example.com/keep"] })]);
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")?.metadata.finalizers).toEqual(["example.com/keep", logicalVolumeFinalizer]);
  });

  it("adopts an LV of the UID's name that already exists instead of creating a second", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer] })]);
    lvmd.seed("uid-pvc-a", GiB + 4n * 1024n * 1024n);
    await reconcile("pvc-a");
    expect(lvmd.methods()).toEqual(["getLVList"]);
    expect(api.stored("pvc-a")?.status).toEqual({ volumeID: "uid-pvc-a", code: 0, message: "", currentSize: String(GiB + 4n * 1024n * 1024n) });
  });

  it("grows an adopted LV that is smaller than spec.size in the same reconcile", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { size: "2Gi", finalizers: [logicalVolumeFinalizer] })]);
    lvmd.seed("uid-pvc-a", GiB);
    await reconcile("pvc-a");
    expect(lvmd.methods()).toEqual(["getLVList", "resizeLV"]);
    expect(api.stored("pvc-a")?.status?.currentSize).toBe(String(2n * GiB));
    expect(lvmd.volumes().get("uid-pvc-a")).toBe(2n * GiB);
  });

  it("adopts an LV that CreateLV reports as existing although GetLVList did not list it", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer] })]);
    lvmd.seed("uid-pvc-a", 2n * GiB, { listed: false });
    await reconcile("pvc-a");
    // The first list and CreateLV miss it; once lvmd has re-read LVM, the second list finds it.
    expect(lvmd.methods()).toEqual(["getLVList", "createLV", "getLVList"]);
    expect(api.stored("pvc-a")?.status).toMatchObject({ code: 0 });
  });

  it("records lvmd's answer as the gRPC code and message, and does not try again", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { size: "20Gi" })]);
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")?.status).toEqual({ code: Code.ResourceExhausted, message: `no enough space left on VG: free=${10n * GiB}, requested=${20n * GiB}` });
    expect(Code.ResourceExhausted).toBe(8);
    await reconcile("pvc-a");
    expect(lvmd.methods().filter((method) => method === "createLV")).toHaveLength(1);
  });

  it("records NotFound for a device-class lvmd does not serve", async () => {
    const { api, reconcile } = setup([logicalVolume("pvc-a", { deviceClass: "nvme" })]);
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")?.status).toMatchObject({ code: Code.NotFound });
  });

  it.each([
    ["Unavailable", Code.Unavailable],
    ["DeadlineExceeded", Code.DeadlineExceeded],
  ])("retries through the queue when lvmd is %s, recording nothing", async (_name, code) => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a")]);
    lvmd.fail("createLV", new ConnectError("lvmd restarting", code));
    await expect(reconcile("pvc-a")).rejects.toMatchObject({ code });
    expect(api.stored("pvc-a")?.status).toBeUndefined();
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")?.status).toMatchObject({ volumeID: "uid-pvc-a", code: 0 });
  });

  it("retries when even listing fails because lvmd is away", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a")]);
    lvmd.fail("getLVList", new ConnectError("connect ENOENT", Code.Unavailable));
    await expect(reconcile("pvc-a")).rejects.toMatchObject({ code: Code.Unavailable });
    expect(lvmd.methods()).not.toContain("createLV");
    expect(api.stored("pvc-a")?.status).toBeUndefined();
  });

  it("grows the LV when spec.size is raised, recording the size lvmd answers", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a")]);
    await reconcile("pvc-a");
    const lv = api.stored("pvc-a");
    if (lv === undefined) {
      throw new Error("missing");
    }
    api.put({ ...lv, spec: { ...lv.spec, size: "2Gi" } });
    await reconcile("pvc-a");
    expect(lvmd.calls.at(-1)).toEqual({ method: "resizeLV", request: { name: "uid-pvc-a", deviceClass: "ssd", sizeBytes: 2n * GiB } });
    expect(api.stored("pvc-a")?.status).toEqual({ volumeID: "uid-pvc-a", code: 0, message: "", currentSize: String(2n * GiB) });
  });

  it("records a failed resize's code and retries it; the next success clears it", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { size: "4Gi" })]);
    await reconcile("pvc-a");
    const lv = api.stored("pvc-a");
    if (lv === undefined) {
      throw new Error("missing");
    }
    api.put({ ...lv, spec: { ...lv.spec, size: "40Gi" } });
    await expect(reconcile("pvc-a")).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect(api.stored("pvc-a")?.status).toMatchObject({ volumeID: "uid-pvc-a", code: Code.ResourceExhausted, currentSize: String(4n * GiB) });
    const failed = api.stored("pvc-a");
    if (failed === undefined) {
      throw new Error("missing");
    }
    api.put({ ...failed, spec: { ...failed.spec, size: "8Gi" } });
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")?.status).toEqual({ volumeID: "uid-pvc-a", code: 0, message: "", currentSize: String(8n * GiB) });
    expect(lvmd.volumes().get("uid-pvc-a")).toBe(8n * GiB);
  });

  it("removes the LV and then the finalizer of a deleted resource", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a")]);
    await reconcile("pvc-a");
    const lv = api.stored("pvc-a");
    if (lv === undefined) {
      throw new Error("missing");
    }
    api.put({ ...lv, metadata: Object.assign(new V1ObjectMeta(), lv.metadata, { deletionTimestamp: new Date() }) });
    await reconcile("pvc-a");
    expect(lvmd.calls.at(-1)).toEqual({ method: "removeLV", request: { name: "uid-pvc-a", deviceClass: "ssd" } });
    expect(lvmd.volumes().size).toBe(0);
    expect(api.stored("pvc-a")).toBeUndefined();
  });

  it("removes the finalizer when the LV is already gone (NotFound)", async () => {
    const { api, reconcile } = setup([logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer], deleting: true })]);
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")).toBeUndefined();
  });

  it("keeps the finalizer while RemoveLV fails, and retries", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer], deleting: true })]);
    lvmd.seed("uid-pvc-a", GiB);
    lvmd.fail("removeLV", new ConnectError("Logical volume in use", Code.Internal));
    await expect(reconcile("pvc-a")).rejects.toMatchObject({ code: Code.Internal });
    expect(api.stored("pvc-a")?.metadata.finalizers).toEqual([logicalVolumeFinalizer]);
    await reconcile("pvc-a");
    expect(api.stored("pvc-a")).toBeUndefined();
    expect(lvmd.volumes().size).toBe(0);
  });

  it("touches nothing of a resource pending deletion", async () => {
    const { api, lvmd, reconcile } = setup([
      logicalVolume("pvc-a", { annotations: { [pendingDeletionAnnotation]: "true" }, finalizers: [logicalVolumeFinalizer], deleting: true }),
    ]);
    await reconcile("pvc-a");
    expect(lvmd.calls).toEqual([]);
    expect(api.calls).toEqual(["get"]);
  });

  it("does nothing for a resource that is gone or belongs to another node", async () => {
    const { lvmd, reconcile } = setup([logicalVolume("pvc-b", { nodeName: "node-2" })]);
    await expect(reconcile("pvc-gone")).resolves.toBeUndefined();
    await expect(reconcile("pvc-b")).resolves.toBeUndefined();
    expect(lvmd.calls).toEqual([]);
  });

  it("reads again soon after a status write loses to a concurrent change, then adopts its own LV", async () => {
    const { api, lvmd, reconcile } = setup([logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer] })]);
    const realCreate = lvmd.client.createLV.bind(lvmd.client);
    lvmd.client.createLV = async (request) => {
      const created = await realCreate(request);
      api.touch("pvc-a");
      return created;
    };
    await expect(reconcile("pvc-a")).resolves.toEqual({ requeueAfterMs: 1 });
    await reconcile("pvc-a");
    expect(lvmd.methods()).toEqual(["getLVList", "createLV", "getLVList"]);
    expect(api.stored("pvc-a")?.status).toMatchObject({ volumeID: "uid-pvc-a", code: 0 });
  });

  it("creates a snapshot of the source's LV for a resource with a source", async () => {
    const source = logicalVolume("pvc-src", { finalizers: [logicalVolumeFinalizer], status: { volumeID: "uid-pvc-src", code: 0, currentSize: String(GiB) } });
    const { api, lvmd, reconcile } = setup([source, logicalVolume("snap-a", { source: "pvc-src", accessType: "ro" })]);
    lvmd.seed("uid-pvc-src", GiB);
    await reconcile("snap-a");
    expect(lvmd.calls.find((call) => call.method === "createLVSnapshot")?.request).toEqual({
      name: "uid-snap-a",
      deviceClass: "ssd",
      sourceVolume: "uid-pvc-src",
      accessType: "ro",
      sizeBytes: GiB,
    });
    expect(api.stored("snap-a")?.status).toMatchObject({ volumeID: "uid-snap-a", code: 0 });
  });

  it("fails a resource with a source and no valid access type with InvalidArgument", async () => {
    const { api, reconcile } = setup([logicalVolume("snap-a", { source: "pvc-src" })]);
    await reconcile("snap-a");
    expect(api.stored("snap-a")?.status).toMatchObject({ code: Code.InvalidArgument });
  });

  it("counts its lvmd operations by outcome", async () => {
    const { lvmd, registry, reconcile } = setup([logicalVolume("pvc-a"), logicalVolume("pvc-b", { size: "20Gi" }), logicalVolume("pvc-c")]);
    lvmd.seed("uid-pvc-c", GiB);
    await reconcile("pvc-a");
    await reconcile("pvc-b");
    await reconcile("pvc-c");
    const text = await registry.metrics();
    expect(text).toContain('topolvm_node_lv_operations_total{node="node-1",operation="create",code="OK"} 1');
    expect(text).toContain('topolvm_node_lv_operations_total{node="node-1",operation="create",code="ResourceExhausted"} 1');
    expect(text).toContain('topolvm_node_lv_operations_total{node="node-1",operation="adopt",code="OK"} 1');
  });
});

describe("restarts", () => {
  // Every write and lvmd call the reconciler makes for create → resize → delete, in order; a crash is injected at each.
  const apiCalls = ["setFinalizers", "setStatus"];
  const lvmdCalls: LvmdMethod[] = ["getLVList", "createLV"];

  it.each([...apiCalls.map((call) => ["api", call] as const), ...lvmdCalls.map((call) => ["lvmd", call] as const)])(
    "a node killed at %s %s and restarted ends with exactly one LV and a complete status",
    async (side, call) => {
      const process: Process = { dead: false };
      const api = fakeApi([logicalVolume("pvc-a")], process);
      const lvmd = fakeLvmd(undefined, process);
      if (side === "api") {
        api.crashOn(call);
      } else {
        // A crash after lvmd did the work: CreateLV succeeded, the answer was never seen.
        const method = call as LvmdMethod;
        const real = lvmd.client[method].bind(lvmd.client) as (request: never) => Promise<unknown>;
        Object.assign(lvmd.client, {
          [method]: async (request: never) => {
            await real(request);
            Object.assign(lvmd.client, { [method]: real });
            process.dead = true;
            throw new Crash(method);
          },
        });
      }
      const first = createLogicalVolumeReconciler({ nodeName: NODE, logicalVolumes: api.access, lvmd: lvmd.client, logger });
      await expect(first("pvc-a", signal)).rejects.toBeInstanceOf(Crash);
      // The restarted process: a new reconciler over the same API server and lvmd.
      process.dead = false;
      const second = createLogicalVolumeReconciler({ nodeName: NODE, logicalVolumes: api.access, lvmd: lvmd.client, logger });
      await second("pvc-a", signal);
      await second("pvc-a", signal);
      expect(lvmd.volumes()).toEqual(new Map([["uid-pvc-a", GiB]]));
      expect(lvmd.methods().filter((method) => method === "createLV").length).toBeLessThanOrEqual(1);
      expect(api.stored("pvc-a")?.status).toEqual({ volumeID: "uid-pvc-a", code: 0, message: "", currentSize: String(GiB) });
      expect(api.stored("pvc-a")?.metadata.finalizers).toEqual([logicalVolumeFinalizer]);
    },
  );

  it("a node killed after RemoveLV and restarted removes the finalizer", async () => {
    const process: Process = { dead: false };
    const lv = logicalVolume("pvc-a", { finalizers: [logicalVolumeFinalizer], deleting: true, status: { volumeID: "uid-pvc-a", code: 0, currentSize: String(GiB) } });
    const api = fakeApi([lv], process);
    const lvmd = fakeLvmd(undefined, process);
    lvmd.seed("uid-pvc-a", GiB);
    api.crashOn("setFinalizers");
    const first = createLogicalVolumeReconciler({ nodeName: NODE, logicalVolumes: api.access, lvmd: lvmd.client, logger });
    await expect(first("pvc-a", signal)).rejects.toBeInstanceOf(Crash);
    expect(lvmd.volumes().size).toBe(0);
    process.dead = false;
    const second = createLogicalVolumeReconciler({ nodeName: NODE, logicalVolumes: api.access, lvmd: lvmd.client, logger });
    await second("pvc-a", signal);
    expect(api.stored("pvc-a")).toBeUndefined();
  });
});
