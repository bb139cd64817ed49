import { describe, expect, it } from "vitest";
import { capacityRequestOf, nodeCapacitiesOf } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import { filter } from "./filter.js";
import { defaultDeviceClassKey } from "@topolvm/proto/names";

const gib = 1n << 30n;

function node(name: string, capacities: Record<string, bigint | string>): CandidateNode {
  return {
    name,
    capacities: nodeCapacitiesOf(
      Object.fromEntries(Object.entries(capacities).map(([dc, bytes]) => [`capacity.topolvm.cybozu.com/${dc}`, String(bytes)])),
    ),
  };
}

function request(capacities: Record<string, bigint>) {
  return capacityRequestOf(
    Object.fromEntries(Object.entries(capacities).map(([dc, bytes]) => [`capacity.topolvm.cybozu.com/${dc}`, String(bytes)])),
  );
}

describe("filter", () => {
  it("keeps only nodes with room in every requested device-class, in input order", () => {
    const nodes = [
      node("both", { ssd: 10n * gib, hdd: 100n * gib }),
      node("ssd-short", { ssd: 1n * gib, hdd: 100n * gib }),
      node("hdd-short", { ssd: 10n * gib, hdd: 1n * gib }),
      node("exact", { ssd: 5n * gib, hdd: 50n * gib }),
    ];
    const outcome = filter(request({ ssd: 5n * gib, hdd: 50n * gib }), nodes);
    expect(outcome.passed.map((n) => n.name)).toEqual(["both", "exact"]);
    expect(Object.fromEntries(outcome.failed)).toEqual({
      "ssd-short": 'TopoLVM: not enough free space in device-class "ssd"',
      "hdd-short": 'TopoLVM: not enough free space in device-class "hdd"',
    });
  });

  it("checks the default device-class under its 00default key", () => {
    const nodes = [node("roomy", { [defaultDeviceClassKey]: 8n * gib }), node("small", { [defaultDeviceClassKey]: 4n * gib })];
    const outcome = filter(request({ [defaultDeviceClassKey]: 5n * gib }), nodes);
    expect(outcome.passed.map((n) => n.name)).toEqual(["roomy"]);
    expect(outcome.failed.get("small")).toBe('TopoLVM: not enough free space in device-class "00default"');
  });

  it("fails nodes with a missing or garbled annotation, with a reason", () => {
    const nodes = [
      node("missing", { hdd: 100n * gib }),
      node("garbled", { ssd: "12 GiB" }),
      { name: "bare", capacities: nodeCapacitiesOf(undefined) },
    ];
    const outcome = filter(request({ ssd: 1n }), nodes);
    expect(outcome.passed).toEqual([]);
    expect(Object.fromEntries(outcome.failed)).toEqual({
      missing: 'TopoLVM: node has no capacity annotation for device-class "ssd"',
      garbled: 'TopoLVM: node capacity annotation for device-class "ssd" is not a decimal byte count',
      bare: 'TopoLVM: node has no capacity annotation for device-class "ssd"',
    });
  });

  it("reports the first failing device-class in name order", () => {
    const outcome = filter(request({ b: 2n, a: 2n }), [node("n", { a: 1n, b: 1n })]);
    expect(outcome.failed.get("n")).toBe('TopoLVM: not enough free space in device-class "a"');
  });

  it("passes every node untouched when the pod requests nothing", () => {
    const nodes = [node("a", {}), { name: "b", capacities: nodeCapacitiesOf(undefined) }];
    const outcome = filter(request({}), nodes);
    expect(outcome.passed).toEqual(nodes);
    expect(outcome.passed[0]).toBe(nodes[0]);
    expect(outcome.failed.size).toBe(0);
  });

  it("accepts a request of 0 bytes only where the node has the annotation", () => {
    const outcome = filter(request({ ssd: 0n }), [node("zero", { ssd: 0n }), node("none", {})]);
    expect(outcome.passed.map((n) => n.name)).toEqual(["zero"]);
  });

  it("compares byte counts past 2^53 exactly", () => {
    const big = 2n ** 60n;
    const nodes = [node("one-short", { ssd: big }), node("exact", { ssd: big + 1n })];
    const outcome = filter(request({ ssd: big + 1n }), nodes);
    expect(outcome.passed.map((n) => n.name)).toEqual(["exact"]);
    expect([...outcome.failed.keys()]).toEqual(["one-short"]);
    expect(filter(request({ ssd: 5n }), [node("small", { ssd: 4n })]).failed.size).toBe(1);
  });
});
