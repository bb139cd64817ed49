import { describe, expect, it } from "vitest";
import { fixture } from "../test/fixtures/index.js";
import { MalformedReportError, parseFullReport, parseLvReport, parseVgReport } from "./report.js";

const lvRow = {
  lv_name: "lv",
  vg_name: "vg",
  lv_uuid: "u",
  lv_path: "/dev/vg/lv",
  lv_size: "4194304",
  lv_tags: "",
  lv_attr: "-wi-a-----",
  lv_kernel_major: "253",
  lv_kernel_minor: "0",
  pool_lv: "",
  origin: "",
  data_percent: "",
  metadata_percent: "",
};

const lvReport = (row: Record<string, unknown>): string => JSON.stringify({ report: [{ lv: [row] }] });

describe("parsing recorded lvm2 2.03 reports", () => {
  it("parses vgs with sizes, counts and tags", () => {
    const vgs = parseVgReport(fixture("vgs.json"));
    expect(vgs.map((vg) => vg.name)).toEqual(["empty", "vg1"]);
    expect(vgs[1]).toEqual({
      name: "vg1",
      uuid: "uxFx6g-nFgC-pAw2-ksC6-n0Sc-M3qM-6SR1K3",
      sizeBytes: 125829120,
      freeBytes: 92274688,
      extentSizeBytes: 4194304,
      pvCount: 2,
      lvCount: 3,
      tags: ["class=ssd", "zone/a"],
    });
    expect(vgs[0]?.tags).toEqual([]);
  });

  it("parses lvs of inactive thick LVs", () => {
    const lvs = parseLvReport(fixture("lvs.json"));
    expect(lvs.map((lv) => [lv.name, lv.sizeBytes])).toEqual([
      ["plain", 8388608],
      ["striped", 16777216],
      ["tagged", 8388608],
    ]);
    expect(lvs[2]).toEqual({
      name: "tagged",
      vgName: "vg1",
      uuid: "WxWk46-G0Hy-Grfp-XXcQ-dkda-EXbk-JJ6fI9",
      path: "/dev/vg1/tagged",
      sizeBytes: 8388608,
      tags: ["b:c&d#e!", "topolvm/x=1"],
      attr: "-wi-XX----",
      major: null,
      minor: null,
      active: false,
      poolLv: null,
      origin: null,
      dataPercent: null,
      metadataPercent: null,
    });
  });

  it("parses an empty LV list", () => {
    expect(parseLvReport(fixture("lvs-empty.json"))).toEqual([]);
  });

  it("parses a fullreport into VGs with their LVs, ignoring the emptied PV and segment sections", () => {
    const report = parseFullReport(fixture("fullreport.json"));
    expect(report.map((r) => [r.volumeGroup.name, r.logicalVolumes.map((lv) => lv.name)])).toEqual([
      ["empty", []],
      ["vg1", ["plain", "striped", "tagged"]],
    ]);
    expect(report[1]?.volumeGroup).toEqual(parseVgReport(fixture("vgs-one.json"))[0]);
    expect(report[1]?.logicalVolumes).toEqual(parseLvReport(fixture("lvs.json")));
    expect(parseFullReport(fixture("fullreport-one.json"))).toEqual([report[1]]);
  });

  it("parses thin pools, thin volumes and snapshots and leaves hidden LVs out", () => {
    const lvs = parseLvReport(fixture("lvs-thin.synthetic.json"));
    expect(lvs.map((lv) => lv.name)).toEqual(["pool", "thin1", "snap1"]);
    const [pool, thin, snap] = lvs;
    expect(pool).toMatchObject({ attr: "twi-aotz--", path: "", active: true, major: 253, minor: 2, dataPercent: 3.12, metadataPercent: 10.94 });
    expect(thin).toMatchObject({ poolLv: "pool", origin: null, active: true, dataPercent: 1.56, metadataPercent: null, tags: ["topolvm/x=1"] });
    expect(snap).toMatchObject({ poolLv: "pool", origin: "thin1", active: false, major: null });
  });
});

describe("rejecting malformed reports", () => {
  it.each([
    ["not JSON", "Volume group not found", /not JSON/],
    ["a non-object top level", "[]", /top level is not an object/],
    ["no report array", "{}", /"report" is not an array/],
    ["a report entry without lv", '{"report":[{}]}', /no "lv" section/],
    ["an lv section that is not an array", '{"report":[{"lv":{}}]}', /"lv" is not an array/],
    ["an lv row that is not an object", '{"report":[{"lv":["x"]}]}', /entry of "lv" is not an object/],
  ])("rejects %s", (_, text, message) => {
    expect(() => parseLvReport(text)).toThrow(MalformedReportError);
    expect(() => parseLvReport(text)).toThrow(message);
  });

  it.each([
    ["a missing field", { ...lvRow, lv_size: undefined }, /field lv_size is undefined, want a string/],
    ["a number instead of a string", { ...lvRow, lv_size: 4194304 }, /field lv_size is 4194304, want a string/],
    ["a size with a unit suffix", { ...lvRow, lv_size: "4.00m" }, /field lv_size is "4.00m"/],
    ["a negative size", { ...lvRow, lv_size: "-1" }, /field lv_size is "-1"/],
    ["an empty size", { ...lvRow, lv_size: "" }, /field lv_size is ""/],
    ["a size beyond 2^53", { ...lvRow, lv_size: "9007199254740993" }, /below 2\^53/],
    ["a short lv_attr", { ...lvRow, lv_attr: "-wi-a---" }, /want 10 characters/],
    ["a bad major", { ...lvRow, lv_kernel_major: "x" }, /lv_kernel_major is "x"/],
    ["a bad percentage", { ...lvRow, data_percent: "n/a" }, /data_percent is "n\/a"/],
  ])("rejects %s", (_, row, message) => {
    expect(() => parseLvReport(lvReport(row))).toThrow(message);
  });

  it("rejects a fullreport entry with no volume group or several", () => {
    expect(() => parseFullReport('{"report":[{"vg":[],"lv":[]}]}')).toThrow(/has 0 volume groups, want 1/);
  });

  it("accepts device numbers and percentages in their ranges", () => {
    const [lv] = parseLvReport(lvReport({ ...lvRow, data_percent: "100.00", metadata_percent: "0" }));
    expect(lv).toMatchObject({ major: 253, minor: 0, active: true, dataPercent: 100, metadataPercent: 0 });
  });
});
