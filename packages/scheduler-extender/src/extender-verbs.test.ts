import { describe, expect, it } from "vitest";
import { nodeCapacitiesOf } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import { parseExtenderArgs as parseText } from "./extender-args.js";
import { predicateVerb, prioritizeVerb, type ExtenderContext, type NodeCapacitySource } from "./extender-verbs.js";

function parseExtenderArgs(body: unknown) {
  return parseText(JSON.stringify(body));
}

const gib = 1024 ** 3;
const key = "capacity.topolvm.cybozu.com/00default";

function nodeObject(name: string, freeGiB: number) {
  return { metadata: { name, annotations: { [key]: String(freeGiB * gib) }, labels: { zone: "z" } }, status: {} };
}

function podAsking(gibs: number | undefined, annotation = key) {
  return { metadata: { name: "p", namespace: "ns", annotations: gibs === undefined ? {} : { [annotation]: String(gibs * gib) } } };
}

function cacheOf(nodes: CandidateNode[], synced = true): NodeCapacitySource {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  return {
    synced: () => synced,
    get: (name) => byName.get(name),
  };
}

const noCache: ExtenderContext = { divisors: { defaultDivisor: 1, byDeviceClass: new Map() }, nodeCache: undefined };
const nodes = [nodeObject("small", 1), nodeObject("roomy", 16), nodeObject("huge", 4096)];
const cached: ExtenderContext = {
  ...noCache,
  nodeCache: cacheOf(nodes.map((n) => ({ name: n.metadata.name, capacities: nodeCapacitiesOf(n.metadata.annotations) }))),
};

describe("predicateVerb with full Node objects", () => {
  it("returns the fitting Node objects unchanged and the others as unresolvable with a reason", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(5), Nodes: { items: nodes } }), noCache);
    expect(result).toEqual({
      Nodes: { items: [nodes[1], nodes[2]] },
      FailedNodes: {},
      FailedAndUnresolvableNodes: { small: 'TopoLVM: not enough free space in device-class "00default"' },
      Error: "",
    });
  });

  it("passes every node for a pod that requests nothing", () => {
    const result = predicateVerb(parseExtenderArgs({ pod: podAsking(undefined), nodes: { items: nodes } }), noCache);
    expect(result.Nodes?.items).toEqual(nodes);
    expect(result.FailedAndUnresolvableNodes).toEqual({});
  });

  it("answers an empty NodeList when no node fits", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(10_000), Nodes: { items: nodes } }), noCache);
    expect(result.Nodes).toEqual({ items: [] });
    expect(Object.keys(result.FailedAndUnresolvableNodes)).toEqual(["small", "roomy", "huge"]);
  });

  it("answers NodeNames too when the request carried both", () => {
    const result = predicateVerb(
      parseExtenderArgs({ Pod: podAsking(5), Nodes: { items: nodes }, NodeNames: ["small", "roomy", "huge"] }),
      noCache,
    );
    expect(result.NodeNames).toEqual(["roomy", "huge"]);
  });

  it("answers with Error and no nodes when the pod's request is garbled", () => {
    const pod = { metadata: { annotations: { [key]: "5Gi" } } };
    expect(predicateVerb(parseExtenderArgs({ Pod: pod, Nodes: { items: nodes } }), noCache)).toEqual({
      FailedNodes: {},
      FailedAndUnresolvableNodes: {},
      Error: 'TopoLVM: pod annotation capacity.topolvm.cybozu.com/00default is "5Gi", not a decimal byte count',
    });
  });
});

describe("predicateVerb and prioritizeVerb with byte counts past 2^53", () => {
  const big = 2n ** 60n;
  const bigNodes = [
    { metadata: { name: "one-short", annotations: { [key]: String(big) } } },
    { metadata: { name: "exact", annotations: { [key]: String(big + 1n) } } },
  ];
  const pod = { metadata: { annotations: { [key]: String(big + 1n) } } };

  it("compares them exactly, as BigInts", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: pod, Nodes: { items: bigNodes } }), noCache);
    expect(result.Nodes?.items).toEqual([bigNodes[1]]);
    expect(Object.keys(result.FailedAndUnresolvableNodes)).toEqual(["one-short"]);
  });

  it("scores them by their whole GiB", () => {
    const context = { ...noCache, divisors: { defaultDivisor: 2 ** 25, byDeviceClass: new Map() } };
    // 2^60 bytes are 2^30 GiB: log2(2^30 / 2^25) = 5.
    expect(prioritizeVerb(parseExtenderArgs({ Pod: pod, Nodes: { items: bigNodes } }), context)).toEqual([
      { Host: "one-short", Score: 5 },
      { Host: "exact", Score: 5 },
    ]);
  });
});

describe("predicateVerb with node names", () => {
  it("looks the nodes up in the cache", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(5), NodeNames: ["huge", "small", "ghost"] }), cached);
    expect(result).toEqual({
      NodeNames: ["huge"],
      FailedNodes: {},
      FailedAndUnresolvableNodes: {
        small: 'TopoLVM: not enough free space in device-class "00default"',
        ghost: "TopoLVM: node is not in topolvm-scheduler's node cache",
      },
      Error: "",
    });
  });

  it("finds a name written with escapes by its decoded text", () => {
    const body = `{"Pod": ${JSON.stringify(podAsking(5))}, "NodeNames": ["h\\u0075ge", "sm\\u0061ll"]}`;
    const result = predicateVerb(parseText(body), cached);
    expect(result.NodeNames).toEqual(["huge"]);
    expect(Object.keys(result.FailedAndUnresolvableNodes)).toEqual(["small"]);
  });

  it("echoes the names for a pod that requests nothing, even without a cache", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(undefined), NodeNames: ["a", "b"] }), noCache);
    expect(result.NodeNames).toEqual(["a", "b"]);
    expect(result.Error).toBe("");
  });

  it("answers with Error when there is no cache to look names up in", () => {
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(5), NodeNames: ["a"] }), noCache);
    expect(result.NodeNames).toBeUndefined();
    expect(result.Error).toMatch(/runs without a node cache; start it with --kubeconfig or --in-cluster/);
  });

  it("answers with Error while the cache has not synced", () => {
    const context = { ...noCache, nodeCache: cacheOf([], false) };
    const result = predicateVerb(parseExtenderArgs({ Pod: podAsking(5), NodeNames: ["a"] }), context);
    expect(result.Error).toBe("TopoLVM: topolvm-scheduler's node cache has not synced with the API server yet");
  });
});

describe("prioritizeVerb", () => {
  it("scores full Node objects with the Go field names", () => {
    expect(prioritizeVerb(parseExtenderArgs({ Pod: podAsking(1), Nodes: { items: nodes } }), noCache)).toEqual([
      { Host: "small", Score: 0 },
      { Host: "roomy", Score: 4 },
      { Host: "huge", Score: 10 },
    ]);
  });

  it("scores names from the cache, and unknown names 0", () => {
    const args = parseExtenderArgs({ Pod: podAsking(1), NodeNames: ["roomy", "ghost"] });
    expect(prioritizeVerb(args, cached)).toEqual([
      { Host: "roomy", Score: 4 },
      { Host: "ghost", Score: 0 },
    ]);
  });

  it("scores every node 0 for a pod that requests nothing or whose request is garbled", () => {
    const zeros = [
      { Host: "small", Score: 0 },
      { Host: "roomy", Score: 0 },
      { Host: "huge", Score: 0 },
    ];
    expect(prioritizeVerb(parseExtenderArgs({ Pod: podAsking(undefined), Nodes: { items: nodes } }), noCache)).toEqual(zeros);
    const garbled = { metadata: { annotations: { [key]: "-1" } } };
    expect(prioritizeVerb(parseExtenderArgs({ Pod: garbled, Nodes: { items: nodes } }), noCache)).toEqual(zeros);
  });

  it("applies the divisor configured for the device-class", () => {
    const context = { ...noCache, divisors: { defaultDivisor: 1, byDeviceClass: new Map([["00default", 8]]) } };
    expect(prioritizeVerb(parseExtenderArgs({ Pod: podAsking(1), Nodes: { items: nodes } }), context)).toEqual([
      { Host: "small", Score: 0 },
      { Host: "roomy", Score: 1 },
      { Host: "huge", Score: 9 },
    ]);
  });
});
