import { create } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createFakeLvm } from "../test/fake-lvm.js";
import { parseConfig } from "./config.js";
import { createLvService } from "./lv-service.js";
import { createVgService } from "./vg-service.js";
import { createVolumeStore } from "./volume-store.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const config = parseConfig(`
lvm-command-prefix: [lvm]
device-classes:
  - { name: thick, volume-group: vg, spare-gb: 1 }
  - { name: thin, volume-group: vg, default: true, spare-gb: 1, type: thin, thin-pool: { name: pool, overprovision-ratio: 3 } }
`);

async function setup(watchIntervalMs: number) {
  const fake = createFakeLvm({ vg: { size: 10 * GiB, lvs: { pool: { kind: "t", size: 2 * GiB, dataPercent: "10.00", metadataPercent: "2.50" } } } });
  const logger = pino({ level: "silent" });
  const store = createVolumeStore({ lvm: { commandPrefix: ["lvm"], executor: fake.executor }, volumeGroups: ["vg"], logger });
  await store.refreshAll();
  return { fake, store, lv: createLvService({ config, store, logger }), vg: createVgService({ config, store, watchIntervalMs }) };
}

function context() {
  return createHandlerContext({ service: lvmd.VGService, method: lvmd.VGService.method.watch, protocolName: "grpc", requestMethod: "POST", url: "/proto.VGService/Watch" });
}

describe("Watch", () => {
  it("sends every class at once, in upstream's shape", async () => {
    const { vg } = await setup(60_000);
    const ctx = context();
    const stream = vg.watch(create(lvmd.EmptySchema), ctx)[Symbol.asyncIterator]();
    const first = (await stream.next()).value as lvmd.WatchResponse;
    expect(first).toMatchObject({
      // the default (thin) class: 3 × 2 GiB, no thin volumes yet, spare not taken off
      freeBytes: BigInt(6 * GiB),
      items: [
        { deviceClass: "thick", freeBytes: BigInt(7 * GiB), sizeBytes: BigInt(10 * GiB) },
        {
          deviceClass: "thin",
          freeBytes: BigInt(8 * GiB),
          sizeBytes: BigInt(10 * GiB),
          thinPool: { dataPercent: 10, metadataPercent: 2.5, overprovisionBytes: BigInt(6 * GiB), sizeBytes: BigInt(2 * GiB) },
        },
      ],
    });
    expect(first.items[0]?.thinPool).toBeUndefined();
    ctx.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it("sends again after a mutation, coalescing a burst into the model as it is then", async () => {
    const { lv, vg } = await setup(60_000);
    const ctx = context();
    const stream = vg.watch(create(lvmd.EmptySchema), ctx)[Symbol.asyncIterator]();
    await stream.next();
    await lv.createLV(create(lvmd.CreateLVRequestSchema, { name: "a", deviceClass: "thick", sizeBytes: BigInt(8 * MiB) }));
    await lv.createLV(create(lvmd.CreateLVRequestSchema, { name: "b", deviceClass: "thick", sizeBytes: BigInt(8 * MiB) }));
    const next = (await stream.next()).value as lvmd.WatchResponse;
    expect(next.items[0]?.freeBytes).toBe(BigInt(7 * GiB - 16 * MiB));
    ctx.abort();
  });

  it("sends the unchanged figures again when the interval passes", async () => {
    const { vg } = await setup(20);
    const ctx = context();
    const stream = vg.watch(create(lvmd.EmptySchema), ctx)[Symbol.asyncIterator]();
    const first = (await stream.next()).value as lvmd.WatchResponse;
    const second = (await stream.next()).value as lvmd.WatchResponse;
    expect(second).toEqual(first);
    ctx.abort();
  });

  it("sends nothing when a refresh finds nothing changed", async () => {
    const { vg, store } = await setup(60_000);
    const ctx = context();
    const stream = vg.watch(create(lvmd.EmptySchema), ctx)[Symbol.asyncIterator]();
    await stream.next();
    const pending = stream.next();
    await store.refreshAll();
    ctx.abort();
    expect((await pending).done).toBe(true);
  });
});

describe("GetLVList and GetFreeBytes", () => {
  it("answer from the model without running LVM", async () => {
    const { fake, vg } = await setup(60_000);
    fake.commands.length = 0;
    expect(vg.getFreeBytes(create(lvmd.GetFreeBytesRequestSchema, { deviceClass: "thick" })).freeBytes).toBe(BigInt(7 * GiB));
    expect(vg.getFreeBytes(create(lvmd.GetFreeBytesRequestSchema, {})).freeBytes).toBe(BigInt(5 * GiB));
    expect(vg.getLVList(create(lvmd.GetLVListRequestSchema, { deviceClass: "thick" })).volumes).toEqual([]);
    expect(fake.commands).toEqual([]);
  });
});
