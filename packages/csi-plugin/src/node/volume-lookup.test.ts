import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import { describe, expect, it } from "vitest";
import type { LvmdClient } from "./lvmd-client.js";
import { createVolumeLookup } from "./volume-lookup.js";

const lv = (name: string): lvmd.LogicalVolume => create(lvmd.LogicalVolumeSchema, { name, devMajor: 253, devMinor: 1, attr: "-wi-a-----" });

/** An lvmd whose device-classes and LVs a test changes; it counts the Watch streams opened and the lists asked for. */
function fakeLvmd(initial: Record<string, string[]>) {
  let classes = initial;
  const calls = { watch: 0, lists: [] as string[] };
  const client: Pick<LvmdClient, "getLVList" | "watch"> = {
    getLVList(deviceClass) {
      calls.lists.push(deviceClass);
      const names = classes[deviceClass];
      if (names === undefined) {
        return Promise.reject(new ConnectError(`device-class ${deviceClass} not found`, Code.NotFound));
      }
      return Promise.resolve(names.map(lv));
    },
    async *watch(signal) {
      calls.watch += 1;
      yield create(lvmd.WatchResponseSchema, { items: Object.keys(classes).map((deviceClass) => ({ deviceClass })) });
      await new Promise((resolve) => {
        signal.addEventListener("abort", resolve);
      });
    },
  };
  return { client, calls, setClasses: (next: Record<string, string[]>) => (classes = next) };
}

const signal = new AbortController().signal;

describe("createVolumeLookup", () => {
  it("finds an LV in whichever device-class lists it, reading the classes once", async () => {
    const lvmdFake = fakeLvmd({ ssd: ["a"], hdd: ["b", "c"] });
    const lookup = createVolumeLookup(lvmdFake.client);
    expect(await lookup.find("c", signal)).toMatchObject({ deviceClass: "hdd", lv: { name: "c" } });
    expect(await lookup.find("a", signal)).toMatchObject({ deviceClass: "ssd", lv: { name: "a" } });
    expect(lvmdFake.calls.watch).toBe(1);
  });

  it("re-reads the device-classes after a miss, so a class added by an lvmd restart is searched", async () => {
    const lvmdFake = fakeLvmd({ ssd: ["a"] });
    const lookup = createVolumeLookup(lvmdFake.client);
    expect(await lookup.find("a", signal)).toBeDefined();
    lvmdFake.setClasses({ ssd: ["a"], nvme: ["n"] });
    expect(await lookup.find("n", signal)).toMatchObject({ deviceClass: "nvme" });
    expect(lvmdFake.calls.watch).toBe(2);
  });

  it("answers undefined for an LV in no class, after one fresh look at the classes", async () => {
    const lvmdFake = fakeLvmd({ ssd: ["a"] });
    const lookup = createVolumeLookup(lvmdFake.client);
    expect(await lookup.find("zzz", signal)).toBeUndefined();
    expect(lvmdFake.calls).toEqual({ watch: 2, lists: ["ssd"] });
  });

  it("passes lvmd's errors on and asks again on the next call", async () => {
    let fail = true;
    const lookup = createVolumeLookup({
      getLVList: () => Promise.resolve([lv("a")]),
      async *watch() {
        await Promise.resolve();
        if (fail) {
          throw new ConnectError("lvmd unreachable", Code.Unavailable);
        }
        yield create(lvmd.WatchResponseSchema, { items: [{ deviceClass: "ssd" }] });
      },
    });
    await expect(lookup.find("a", signal)).rejects.toMatchObject({ code: Code.Unavailable });
    fail = false;
    expect(await lookup.find("a", signal)).toMatchObject({ deviceClass: "ssd" });
  });

  it("ends with the signal's reason when lvmd does not answer in time", async () => {
    const lookup = createVolumeLookup({ getLVList: () => new Promise(() => undefined), watch: fakeLvmd({ ssd: [] }).client.watch });
    const reason = new ConnectError("deadline", Code.DeadlineExceeded);
    const controller = new AbortController();
    setTimeout(() => {
      controller.abort(reason);
    }, 20);
    await expect(lookup.find("a", controller.signal)).rejects.toBe(reason);
  });

  it("gives up on an lvmd that sends no Watch message, and asks again on the next call", async () => {
    let silent = true;
    const lookup = createVolumeLookup(
      {
        getLVList: () => Promise.resolve([lv("a")]),
        async *watch(signal) {
          if (silent) {
            await new Promise((resolve) => {
              signal.addEventListener("abort", resolve);
            });
            return;
          }
          yield create(lvmd.WatchResponseSchema, { items: [{ deviceClass: "ssd" }] });
        },
      },
      50,
    );
    await expect(lookup.find("a", signal)).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "lvmd sent no Watch message within 50 ms, so its device-classes are unknown" });
    silent = false;
    expect(await lookup.find("a", signal)).toMatchObject({ deviceClass: "ssd" });
  });
});
