import { create } from "@bufbuild/protobuf";
import { csi } from "@topolvm/proto";
import { capacityAnnotationPrefix, topologyKey } from "@topolvm/proto/names";
import { describe, expect, it } from "vitest";
import { capacityAnnotation, capacityOf, nodeFreeBytes, type CapacityNode, type NodeLister } from "./capacity.js";

function node(name: string, annotations: Record<string, string>, labelled = true): CapacityNode {
  return { metadata: { name, annotations, labels: labelled ? { [topologyKey]: name } : {} } };
}
const lister = (...nodes: CapacityNode[]): NodeLister => ({ get: (name) => nodes.find((n) => n.metadata?.name === name), list: () => nodes });
const at = (name: string): csi.Topology => create(csi.TopologySchema, { segments: { [topologyKey]: name } });

const nodes = lister(
  node("a", { [`${capacityAnnotationPrefix}ssd`]: "100", [`${capacityAnnotationPrefix}00default`]: "7" }),
  node("b", { [`${capacityAnnotationPrefix}ssd`]: "300" }),
  node("c", { [`${capacityAnnotationPrefix}ssd`]: "garbage" }),
  node("d", { [`${capacityAnnotationPrefix}ssd`]: "50" }, false),
);

describe("capacityAnnotation", () => {
  it("maps the default class to 00default", () => {
    expect(capacityAnnotation("")).toBe(`${capacityAnnotationPrefix}00default`);
    expect(capacityAnnotation("thin")).toBe(`${capacityAnnotationPrefix}thin`);
  });
});

describe("nodeFreeBytes", () => {
  it("reads decimal bytes and nothing else", () => {
    expect(nodeFreeBytes(node("x", { [`${capacityAnnotationPrefix}ssd`]: "18446744073709551615" }), "ssd")).toBeUndefined();
    expect(nodeFreeBytes(node("x", { [`${capacityAnnotationPrefix}ssd`]: "-1" }), "ssd")).toBeUndefined();
    expect(nodeFreeBytes(node("x", { [`${capacityAnnotationPrefix}ssd`]: "1Gi" }), "ssd")).toBeUndefined();
    expect(nodeFreeBytes(node("x", { [`${capacityAnnotationPrefix}ssd`]: "1073741824" }), "ssd")).toBe(1073741824n);
    expect(nodeFreeBytes({}, "ssd")).toBeUndefined();
  });
});

describe("capacityOf", () => {
  it("sums every node's free bytes of the class without a topology", () => {
    expect(capacityOf(nodes, "ssd", undefined)).toEqual({ availableBytes: 450n, maximumVolumeBytes: 300n });
    expect(capacityOf(nodes, "", undefined)).toEqual({ availableBytes: 7n, maximumVolumeBytes: 7n });
  });

  it("answers the node whose topology label matches", () => {
    expect(capacityOf(nodes, "ssd", at("b"))).toEqual({ availableBytes: 300n, maximumVolumeBytes: 300n });
  });

  it("answers 0 for an unknown node, a node without the label, a class it lacks or a topology without the key", () => {
    expect(capacityOf(nodes, "ssd", at("zz")).availableBytes).toBe(0n);
    expect(capacityOf(nodes, "ssd", at("d")).availableBytes).toBe(0n);
    expect(capacityOf(nodes, "hdd", at("a")).availableBytes).toBe(0n);
    expect(capacityOf(nodes, "ssd", create(csi.TopologySchema, { segments: { zone: "z" } })).availableBytes).toBe(0n);
  });

  it("caps a sum beyond int64", () => {
    const big = "9000000000000000000";
    const huge = lister(node("a", { [`${capacityAnnotationPrefix}ssd`]: big }), node("b", { [`${capacityAnnotationPrefix}ssd`]: big }));
    expect(capacityOf(huge, "ssd", undefined).availableBytes).toBe((1n << 63n) - 1n);
  });
});
