import { CapacityRequestError, capacityRequestOf, nodeCapacitiesOf, type CapacityRequest } from "./capacity.js";
import type { BufferPool } from "./buffer-pool.js";
import type { CandidateNode } from "./candidate-node.js";
import type { Divisors } from "./divisors.js";
import type { ExtenderArgs, NodeNameList } from "./extender-args.js";
import { filter } from "./filter.js";
import { createJsonWriter, type JsonWriter } from "./json-writer.js";
import type { NameLookup } from "./name-index.js";
import { prioritize, type HostPriority } from "./prioritize.js";

/** Where names-only requests (`nodeCacheCapable: true`) find the nodes' annotations: the node informer. */
export interface NodeCapacitySource extends NameLookup<CandidateNode> {
  /** True once the first list from the API server is in. */
  synced(): boolean;
}

/** What the verbs need besides the request. */
export interface ExtenderContext {
  readonly divisors: Divisors;
  /** Undefined when the extender runs without a node cache and so serves only full-object requests. */
  readonly nodeCache: NodeCapacitySource | undefined;
}

/**
 * kube-scheduler's ExtenderFilterResult with the Go field names it encodes (k8s.io/kube-scheduler/extender/v1 has no
 * JSON tags). Every rejection goes to FailedAndUnresolvableNodes: evicting pods frees no LVM space (their volumes stay),
 * and kube-scheduler's preemption does not consult the extender, so marking them resolvable would only make it try
 * preemptions that cannot help.
 */
export interface ExtenderFilterResult {
  /** The fitting Nodes as the JSON text they arrived in. */
  Nodes?: { items: Buffer[] };
  NodeNames?: readonly string[];
  FailedNodes: ReadonlyMap<string, string>;
  FailedAndUnresolvableNodes: ReadonlyMap<string, string>;
  Error: string;
}

const noCapacities = nodeCapacitiesOf(undefined);

const emptyLookup: NameLookup<CandidateNode> = { get: () => undefined, getByUtf8: () => undefined };

const noNames: NodeNameList = { length: 0, decode: () => [], resolve: () => [] };

const notInCacheReason = "TopoLVM: node is not in topolvm-scheduler's node cache";

const noNodes: ReadonlyMap<string, string> = new Map();

function errorResult(message: string): ExtenderFilterResult {
  return { FailedNodes: noNodes, FailedAndUnresolvableNodes: noNodes, Error: message };
}

/** The pod's request, or the error message to answer with when one of its capacity annotations is garbled. */
function requestOf(args: ExtenderArgs): CapacityRequest | string {
  try {
    return capacityRequestOf(args.pod.annotations);
  } catch (error) {
    if (error instanceof CapacityRequestError) {
      return error.message;
    }
    throw error;
  }
}

function filterByName(
  request: CapacityRequest,
  nodeNames: NodeNameList,
  nodeCache: NodeCapacitySource | undefined,
): ExtenderFilterResult {
  if (request.size === 0) {
    return { NodeNames: nodeNames.decode(), FailedNodes: noNodes, FailedAndUnresolvableNodes: noNodes, Error: "" };
  }
  if (nodeCache === undefined) {
    return errorResult(
      "TopoLVM: kube-scheduler sent only NodeNames (nodeCacheCapable: true) but topolvm-scheduler runs without a node " +
        "cache; start it with --kubeconfig or --in-cluster, or set nodeCacheCapable: false",
    );
  }
  if (!nodeCache.synced()) {
    return errorResult("TopoLVM: topolvm-scheduler's node cache has not synced with the API server yet");
  }
  const known: CandidateNode[] = [];
  const unknown: string[] = [];
  for (const node of nodeNames.resolve(nodeCache)) {
    if (typeof node === "string") {
      unknown.push(node);
    } else {
      known.push(node);
    }
  }
  const outcome = filter(request, known);
  for (const name of unknown) {
    outcome.failed.set(name, notInCacheReason);
  }
  return {
    NodeNames: outcome.passed.map((node) => node.name),
    FailedNodes: noNodes,
    FailedAndUnresolvableNodes: outcome.failed,
    Error: "",
  };
}

/** The filter verb (`/predicate`): keeps the nodes whose free capacity covers the pod's request in every class. */
export function predicateVerb(args: ExtenderArgs, context: ExtenderContext): ExtenderFilterResult {
  const request = requestOf(args);
  if (typeof request === "string") {
    return errorResult(request);
  }
  if (args.nodes === undefined) {
    return filterByName(request, args.nodeNames ?? noNames, context.nodeCache);
  }
  const outcome = filter(request, args.nodes);
  const result: ExtenderFilterResult = {
    Nodes: { items: outcome.passed.map((node) => node.raw) },
    FailedNodes: noNodes,
    FailedAndUnresolvableNodes: outcome.failed,
    Error: "",
  };
  if (args.nodeNames !== undefined) {
    result.NodeNames = outcome.passed.map((node) => node.name);
  }
  return result;
}

function writeNames(writer: JsonWriter, names: readonly string[]): void {
  writer.raw("[");
  names.forEach((name, index) => {
    if (index > 0) {
      writer.raw(",");
    }
    writer.string(name);
  });
  writer.raw("]");
}

function writeReasons(writer: JsonWriter, reasons: ReadonlyMap<string, string>): void {
  // Thousands of nodes share a handful of reasons: each is encoded once.
  const encoded = new Map<string, Buffer>();
  writer.raw("{");
  let first = true;
  reasons.forEach((reason, name) => {
    if (!first) {
      writer.raw(",");
    }
    first = false;
    writer.string(name);
    writer.raw(":");
    let bytes = encoded.get(reason);
    if (bytes === undefined) {
      bytes = Buffer.from(JSON.stringify(reason));
      encoded.set(reason, bytes);
    }
    writer.bytes(bytes, 0, bytes.length);
  });
  writer.raw("}");
}

function textLength(strings: Iterable<string>): number {
  let length = 0;
  for (const text of strings) {
    length += text.length + 3;
  }
  return length;
}

/**
 * Encodes an ExtenderFilterResult as JSON into a buffer from `pool`, splicing in the Nodes' JSON text as it arrived.
 * The caller releases the buffer to the pool once the answer is sent.
 */
export function encodeFilterResult(result: ExtenderFilterResult, pool: BufferPool): Buffer {
  const items = result.Nodes?.items ?? [];
  const reasons = [result.FailedNodes, result.FailedAndUnresolvableNodes];
  const expectedBytes =
    items.reduce((sum, item) => sum + item.length + 1, 0) +
    textLength(result.NodeNames ?? []) +
    reasons.reduce((sum, map) => sum + textLength(map.keys()) + textLength(map.values()), 0) +
    result.Error.length +
    128;
  const writer = createJsonWriter(expectedBytes, pool);
  writer.raw("{");
  if (result.Nodes !== undefined) {
    writer.raw('"Nodes":{"items":[');
    items.forEach((item, index) => {
      if (index > 0) {
        writer.raw(",");
      }
      writer.bytes(item, 0, item.length);
    });
    writer.raw("]},");
  }
  if (result.NodeNames !== undefined) {
    writer.raw('"NodeNames":');
    writeNames(writer, result.NodeNames);
    writer.raw(",");
  }
  writer.raw('"FailedNodes":');
  writeReasons(writer, result.FailedNodes);
  writer.raw(',"FailedAndUnresolvableNodes":');
  writeReasons(writer, result.FailedAndUnresolvableNodes);
  writer.raw(',"Error":');
  writer.string(result.Error);
  writer.raw("}");
  return writer.finish();
}

/** Encodes a HostPriorityList with kube-scheduler's Go field names into a buffer from `pool`, as encodeFilterResult. */
export function encodeHostPriorities(priorities: readonly HostPriority[], pool: BufferPool): Buffer {
  const writer = createJsonWriter(
    priorities.reduce((sum, { host }) => sum + host.length + 24, 2),
    pool,
  );
  writer.raw("[");
  priorities.forEach(({ host, score }, index) => {
    writer.raw(index === 0 ? '{"Host":' : ',{"Host":');
    writer.string(host);
    writer.raw(',"Score":');
    writer.integer(score);
    writer.raw("}");
  });
  writer.raw("]");
  return writer.finish();
}

/**
 * The prioritize verb (`/prioritize`): scores every candidate node 0–10 by free capacity. A pod whose capacity
 * annotations cannot be read gets 0 everywhere (the filter verb already refused it with the reason); a node the cache
 * does not know scores 0.
 */
export function prioritizeVerb(args: ExtenderArgs, context: ExtenderContext): HostPriority[] {
  const nodes: readonly CandidateNode[] =
    args.nodes ??
    (args.nodeNames ?? noNames)
      .resolve(context.nodeCache ?? emptyLookup)
      .map((node) => (typeof node === "string" ? { name: node, capacities: noCapacities } : node));
  const request = requestOf(args);
  return prioritize(typeof request === "string" ? new Map() : request, nodes, context.divisors);
}
