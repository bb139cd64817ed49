import { create } from "@bufbuild/protobuf";
import { lvmd } from "@topolvm/proto";
import { describe, expect, it } from "vitest";
import { lvAttrProblem, lvCondition, lvDevice } from "./volume-condition.js";

const lv = (attr: string, devMajor = 253, devMinor = 4): lvmd.LogicalVolume => create(lvmd.LogicalVolumeSchema, { name: "v1", attr, devMajor, devMinor });

describe("volume conditions from lv_attr", () => {
  it("calls an active LV healthy, thick or thin", () => {
    expect(lvCondition("v1", lv("-wi-ao----"))).toEqual({ abnormal: false, message: "volume is healthy and operating normally" });
    expect(lvCondition("v1", lv("Vwi-aotz--"))).toMatchObject({ abnormal: false });
  });

  it("reports a gone LV, an inactive or suspended one, and one whose health is bad", () => {
    expect(lvCondition("v1", undefined)).toEqual({ abnormal: true, message: "LV v1 is gone: lvmd lists it in none of its device-classes" });
    expect(lvCondition("v1", lv("-wi-------"))).toEqual({ abnormal: true, message: "LV v1 is inactive (lv_attr -wi-------)" });
    expect(lvAttrProblem(lv("-wi-s-----"))).toBe("LV v1 is suspended (lv_attr -wi-s-----)");
    expect(lvAttrProblem(lv("Vwi-aotzF-"))).toBe("LV v1 is failed (lv_attr Vwi-aotzF-)");
    expect(lvAttrProblem(lv("rwi-a-r-p-"))).toBe("LV v1 is partial (a physical volume is missing) (lv_attr rwi-a-r-p-)");
    expect(lvAttrProblem(lv(""))).toBe('LV v1 has no readable lv_attr ("")');
  });

  it("gives the device number of an LV that has one", () => {
    expect(lvDevice(lv("-wi-ao----", 253, 9))).toEqual({ major: 253, minor: 9 });
    expect(lvDevice(lv("-wi-------", 0, 0))).toBeUndefined();
  });
});
