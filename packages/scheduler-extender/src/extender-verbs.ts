import { CapacityRequestError, capacityRequestOf, type CapacityRequest } from "./capacity.js";
import type { BufferPool } from "./buffer-pool.js";
import type { CandidateNode } from "./candidate-node.js";
import type { Divisors } from "./divisors.js";
import type { ExtenderArgs, NodeNameList, NodeObject } from "./extender-args.js";
import { unfitReasonOf } from "./filter.js";
import { createJsonWriter, type JsonWriter } from "./json-writer.js";
import type { NameLookup } from "./name-index.js";
import { nodeScoreOf } from "./prioritize.js";
import { minScore } from "./score.js";

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

/** The nodes a request offered, in its order, as an answer names them. */
interface OfferedNodes {
  readonly length: number;
  /** Writes node `index`'s name as a JSON string. */
  writeName(writer: JsonWriter, index: number): void;
  /** About the bytes the names take as JSON strings, to size an answer. */
  readonly textLength: number;
}

/**
 * A filter verb's answer, which encodeFilterResult writes as kube-scheduler's ExtenderFilterResult with the Go field
 * names it decodes (k8s.io/kube-scheduler/extender/v1 has no JSON tags). Every rejection goes to
 * FailedAndUnresolvableNodes: evicting pods frees no LVM space (their volumes stay), and kube-scheduler's preemption
 * does not consult the extender, so marking them resolvable would only make it try preemptions that cannot help.
 */
export interface FilterVerdicts {
  readonly offered: OfferedNodes;
  /** Why each offered node does not fit, or undefined where it does. */
  readonly reasons: readonly (string | undefined)[];
  /** With full-object requests, each offered Node's JSON text as it arrived: those that fit are echoed back. */
  readonly items: readonly Buffer[] | undefined;
  /** Whether the answer lists the names of the nodes that fit (names-only requests, full objects sent with names). */
  readonly withNames: boolean;
  readonly error: string;
}

/** A prioritize verb's answer, which encodeHostPriorities writes as kube-scheduler's HostPriorityList. */
export interface NodePriorities {
  readonly offered: OfferedNodes;
  /** Each offered node's score, 0-10. */
  readonly scores: Uint8Array;
}

const noNames: NodeNameList = {
  length: 0,
  textLength: 0,
  resolve: () => [],
  writeName: () => undefined,
};

const emptyLookup: NameLookup<CandidateNode> = { get: () => undefined, getByUtf8: () => undefined };

const notInCacheReason = "TopoLVM: node is not in topolvm-scheduler's node cache";

function errorResult(error: string): FilterVerdicts {
  return { offered: noNames, reasons: [], items: undefined, withNames: false, error };
}

function offeredObjects(nodes: readonly NodeObject[]): OfferedNodes {
  return {
    length: nodes.length,
    textLength: nodes.reduce((sum, node) => sum + node.name.length + 2, 0),
    writeName: (writer, index) => {
      writer.string(nodes[index]?.name ?? "");
    },
  };
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
): FilterVerdicts {
  const fitsAll = { offered: nodeNames, items: undefined, withNames: true, error: "" };
  if (request.size === 0) {
    return { ...fitsAll, reasons: new Array<undefined>(nodeNames.length).fill(undefined) };
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
  const reasonOf = unfitReasonOf(request);
  const reasons = nodeNames
    .resolve(nodeCache)
    .map((node) => (typeof node === "string" ? notInCacheReason : reasonOf(node.capacities)));
  return { ...fitsAll, reasons };
}

/** The filter verb (`/predicate`): keeps the nodes whose free capacity covers the pod's request in every class. */
export function predicateVerb(args: ExtenderArgs, context: ExtenderContext): FilterVerdicts {
  const request = requestOf(args);
  if (typeof request === "string") {
    return errorResult(request);
  }
  if (args.nodes === undefined) {
    return filterByName(request, args.nodeNames ?? noNames, context.nodeCache);
  }
  const reasonOf = unfitReasonOf(request);
  return {
    offered: offeredObjects(args.nodes),
    reasons: args.nodes.map((node) => reasonOf(node.capacities)),
    items: args.nodes.map((node) => node.raw),
    withNames: args.nodeNames !== undefined,
    error: "",
  };
}

/** Writes the offered nodes whose reason is (`fit`) or is not undefined as a JSON array, each with `write`. */
function writeEach(
  writer: JsonWriter,
  reasons: readonly (string | undefined)[],
  fit: boolean,
  write: (index: number, reason: string | undefined) => void,
): void {
  let first = true;
  for (let index = 0; index < reasons.length; index++) {
    const reason = reasons[index];
    if ((reason === undefined) === fit) {
      if (!first) {
        writer.raw(",");
      }
      first = false;
      write(index, reason);
    }
  }
}

/**
 * Encodes an answer of the filter verb as JSON into a buffer from `pool`, splicing in the Nodes' JSON text and the
 * node names as they arrived. The caller releases the buffer to the pool once the answer is sent.
 */
export function encodeFilterResult(result: FilterVerdicts, pool: BufferPool): Buffer {
  const { offered, reasons, items } = result;
  // Thousands of nodes share a handful of reasons: each is encoded once.
  const encoded = new Map<string, Buffer>();
  let reasonBytes = 0;
  for (const reason of reasons) {
    if (reason !== undefined) {
      let bytes = encoded.get(reason);
      if (bytes === undefined) {
        bytes = Buffer.from(JSON.stringify(reason));
        encoded.set(reason, bytes);
      }
      reasonBytes += bytes.length + 1;
    }
  }
  const itemBytes = (items ?? []).reduce((sum, item) => sum + item.length + 1, 0);
  const writer = createJsonWriter(itemBytes + offered.textLength + reasonBytes + result.error.length + 128, pool);
  writer.raw("{");
  if (items !== undefined) {
    writer.raw('"Nodes":{"items":[');
    writeEach(writer, reasons, true, (index) => {
      const item = items[index] ?? Buffer.alloc(0);
      writer.bytes(item, 0, item.length);
    });
    writer.raw("]},");
  }
  if (result.withNames) {
    writer.raw('"NodeNames":[');
    writeEach(writer, reasons, true, (index) => {
      offered.writeName(writer, index);
    });
    writer.raw("],");
  }
  writer.raw('"FailedNodes":{},"FailedAndUnresolvableNodes":{');
  writeEach(writer, reasons, false, (index, reason) => {
    offered.writeName(writer, index);
    writer.raw(":");
    const bytes = encoded.get(reason ?? "") ?? Buffer.alloc(0);
    writer.bytes(bytes, 0, bytes.length);
  });
  writer.raw('},"Error":');
  writer.string(result.error);
  writer.raw("}");
  return writer.finish();
}

/** Encodes an answer of the prioritize verb as a HostPriorityList into a buffer from `pool`, as encodeFilterResult. */
export function encodeHostPriorities(priorities: NodePriorities, pool: BufferPool): Buffer {
  const { offered, scores } = priorities;
  const writer = createJsonWriter(offered.textLength + 22 * offered.length + 2, pool);
  writer.raw("[");
  for (let index = 0; index < offered.length; index++) {
    writer.raw(index === 0 ? '{"Host":' : ',{"Host":');
    offered.writeName(writer, index);
    writer.raw(',"Score":');
    writer.integer(scores[index] ?? 0);
    writer.raw("}");
  }
  writer.raw("]");
  return writer.finish();
}

/**
 * The prioritize verb (`/prioritize`): scores every candidate node 0–10 by free capacity. A pod whose capacity
 * annotations cannot be read gets 0 everywhere (the filter verb already refused it with the reason); a node the cache
 * does not know scores 0.
 */
export function prioritizeVerb(args: ExtenderArgs, context: ExtenderContext): NodePriorities {
  const request = requestOf(args);
  const scoreOf = nodeScoreOf(typeof request === "string" ? new Map() : request, context.divisors);
  if (args.nodes !== undefined) {
    return { offered: offeredObjects(args.nodes), scores: Uint8Array.from(args.nodes, (node) => scoreOf(node.capacities)) };
  }
  const nodeNames = args.nodeNames ?? noNames;
  const nodes = nodeNames.resolve(context.nodeCache ?? emptyLookup);
  return {
    offered: nodeNames,
    scores: Uint8Array.from(nodes, (node) => (typeof node === "string" ? minScore : scoreOf(node.capacities))),
  };
}
