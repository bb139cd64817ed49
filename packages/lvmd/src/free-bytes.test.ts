import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.js";
import { allocatableBytes, capacityReport, classCapacity, classVolumes, reportedFreeBytes, thinPoolFreeBytes } from "./free-bytes.js";
import type { LvRecord, VgRecord } from "./model.js";

const GiB = 2 ** 30;

function lv(name: string, sizeBytes: number, more: Partial<LvRecord> = {}): LvRecord {
  return {
    name,
    path: `/dev/vg/${name}`,
    sizeBytes,
    devMajor: 0,
    devMinor: 0,
    tags: [],
    attr: "-wi-------",
    poolLv: "",
    origin: "",
    dataPercent: 0,
    metadataPercent: 0,
    ...more,
  };
}

function vg(freeBytes: number, lvs: LvRecord[] = []): VgRecord {
  return { name: "vg", sizeBytes: 100 * GiB, freeBytes, extentSizeBytes: 4 * 2 ** 20, lvs: new Map(lvs.map((l) => [l.name, l])) };
}

const config = parseConfig(`
device-classes:
  - { name: thick, volume-group: vg, spare-gb: 10 }
  - { name: thin, volume-group: vg, spare-gb: 1, type: thin, thin-pool: { name: pool, overprovision-ratio: 2.5 } }
  - { name: nospare, volume-group: vg2, spare-gb: 0, default: true }
`);
const [thick, thin, nospare] = config.deviceClasses;
if (thick === undefined || thin === undefined || nospare === undefined) {
  throw new Error("test config lost a class");
}
const pool = lv("pool", 10 * GiB, { attr: "twi-a-tz--", dataPercent: 12.5, metadataPercent: 3.25 });
const thinVolumes = [lv("t1", 4 * GiB, { attr: "Vwi-a-tz--", poolLv: "pool" }), lv("t2", 6 * GiB, { attr: "Vwi-a-tz--", poolLv: "pool" })];

describe("thick free bytes", () => {
  it("takes the spare off the VG free space", () => {
    expect(reportedFreeBytes(thick, vg(30 * GiB))).toBe(20 * GiB);
  });

  it("never reports less than zero", () => {
    expect(reportedFreeBytes(thick, vg(3 * GiB))).toBe(0);
  });

  it("allocates from the whole VG free space: the spare only shapes what is reported", () => {
    expect(allocatableBytes(thick, vg(3 * GiB))).toBe(3 * GiB);
  });

  it("reports all the free space with spare-gb 0", () => {
    expect(reportedFreeBytes(nospare, vg(7))).toBe(7);
  });
});

describe("thin free bytes", () => {
  it("is pool size × ratio minus the virtual sizes of the pool's volumes", () => {
    expect(thinPoolFreeBytes(vg(50 * GiB, [pool, ...thinVolumes]), { name: "pool", overprovisionRatio: 2.5 })).toBe(15 * GiB);
  });

  it("rounds a fractional product down", () => {
    const oddPool = lv("pool", 3, { attr: "twi-a-tz--" });
    expect(thinPoolFreeBytes(vg(0, [oddPool]), { name: "pool", overprovisionRatio: 1.5 })).toBe(4);
  });

  it("counts only the volumes of its own pool", () => {
    const other = lv("o1", 20 * GiB, { attr: "Vwi-a-tz--", poolLv: "pool2" });
    expect(allocatableBytes(thin, vg(0, [pool, ...thinVolumes, other]))).toBe(15 * GiB);
  });

  it("is zero when the volumes already exceed the overprovisioned size", () => {
    const big = lv("big", 40 * GiB, { attr: "Vwi-a-tz--", poolLv: "pool" });
    expect(allocatableBytes(thin, vg(0, [pool, big]))).toBe(0);
  });

  it("is zero when the pool is missing", () => {
    expect(allocatableBytes(thin, vg(10 * GiB))).toBe(0);
  });

  it("takes the spare off after the overprovision sum in GetFreeBytes", () => {
    expect(reportedFreeBytes(thin, vg(50 * GiB, [pool, ...thinVolumes]))).toBe(14 * GiB);
  });
});

describe("Watch figures", () => {
  it("reports a thick class's free space minus spare and the VG size", () => {
    expect(classCapacity(thick, vg(30 * GiB))).toEqual({ deviceClass: "thick", freeBytes: 20 * GiB, sizeBytes: 100 * GiB });
  });

  it("reports a thin class's raw VG free space and the pool's overprovisioned free space, both without spare", () => {
    expect(classCapacity(thin, vg(50 * GiB, [pool, ...thinVolumes]))).toEqual({
      deviceClass: "thin",
      freeBytes: 50 * GiB,
      sizeBytes: 100 * GiB,
      thinPool: { dataPercent: 12.5, metadataPercent: 3.25, overprovisionBytes: 15 * GiB, sizeBytes: 10 * GiB },
    });
  });

  it("puts the default class's figure at the top and skips classes whose VG is gone", () => {
    const inventory = new Map([["vg2", { ...vg(5 * GiB), name: "vg2" }]]);
    expect(capacityReport(config, inventory)).toEqual({
      freeBytes: 5 * GiB,
      items: [{ deviceClass: "nospare", freeBytes: 5 * GiB, sizeBytes: 100 * GiB }],
    });
  });

  it("uses the overprovisioned free space when the default class is thin", () => {
    const thinDefault = parseConfig(
      "device-classes:\n  - { name: t, volume-group: vg, default: true, type: thin, thin-pool: { name: pool, overprovision-ratio: 2.5 } }\n",
    );
    expect(capacityReport(thinDefault, new Map([["vg", vg(50 * GiB, [pool, ...thinVolumes])]])).freeBytes).toBe(15 * GiB);
  });
});

describe("classVolumes", () => {
  const plain = lv("plain", GiB);
  const all = vg(0, [plain, pool, ...thinVolumes]);

  it("lists a thick class's LVs without thin pools and thin volumes", () => {
    expect(classVolumes(thick, all).map((l) => l.name)).toEqual(["plain"]);
  });

  it("lists a thin class's volumes of its pool only", () => {
    expect(classVolumes(thin, all).map((l) => l.name)).toEqual(["t1", "t2"]);
  });
});
