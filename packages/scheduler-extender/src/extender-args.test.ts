import { describe, expect, it } from "vitest";
import { createBufferPool } from "./buffer-pool.js";
import { freeGarbled, freeHuge, freeMissing } from "./capacity.js";
import { ExtenderArgsError, parseExtenderArgs as parseBytes, type NodeObjectList, type OfferedNodes } from "./extender-args.js";
import { JsonSyntaxError } from "./json-scan.js";
import { createJsonWriter } from "./json-writer.js";

/** Encodes a body the way kube-scheduler does, then parses it. */
function parseExtenderArgs(body: unknown) {
  return parseBytes(JSON.stringify(body));
}

function namesOf(nodes: OfferedNodes | undefined): string[] {
  return Array.from({ length: nodes?.length ?? 0 }, (_, index) => nodes?.name(index) ?? "");
}

const pool = createBufferPool(64);

/** Node `index`'s JSON text as the list writes it. */
function itemText(nodes: NodeObjectList | undefined, index: number): string {
  const writer = createJsonWriter(0, pool);
  nodes?.writeItem(writer, index);
  return writer.finish().toString();
}

const pod = { metadata: { name: "web", namespace: "default", annotations: { "capacity.topolvm.cybozu.com/ssd": "1" } } };
const nodeA = { metadata: { name: "a", annotations: { "capacity.topolvm.cybozu.com/ssd": "2" } }, status: { x: 1 } };

describe("parseExtenderArgs", () => {
  it("reads the Go field names kube-scheduler sends today", () => {
    const args = parseExtenderArgs({ Pod: pod, Nodes: { items: [nodeA] }, NodeNames: null });
    expect(args.pod).toEqual({ name: "web", namespace: "default", annotations: pod.metadata.annotations });
    expect(namesOf(args.nodes)).toEqual(["a"]);
    expect(args.nodes?.capacities(0).get("ssd")).toEqual({ kind: "bytes", bytes: 2n, bytesNumber: 2, gib: 0 });
    expect(JSON.parse(itemText(args.nodes, 0))).toEqual(nodeA);
    expect(args.nodeNames).toBeUndefined();
  });

  it("reads the capacity annotations of a Node among its others", () => {
    const node = { metadata: { name: "n", annotations: { "capacity.topolvm.cybozu.com/ssd": "1", "example.com/x": "y" } } };
    const capacities = parseExtenderArgs({ Pod: pod, Nodes: { items: [node] } }).nodes?.capacities(0);
    expect(capacities?.get("ssd")).toEqual({ kind: "bytes", bytes: 1n, bytesNumber: 1, gib: 0 });
  });

  it("reads several capacity annotations, the last of a key given twice", () => {
    const node = '{"metadata": {"name": "n", "annotations": {"capacity.topolvm.cybozu.com/ssd": "1", ' +
      '"capacity.topolvm.cybozu.com/hdd": "2", "capacity.topolvm.cybozu.com/ssd": "3"}}}';
    const capacities = parseBytes(`{"Pod": {}, "Nodes": {"items": [${node}]}}`).nodes?.capacities(0);
    expect([capacities?.get("ssd"), capacities?.get("hdd"), capacities?.get("nvme")]).toEqual([
      { kind: "bytes", bytes: 3n, bytesNumber: 3, gib: 0 },
      { kind: "bytes", bytes: 2n, bytesNumber: 2, gib: 0 },
      { kind: "missing" },
    ]);
    expect([capacities?.freeBytes("ssd"), capacities?.freeBytes("hdd"), capacities?.freeBytes("nvme")]).toEqual([3, 2, freeMissing]);
  });

  it("finds a capacity annotation whose key is written with escapes", () => {
    const node = '{"metadata": {"name": "n", "annotations": {"capacity.topolvm.cybozu.com\\/s\\u0073d": "7"}}}';
    const capacities = parseBytes(`{"Pod": {}, "Nodes": {"items": [${node}]}}`).nodes?.capacities(0);
    expect(capacities?.freeBytes("ssd")).toBe(7);
  });

  it("finds a capacity annotation of a device-class named beyond ASCII", () => {
    const node = { metadata: { name: "n", annotations: { "capacity.topolvm.cybozu.com/nvme-\u00e9": "5" } } };
    const capacities = parseExtenderArgs({ Pod: pod, Nodes: { items: [node] } }).nodes?.capacities(0);
    expect([capacities?.freeBytes("nvme-\u00e9"), capacities?.freeBytes("nvme-e")]).toEqual([5, freeMissing]);
  });

  it("reads byte counts past 15 digits and keeps garbled values to report", () => {
    const annotations = {
      "capacity.topolvm.cybozu.com/big": "18446744073709551615",
      "capacity.topolvm.cybozu.com/bad": "5Gi",
      "capacity.topolvm.cybozu.com/empty": "",
    };
    const node = { metadata: { name: "n", annotations } };
    const capacities = parseExtenderArgs({ Pod: pod, Nodes: { items: [node] } }).nodes?.capacities(0);
    expect(capacities?.get("big")).toMatchObject({ kind: "bytes", bytes: 2n ** 64n - 1n, gib: 2 ** 34 - 1 });
    expect(capacities?.get("bad")).toEqual({ kind: "garbled", value: "5Gi" });
    expect(capacities?.get("empty")).toEqual({ kind: "garbled", value: "" });
    expect(["big", "bad", "empty"].map((deviceClass) => capacities?.freeBytes(deviceClass))).toEqual([freeHuge, freeGarbled, freeGarbled]);
  });

  it("reads more Nodes and names than its records first have room for", () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ metadata: { name: `n${i}`, annotations: { "capacity.topolvm.cybozu.com/ssd": String(i) } } }));
    const nodes = parseExtenderArgs({ Pod: pod, Nodes: { items } }).nodes;
    expect(namesOf(nodes)).toEqual(items.map((item) => item.metadata.name));
    expect(nodes?.capacities(299).freeBytes("ssd")).toBe(299);
    const names = items.map((item) => item.metadata.name);
    expect(namesOf(parseExtenderArgs({ Pod: pod, NodeNames: names }).nodeNames)).toEqual(names);
  });

  it("visits every Node's capacities in order through one view", () => {
    const items = [1, 2, 3].map((free) => ({ metadata: { name: `n${free}`, annotations: { "capacity.topolvm.cybozu.com/ssd": String(free) } } }));
    const nodes = parseExtenderArgs({ Pod: pod, Nodes: { items } }).nodes;
    const seen: [number, number][] = [];
    nodes?.eachCapacities((capacities, index) => seen.push([index, capacities.freeBytes("ssd")]));
    expect(seen).toEqual([[0, 1], [1, 2], [2, 3]]);
  });

  it("reads the lowercase keys older releases and other tools send", () => {
    const args = parseExtenderArgs({ pod, nodenames: ["a", "b"] });
    expect(args.pod.name).toBe("web");
    expect(args.nodes).toBeUndefined();
    expect(namesOf(args.nodeNames)).toEqual(["a", "b"]);
  });

  it("matches keys case-insensitively, preferring the exact Go name when a body has two spellings", () => {
    const args = parseExtenderArgs({ POD: pod, nodeNames: ["x"], NODENAMES: ["y"], NodeNames: ["z"] });
    expect(args.pod.name).toBe("web");
    expect(namesOf(args.nodeNames)).toEqual(["z"]);
  });

  it("ignores unknown fields", () => {
    const args = parseExtenderArgs({ Pod: { ...pod, spec: { weird: true } }, NodeNames: ["a"], Extra: 1 });
    expect(namesOf(args.nodeNames)).toEqual(["a"]);
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

  it("keeps each Node's JSON text byte for byte, whitespace and escapes included", () => {
    const node = '{ "metadata" : {"name":"n\\u00e9", "annotations": {}} ,"status": {"x": [1, 2.5e3, true, null]} }';
    const args = parseBytes(` {"Pod": {}, "Nodes": {"items": [${node}, {"metadata":{"name":"m"}}]}} `);
    expect(namesOf(args.nodes)).toEqual(["n\u00e9", "m"]);
    expect(itemText(args.nodes, 0)).toBe(node);
  });

  it.each([
    "{bad",
    '{"Pod": {}, "NodeNames": []',
    '{"Pod": {}, "NodeNames": [] } x',
    '{"Pod": {} "NodeNames": []}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a"}} {}]}}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a\u0001"}, "status": tru}]}}',
    '{"Pod": {"a": 01}, "NodeNames": []}',
    '{"Pod": {"a": "unterminated}, "NodeNames": []}',
    `{"Pod": {}, "Nodes": ${"[".repeat(2000)}${"]".repeat(2000)}}`,
    '{"Pod": {}, "NodeNames": ["a\\qb"]}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a\\qb"}}]}}',
    '{"Pod": {"metadata": {"name": "p\\u12"}}, "NodeNames": ["a"]}',
  ])("rejects malformed JSON %#", (text) => {
    expect(() => parseBytes(text)).toThrow(JsonSyntaxError);
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
