import { V1ObjectMeta } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { fakeInformer } from "../../test/fake-informer.js";
import type { LogicalVolume, LogicalVolumeStatus } from "./logical-volume.js";
import type { LogicalVolumeClient } from "./logical-volume-client.js";
import { createLogicalVolumeIndex } from "./logical-volume-index.js";

function lv(name: string, status?: LogicalVolumeStatus): LogicalVolume {
  return { metadata: Object.assign(new V1ObjectMeta(), { name }), spec: { name, nodeName: "a", size: "4096" }, ...(status === undefined ? {} : { status }) };
}

/** Reads answer from `api`; writes are not used by the index. */
function readOnlyClient(api: Map<string, LogicalVolume>, counts: { gets: number; lists: number }): LogicalVolumeClient {
  const unused = (): Promise<never> => Promise.reject(new Error("not used"));
  return {
    get: (name) => {
      counts.gets += 1;
      return Promise.resolve(api.get(name));
    },
    list: () => {
      counts.lists += 1;
      return Promise.resolve([...api.values()]);
    },
    create: unused,
    patch: unused,
    setFinalizers: unused,
    setStatus: unused,
    delete: unused,
    informer: () => fakeInformer<LogicalVolume>(),
  };
}

function setup() {
  const api = new Map<string, LogicalVolume>();
  const counts = { gets: 0, lists: 0 };
  const informer = fakeInformer<LogicalVolume>();
  const index = createLogicalVolumeIndex(readOnlyClient(api, counts), informer);
  return { api, counts, informer, index };
}

const hasVolumeId = (current: LogicalVolume | undefined): string | undefined => current?.status?.volumeID;

describe("createLogicalVolumeIndex", () => {
  it("finds a resource by status.volumeID from the informer without an API call", async () => {
    const { counts, informer, index } = setup();
    informer.emit("add", lv("pvc-1", { volumeID: "uid-1" }));
    expect((await index.findByVolumeId("uid-1"))?.metadata.name).toBe("pvc-1");
    expect(counts.lists).toBe(0);
  });

  it("follows a volumeID that appears later and forgets deleted resources", async () => {
    const { api, informer, index } = setup();
    informer.emit("add", lv("pvc-1"));
    informer.emit("update", lv("pvc-1", { volumeID: "uid-1" }));
    expect((await index.findByVolumeId("uid-1"))?.metadata.name).toBe("pvc-1");
    informer.emit("delete", lv("pvc-1", { volumeID: "uid-1" }));
    expect(await index.findByVolumeId("uid-1")).toBeUndefined();
    expect(api.size).toBe(0);
  });

  it("falls back to one list when the informer has not seen the volume", async () => {
    const { api, counts, index } = setup();
    api.set("pvc-2", lv("pvc-2", { volumeID: "uid-2" }));
    expect((await index.findByVolumeId("uid-2"))?.metadata.name).toBe("pvc-2");
    expect(counts.lists).toBe(1);
  });

  it("resolves a wait from the API read when the state is already there", async () => {
    const { api, index } = setup();
    api.set("pvc-1", lv("pvc-1", { volumeID: "uid-1" }));
    await expect(index.waitFor("pvc-1", hasVolumeId, new AbortController().signal)).resolves.toBe("uid-1");
  });

  it("resolves a wait on the informer event that brings the state", async () => {
    const { api, informer, index } = setup();
    api.set("pvc-1", lv("pvc-1"));
    const waiting = index.waitFor("pvc-1", hasVolumeId, new AbortController().signal);
    await new Promise((resolve) => setImmediate(resolve));
    informer.emit("update", lv("pvc-1", { volumeID: "uid-1" }));
    await expect(waiting).resolves.toBe("uid-1");
  });

  it("sees a deletion as undefined", async () => {
    const { api, informer, index } = setup();
    api.set("pvc-1", lv("pvc-1"));
    const gone = index.waitFor("pvc-1", (current) => (current === undefined ? "gone" : undefined), new AbortController().signal);
    await new Promise((resolve) => setImmediate(resolve));
    informer.emit("delete", lv("pvc-1"));
    await expect(gone).resolves.toBe("gone");
  });

  it("rejects with the signal's reason when it aborts first, and with what select throws", async () => {
    const { api, index } = setup();
    api.set("pvc-1", lv("pvc-1"));
    const abort = new AbortController();
    const waiting = index.waitFor("pvc-1", hasVolumeId, abort.signal);
    const reason = new Error("deadline");
    abort.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    const refusal = new Error("deleted");
    await expect(
      index.waitFor(
        "pvc-1",
        () => {
          throw refusal;
        },
        new AbortController().signal,
      ),
    ).rejects.toBe(refusal);
  });
});
