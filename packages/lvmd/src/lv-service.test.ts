import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createFakeLvm, type FakeLv, type FakeLvm } from "../test/fake-lvm.js";
import { parseConfig } from "./config.js";
import { toConnectError } from "./errors.js";
import { createLvService } from "./lv-service.js";
import { createVgService } from "./vg-service.js";
import { createVolumeStore } from "./volume-store.js";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const config = parseConfig(`
lvm-command-prefix: [lvm]
device-classes:
  - { name: thick, volume-group: vg, default: true, spare-gb: 0, stripe: 2, stripe-size: 64k, lvcreate-options: ["--type=raid1"] }
  - { name: thin, volume-group: vg, spare-gb: 0, type: thin, thin-pool: { name: pool, overprovision-ratio: 2 } }
lvcreate-option-classes:
  - { name: mirrored, options: ["--type", "raid1", "-m", "1"] }
`);

async function setup(): Promise<{ fake: FakeLvm; lv: ReturnType<typeof createLvService>; vg: ReturnType<typeof createVgService>; logs: string[] }> {
  const fake = createFakeLvm({
    vg: {
      size: 10 * GiB,
      lvs: {
        pool: { kind: "t", size: 2 * GiB, dataPercent: "12.50", metadataPercent: "3.00" },
        thin1: { kind: "V", size: GiB, pool: "pool", dataPercent: "1.00" },
      },
    },
  });
  const logs: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => logs.push(line) });
  const store = createVolumeStore({ lvm: { commandPrefix: ["lvm"], executor: fake.executor }, volumeGroups: ["vg"], logger });
  await store.refreshAll();
  fake.commands.length = 0;
  return { fake, lv: createLvService({ config, store, logger }), vg: createVgService({ config, store }), logs };
}

async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return toConnectError(err).code;
  }
  throw new Error("the call succeeded");
}

/** Puts an LV into the fake's VG behind the model's back, as `lvcreate` run by hand would. */
function makeByHand(fake: FakeLvm, name: string, lv: Partial<FakeLv> & { size: number }): void {
  fake.vgs.get("vg")?.lvs.set(name, { kind: "-", pool: "", origin: "", tags: [], dataPercent: "", metadataPercent: "", ...lv });
}

const mutations = (fake: FakeLvm): string[][] => fake.commands.filter((c) => c[0] !== "lvs" && c[0] !== "fullreport");

const createReq = (init: MessageInitShape<typeof lvmd.CreateLVRequestSchema>) => create(lvmd.CreateLVRequestSchema, init);
const snapReq = (init: MessageInitShape<typeof lvmd.CreateLVSnapshotRequestSchema>) => create(lvmd.CreateLVSnapshotRequestSchema, init);

describe("CreateLV", () => {
  it("runs lvcreate with the class's stripes, stripe size and lvcreate-options", async () => {
    const { fake, lv } = await setup();
    await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB), tags: ["a=b"] }));
    expect(fake.commands[0]).toEqual(["lvcreate", "-n", "v1", "-L", `${8 * MiB}b`, "-W", "y", "-y", "--addtag", "a=b", "-i", "2", "-I", "65536b", "--type=raid1", "vg"]);
  });

  it("uses only a named lvcreate-option-class's options", async () => {
    const { fake, lv } = await setup();
    await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB), lvcreateOptionClass: "mirrored" }));
    expect(fake.commands[0]).toEqual(["lvcreate", "-n", "v1", "-L", `${8 * MiB}b`, "-W", "y", "-y", "--type", "raid1", "-m", "1", "vg"]);
  });

  it.each([
    ["33 tags", Array.from({ length: 33 }, (_, i) => `t${i}`), "tags may hold at most 32 tags, got 33"],
    ["a tag of 1025 characters", ["t".repeat(1025)], "is longer than 1024 characters"],
    ["a tag with a space", ["a b"], 'tags entry "a b" may contain only'],
  ])("refuses %s with InvalidArgument before taking the VG or running LVM", async (_what, tags, message) => {
    const { fake, lv } = await setup();
    const error = await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB), tags })).then(
      () => undefined,
      (err: unknown) => toConnectError(err),
    );
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toContain(message);
    expect(fake.commands).toEqual([]);
  });

  it("accepts 32 tags of 1024 characters", async () => {
    const { fake, lv } = await setup();
    const tags = Array.from({ length: 32 }, (_, i) => `${"t".repeat(1020)}${String(i).padStart(4, "0")}`);
    const created = await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB), tags }));
    expect(created.volume.tags).toEqual(tags);
    expect(fake.commands[0]?.filter((arg) => arg === "--addtag")).toHaveLength(32);
  });

  it("answers Internal for an unknown lvcreate-option-class, as upstream does, without running LVM", async () => {
    const { fake, lv } = await setup();
    expect(await codeOf(lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB), lvcreateOptionClass: "nope" })))).toBe(Code.Internal);
    expect(fake.commands).toEqual([]);
  });

  it("creates a thin volume in the class's pool and counts it against the overprovisioned free space", async () => {
    const { fake, lv, vg } = await setup();
    const created = await lv.createLV(createReq({ name: "t2", deviceClass: "thin", sizeBytes: BigInt(GiB / 2) }));
    expect(fake.commands[0]).toEqual(["lvcreate", "-T", "vg/pool", "-n", "t2", "-V", `${GiB / 2}b`, "-W", "y", "-y"]);
    expect(created.volume.sizeBytes).toBe(BigInt(GiB / 2));
    // 2 × 2 GiB pool − 1 GiB (thin1) − 0.5 GiB (t2)
    expect(vg.getFreeBytes(create(lvmd.GetFreeBytesRequestSchema, { deviceClass: "thin" })).freeBytes).toBe(BigInt(2.5 * GiB));
    expect(await codeOf(lv.createLV(createReq({ name: "t3", deviceClass: "thin", sizeBytes: BigInt(3 * GiB) })))).toBe(Code.ResourceExhausted);
  });

  it("answers with the new LV as LVM reports it, device numbers and attributes included, from one lvcreate and one VG re-read", async () => {
    const { fake, lv, vg } = await setup();
    const created = await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(5 * MiB) }));
    expect(created.volume).toMatchObject({ name: "v1", sizeBytes: BigInt(8 * MiB), path: "/dev/vg/v1", attr: "-wi-a--z--", devMajor: 253, devMinor: 7 });
    expect(fake.commands.map((argv) => argv[0])).toEqual(["lvcreate", "fullreport"]);
    expect(vg.getLVList(create(lvmd.GetLVListRequestSchema, {})).volumes.map((v) => [v.name, v.attr])).toEqual([["v1", "-wi-a--z--"]]);
  });

  it("maps LVM's insufficient-space failure to ResourceExhausted and keeps the model unchanged", async () => {
    const { fake, lv, vg } = await setup();
    fake.failNext(["lvcreate"], '  Volume group "vg" has insufficient free space (1 extents): 2 required.');
    const before = vg.getFreeBytes(create(lvmd.GetFreeBytesRequestSchema, {}));
    expect(await codeOf(lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB) })))).toBe(Code.ResourceExhausted);
    expect(vg.getFreeBytes(create(lvmd.GetFreeBytesRequestSchema, {}))).toEqual(before);
  });

  it("keeps LVM's stderr in an Internal error", async () => {
    const { fake, lv } = await setup();
    fake.failNext(["lvcreate"], "  device-mapper: reload ioctl failed: Invalid argument");
    await expect(lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB) })).catch(toConnectError)).resolves.toMatchObject({
      code: Code.Internal,
      rawMessage: expect.stringContaining("reload ioctl failed") as unknown,
    });
  });
});

describe("CreateLVSnapshot", () => {
  it("is Unimplemented on a thick class", async () => {
    const { lv } = await setup();
    expect(await codeOf(lv.createLVSnapshot(snapReq({ name: "s", sourceVolume: "thin1", accessType: "rw" })))).toBe(Code.Unimplemented);
  });

  it("snapshots, grows to the requested size and activates a writable snapshot", async () => {
    const { fake, lv } = await setup();
    const res = await lv.createLVSnapshot(
      snapReq({ name: "s1", sourceVolume: "thin1", deviceClass: "thin", accessType: "rw", sizeBytes: BigInt(2 * GiB), tags: ["x"] }),
    );
    expect(res.snapshot).toMatchObject({ name: "s1", sizeBytes: BigInt(2 * GiB), tags: ["x"] });
    const mutations = fake.commands.filter((c) => c[0] !== "lvs" && c[0] !== "fullreport");
    expect(mutations).toEqual([
      ["lvcreate", "-s", "-k", "n", "-n", "s1", "--addtag", "x", "vg/thin1"],
      ["lvextend", "-L", `${2 * GiB}b`, "vg/s1"],
      ["lvchange", "-a", "y", "-K", "vg/s1"],
    ]);
  });

  it("makes a read-only snapshot with lvchange -p r, at the source's size when none is asked", async () => {
    const { fake, lv } = await setup();
    const res = await lv.createLVSnapshot(snapReq({ name: "s1", sourceVolume: "thin1", deviceClass: "thin", accessType: "ro" }));
    expect(res.snapshot.sizeBytes).toBe(BigInt(GiB));
    expect(fake.commands.filter((c) => c[0] === "lvchange")).toEqual([["lvchange", "-p", "r", "vg/s1"]]);
  });

  it("answers NotFound for a source that LVM, asked again, does not have either", async () => {
    const { fake, lv } = await setup();
    expect(await codeOf(lv.createLVSnapshot(snapReq({ name: "s1", sourceVolume: "nope", deviceClass: "thin", accessType: "rw" })))).toBe(Code.NotFound);
    expect(fake.commands.map((c) => c[0])).toEqual(["fullreport"]);
  });

  it("removes a snapshot that could not be activated", async () => {
    const { fake, lv } = await setup();
    fake.failNext(["lvchange"], "  activation failed");
    expect(await codeOf(lv.createLVSnapshot(snapReq({ name: "s1", sourceVolume: "thin1", deviceClass: "thin", accessType: "rw" })))).toBe(Code.Internal);
    expect(fake.commands.filter((c) => c[0] === "lvremove")).toEqual([["lvremove", "-f", "vg/s1"]]);
    expect(fake.vgs.get("vg")?.lvs.has("s1")).toBe(false);
  });

  it.each([
    ["a snapshot smaller than its source", { sourceVolume: "thin1", accessType: "rw", sizeBytes: BigInt(MiB) }, Code.OutOfRange],
    ["an unknown access type", { sourceVolume: "thin1", accessType: "rx" }, Code.InvalidArgument],
    ["a missing source name", { accessType: "rw" }, Code.InvalidArgument],
    ["33 tags", { sourceVolume: "thin1", accessType: "rw", tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, Code.InvalidArgument],
    ["more than the pool can overprovision", { sourceVolume: "thin1", accessType: "rw", sizeBytes: BigInt(3 * GiB) + 1n }, Code.ResourceExhausted],
  ])("refuses %s before running LVM", async (_what, init, code) => {
    const { fake, lv } = await setup();
    expect(await codeOf(lv.createLVSnapshot(snapReq({ name: "s1", deviceClass: "thin", ...init })))).toBe(code);
    expect(fake.commands).toEqual([]);
  });
});

describe("ResizeLV", () => {
  it("answers a request below the current size with the current size and runs no LVM command", async () => {
    const { fake, lv } = await setup();
    await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(16 * MiB) }));
    fake.commands.length = 0;
    const res = await lv.resizeLV(create(lvmd.ResizeLVRequestSchema, { name: "v1", sizeBytes: BigInt(4 * MiB) }));
    expect(res.sizeBytes).toBe(BigInt(16 * MiB));
    expect(mutations(fake)).toEqual([]);
    expect(fake.vgs.get("vg")?.lvs.get("v1")?.size).toBe(16 * MiB);
  });
});

describe("an LV that LVM has and the model has not seen yet", () => {
  it("CreateLV of the same size (within extent rounding) adopts it and lists it", async () => {
    const { fake, lv, vg } = await setup();
    makeByHand(fake, "byhand", { size: 8 * MiB });
    const created = await lv.createLV(createReq({ name: "byhand", sizeBytes: BigInt(5 * MiB) }));
    expect(created.volume).toMatchObject({ name: "byhand", sizeBytes: BigInt(8 * MiB), path: "/dev/vg/byhand" });
    expect(vg.getLVList(create(lvmd.GetLVListRequestSchema, {})).volumes.map((v) => v.name)).toEqual(["byhand"]);
  });

  it("CreateLV of another size is AlreadyExists and leaves the LV alone", async () => {
    const { fake, lv } = await setup();
    makeByHand(fake, "byhand", { size: 8 * MiB });
    expect(await codeOf(lv.createLV(createReq({ name: "byhand", sizeBytes: BigInt(16 * MiB) })))).toBe(Code.AlreadyExists);
    expect(mutations(fake).map((c) => c[0])).toEqual(["lvcreate"]);
    expect(fake.vgs.get("vg")?.lvs.get("byhand")?.size).toBe(8 * MiB);
  });

  it("ResizeLV finds it: a smaller request answers its size, a larger one grows it", async () => {
    const { fake, lv } = await setup();
    makeByHand(fake, "byhand", { size: 8 * MiB });
    expect((await lv.resizeLV(create(lvmd.ResizeLVRequestSchema, { name: "byhand", sizeBytes: BigInt(4 * MiB) }))).sizeBytes).toBe(BigInt(8 * MiB));
    makeByHand(fake, "byhand2", { size: 8 * MiB });
    expect((await lv.resizeLV(create(lvmd.ResizeLVRequestSchema, { name: "byhand2", sizeBytes: BigInt(12 * MiB) }))).sizeBytes).toBe(BigInt(12 * MiB));
    expect(mutations(fake)).toEqual([["lvextend", "-L", `${12 * MiB}b`, "vg/byhand2"]]);
  });

  it("RemoveLV removes it", async () => {
    const { fake, lv } = await setup();
    makeByHand(fake, "byhand", { size: 8 * MiB });
    await lv.removeLV(create(lvmd.RemoveLVRequestSchema, { name: "byhand" }));
    expect(mutations(fake)).toEqual([["lvremove", "-f", "vg/byhand"]]);
    expect(fake.vgs.get("vg")?.lvs.has("byhand")).toBe(false);
  });

  it("CreateLVSnapshot adopts a snapshot of that source made by hand, and snapshots a source made by hand", async () => {
    const { fake, lv } = await setup();
    makeByHand(fake, "s1", { kind: "V", size: GiB, pool: "pool", origin: "thin1" });
    const adopted = await lv.createLVSnapshot(snapReq({ name: "s1", sourceVolume: "thin1", deviceClass: "thin", accessType: "ro" }));
    expect(adopted.snapshot).toMatchObject({ name: "s1", sizeBytes: BigInt(GiB) });
    expect(mutations(fake).map((c) => c[0])).toEqual(["lvcreate"]);

    makeByHand(fake, "thin2", { kind: "V", size: GiB, pool: "pool" });
    const res = await lv.createLVSnapshot(snapReq({ name: "s2", sourceVolume: "thin2", deviceClass: "thin", accessType: "ro" }));
    expect(res.snapshot).toMatchObject({ name: "s2", sizeBytes: BigInt(GiB) });
  });

  it("CreateLVSnapshot of a name taken by another LV is AlreadyExists and removes nothing", async () => {
    const { fake, lv } = await setup();
    makeByHand(fake, "s1", { kind: "V", size: GiB, pool: "pool" });
    expect(await codeOf(lv.createLVSnapshot(snapReq({ name: "s1", sourceVolume: "thin1", deviceClass: "thin", accessType: "rw" })))).toBe(Code.AlreadyExists);
    expect(mutations(fake).map((c) => c[0])).toEqual(["lvcreate"]);
    expect(fake.vgs.get("vg")?.lvs.has("s1")).toBe(true);
  });
});

describe("an LV the model has and LVM no longer has", () => {
  it("RemoveLV succeeds", async () => {
    const { fake, lv, vg } = await setup();
    await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB) }));
    fake.vgs.get("vg")?.lvs.delete("v1");
    await lv.removeLV(create(lvmd.RemoveLVRequestSchema, { name: "v1" }));
    expect(vg.getLVList(create(lvmd.GetLVListRequestSchema, {})).volumes).toEqual([]);
  });
});

describe("RemoveLV and ResizeLV on a thin class", () => {
  it("removes only LVs of the class and leaves the pool alone", async () => {
    const { fake, lv } = await setup();
    await lv.removeLV(create(lvmd.RemoveLVRequestSchema, { name: "pool", deviceClass: "thin" }));
    expect(fake.commands).toEqual([]);
    await lv.removeLV(create(lvmd.RemoveLVRequestSchema, { name: "thin1", deviceClass: "thin" }));
    expect(fake.commands[0]).toEqual(["lvremove", "-f", "vg/thin1"]);
  });

  it("grows a thin volume within the overprovisioned free space", async () => {
    const { fake, lv } = await setup();
    const res = await lv.resizeLV(create(lvmd.ResizeLVRequestSchema, { name: "thin1", deviceClass: "thin", sizeBytes: BigInt(2 * GiB) }));
    expect(res.sizeBytes).toBe(BigInt(2 * GiB));
    expect(fake.commands[0]).toEqual(["lvextend", "-L", `${2 * GiB}b`, "vg/thin1"]);
    expect(await codeOf(lv.resizeLV(create(lvmd.ResizeLVRequestSchema, { name: "thin1", deviceClass: "thin", sizeBytes: BigInt(5 * GiB) })))).toBe(
      Code.ResourceExhausted,
    );
  });
});

describe("mutation logs", () => {
  it("writes one info line per LVM mutation with the RPC, argv, duration and result", async () => {
    const { lv, logs } = await setup();
    await lv.createLV(createReq({ name: "v1", sizeBytes: BigInt(8 * MiB) }));
    const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 30);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ rpc: "CreateLV", lv: "v1", deviceClass: "thick", result: "ok", exitCode: 0 });
    expect(lines[0]?.argv).toEqual(expect.arrayContaining(["lvm", "lvcreate"]));
    expect(typeof lines[0]?.durationMs).toBe("number");
  });
});
