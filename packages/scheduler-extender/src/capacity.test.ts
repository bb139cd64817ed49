import { describe, expect, it } from "vitest";
import { CapacityRequestError, capacityRequestOf, nodeCapacitiesOf, parseCapacityBytes } from "./capacity.js";

describe("parseCapacityBytes", () => {
  it("reads decimal byte counts up to 2^64-1", () => {
    expect(parseCapacityBytes("0")).toBe(0n);
    expect(parseCapacityBytes("5368709120")).toBe(5368709120n);
    expect(parseCapacityBytes("18446744073709551615")).toBe(2n ** 64n - 1n);
  });

  it.each(["", "-1", "1.5", "1Gi", " 1", "0x10", "1e9", "18446744073709551616", "123456789012345678901"])(
    "rejects %j",
    (value) => {
      expect(parseCapacityBytes(value)).toBeUndefined();
    },
  );
});

describe("capacityRequestOf", () => {
  it("reads every capacity annotation, sorted by device-class, and ignores the rest", () => {
    const request = capacityRequestOf({
      "capacity.topolvm.cybozu.com/ssd": "2",
      "capacity.topolvm.cybozu.com/00default": "1",
      "example.com/other": "x",
      "capacity.topolvm.io/ssd": "not ours",
    });
    expect([...request]).toEqual([
      ["00default", 1n],
      ["ssd", 2n],
    ]);
  });

  it("is empty for a pod without annotations", () => {
    expect(capacityRequestOf(undefined).size).toBe(0);
    expect(capacityRequestOf({}).size).toBe(0);
  });

  it("rejects a garbled request, naming the annotation and value", () => {
    expect(() => capacityRequestOf({ "capacity.topolvm.cybozu.com/ssd": "5Gi" })).toThrow(
      new CapacityRequestError("capacity.topolvm.cybozu.com/ssd", "5Gi"),
    );
    expect(() => capacityRequestOf({ "capacity.topolvm.cybozu.com/ssd": "5Gi" })).toThrow(
      'pod annotation capacity.topolvm.cybozu.com/ssd is "5Gi", not a decimal byte count',
    );
  });
});

describe("nodeCapacitiesOf", () => {
  it("tells bytes, missing and garbled annotations apart", () => {
    const capacities = nodeCapacitiesOf({ "capacity.topolvm.cybozu.com/ssd": "42", "capacity.topolvm.cybozu.com/hdd": "lots" });
    expect(capacities.get("ssd")).toEqual({ kind: "bytes", bytes: 42n });
    expect(capacities.get("hdd")).toEqual({ kind: "garbled", value: "lots" });
    expect(capacities.get("nvme")).toEqual({ kind: "missing" });
    expect(nodeCapacitiesOf(undefined).get("ssd")).toEqual({ kind: "missing" });
  });

  it("reads a device-class only from its capacity annotation", () => {
    const capacities = nodeCapacitiesOf({ "example.com/ssd": "1", ssd: "2" });
    expect(capacities.get("ssd")).toEqual({ kind: "missing" });
  });

  it("parses each annotation once and answers the same from then on", () => {
    const capacities = nodeCapacitiesOf({ "capacity.topolvm.cybozu.com/ssd": "42" });
    expect(capacities.get("ssd")).toBe(capacities.get("ssd"));
  });

  it("keeps byte counts past 2^53 exact", () => {
    const capacities = nodeCapacitiesOf({ "capacity.topolvm.cybozu.com/ssd": "18446744073709551615" });
    expect(capacities.get("ssd")).toEqual({ kind: "bytes", bytes: 2n ** 64n - 1n });
  });
});
