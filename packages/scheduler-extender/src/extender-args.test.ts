import { describe, expect, it } from "vitest";
import { ExtenderArgsError, JsonSyntaxError, parseExtenderArgs as parseText } from "./extender-args.js";

/** Encodes a body the way kube-scheduler does, then parses it. */
function parseExtenderArgs(body: unknown) {
  return parseText(JSON.stringify(body));
}

const pod = { metadata: { name: "web", namespace: "default", annotations: { "capacity.topolvm.cybozu.com/ssd": "1" } } };
const nodeA = { metadata: { name: "a", annotations: { "capacity.topolvm.cybozu.com/ssd": "2" } }, status: { x: 1 } };

describe("parseExtenderArgs", () => {
  it("reads the Go field names kube-scheduler sends today", () => {
    const args = parseExtenderArgs({ Pod: pod, Nodes: { items: [nodeA] }, NodeNames: null });
    expect(args.pod).toEqual({ name: "web", namespace: "default", annotations: pod.metadata.annotations });
    expect(args.nodes?.map((node) => node.name)).toEqual(["a"]);
    expect(args.nodes?.[0]?.capacities.get("ssd")).toEqual({ kind: "bytes", bytes: 2n });
    expect(args.nodes?.[0]?.object).toEqual(nodeA);
    expect(args.nodeNames).toBeUndefined();
  });

  it("reads the capacity annotations of a Node among its others", () => {
    const node = { metadata: { name: "n", annotations: { "capacity.topolvm.cybozu.com/ssd": "1", "example.com/x": "y" } } };
    const capacities = parseExtenderArgs({ Pod: pod, Nodes: { items: [node] } }).nodes?.[0]?.capacities;
    expect(capacities?.get("ssd")).toEqual({ kind: "bytes", bytes: 1n });
  });

  it("reads several capacity annotations, the last of a key given twice", () => {
    const node = '{"metadata": {"name": "n", "annotations": {"capacity.topolvm.cybozu.com/ssd": "1", ' +
      '"capacity.topolvm.cybozu.com/hdd": "2", "capacity.topolvm.cybozu.com/ssd": "3"}}}';
    const capacities = parseText(`{"Pod": {}, "Nodes": {"items": [${node}]}}`).nodes?.[0]?.capacities;
    expect([capacities?.get("ssd"), capacities?.get("hdd"), capacities?.get("nvme")]).toEqual([
      { kind: "bytes", bytes: 3n },
      { kind: "bytes", bytes: 2n },
      { kind: "missing" },
    ]);
  });

  it("reads byte counts past 2^53 exactly and keeps garbled values to report", () => {
    const annotations = {
      "capacity.topolvm.cybozu.com/big": "18446744073709551615",
      "capacity.topolvm.cybozu.com/bad": "5Gi",
      "capacity.topolvm.cybozu.com/empty": "",
    };
    const capacities = parseExtenderArgs({ Pod: pod, Nodes: { items: [{ metadata: { name: "n", annotations } }] } }).nodes?.[0]
      ?.capacities;
    expect(capacities?.get("big")).toEqual({ kind: "bytes", bytes: 2n ** 64n - 1n });
    expect(capacities?.get("bad")).toEqual({ kind: "garbled", value: "5Gi" });
    expect(capacities?.get("empty")).toEqual({ kind: "garbled", value: "" });
  });

  it("reads the lowercase keys older releases and other tools send", () => {
    const args = parseExtenderArgs({ pod, nodenames: ["a", "b"] });
    expect(args.pod.name).toBe("web");
    expect(args.nodes).toBeUndefined();
    expect(args.nodeNames).toEqual(["a", "b"]);
  });

  it("matches keys case-insensitively, preferring the exact Go name when a body has two spellings", () => {
    const args = parseExtenderArgs({ POD: pod, nodeNames: ["x"], NODENAMES: ["y"], NodeNames: ["z"] });
    expect(args.pod.name).toBe("web");
    expect(args.nodeNames).toEqual(["z"]);
  });

  it("takes the first of other spellings when the exact one is missing", () => {
    expect(parseExtenderArgs({ Pod: pod, nodenames: ["x"], NODENAMES: ["y"] }).nodeNames).toEqual(["x"]);
  });

  it("matches the fields of the Pod, the NodeList and each Node case-insensitively, as Go's decoder does", () => {
    const args = parseExtenderArgs({
      pod: { METADATA: { Name: "web", NameSpace: "ns", Annotations: pod.metadata.annotations } },
      NODES: { Items: [{ Metadata: { NAME: "a", annotations: nodeA.metadata.annotations } }] },
    });
    expect(args.pod).toEqual({ name: "web", namespace: "ns", annotations: pod.metadata.annotations });
    expect(args.nodes?.map((node) => [node.name, node.capacities.get("ssd")])).toEqual([["a", { kind: "bytes", bytes: 2n }]]);
  });

  it("folds the long s onto s as Go does, and no other letter beyond ASCII", () => {
    expect(parseExtenderArgs({ Pod: pod, "NodeName\u017f": ["a"] }).nodeNames).toEqual(["a"]);
    expect(() => parseExtenderArgs({ Pod: pod, "N\u00f6deNames": ["a"] })).toThrow("one of Nodes or NodeNames is required");
  });

  it("ignores unknown fields", () => {
    const args = parseExtenderArgs({ Pod: { ...pod, spec: { weird: true } }, NodeNames: ["a"], Extra: 1 });
    expect(args.nodeNames).toEqual(["a"]);
  });

  it("takes a null NodeList items (Go's empty slice) as no nodes", () => {
    expect(parseExtenderArgs({ Pod: pod, Nodes: { metadata: {}, items: null } }).nodes?.length).toBe(0);
  });

  it("accepts a pod without metadata as one that requests nothing", () => {
    expect(parseExtenderArgs({ Pod: {}, NodeNames: [] }).pod).toEqual({
      name: undefined,
      namespace: undefined,
      annotations: undefined,
    });
  });

  it.each(["{bad", '{"Pod": {}, "NodeNames": [] } x', '{"Pod": {}, "NodeNames": ["a\\qb"]}', '{"Pod": {"a": 01}}'])("rejects malformed JSON %#", (text) => {
    expect(() => parseText(text)).toThrow(JsonSyntaxError);
  });

  it.each([
    { body: null, message: "request body must be a JSON object (ExtenderArgs)" },
    { body: [], message: "request body must be a JSON object (ExtenderArgs)" },
    { body: { Nodes: { items: [] } }, message: "Pod is missing" },
    { body: { Pod: "web", NodeNames: [] }, message: "Pod must be a Pod object" },
    { body: { Pod: { metadata: [] }, NodeNames: [] }, message: "Pod.metadata must be an object" },
    { body: { Pod: { metadata: { name: 3 } }, NodeNames: [] }, message: "Pod.metadata.name must be a string" },
    {
      body: { Pod: { metadata: { annotations: { a: 1 } } }, NodeNames: [] },
      message: 'Pod.metadata.annotations["a"] must be a string',
    },
    { body: { Pod: pod }, message: "one of Nodes or NodeNames is required" },
    { body: { Pod: pod, Nodes: [] }, message: "Nodes must be a NodeList object" },
    { body: { Pod: pod, Nodes: { items: {} } }, message: "Nodes.items must be an array" },
    { body: { Pod: pod, Nodes: { items: [nodeA, 7] } }, message: "Nodes.items[1] must be a Node object" },
    { body: { Pod: pod, Nodes: { items: [{ metadata: {} }] } }, message: "Nodes.items[0].metadata.name must be a non-empty string" },
    {
      body: { Pod: pod, Nodes: { items: [{ metadata: { name: "a", annotations: "x" } }] } },
      message: "Nodes.items[0].metadata.annotations must be an object",
    },
    { body: { Pod: pod, NodeNames: "a" }, message: "NodeNames must be an array of node names" },
    { body: { Pod: pod, NodeNames: ["a", ""] }, message: "NodeNames[1] must be a non-empty string" },
  ])("rejects $body with “$message”", ({ body, message }) => {
    expect(() => parseExtenderArgs(body)).toThrow(new ExtenderArgsError(message));
  });
});
