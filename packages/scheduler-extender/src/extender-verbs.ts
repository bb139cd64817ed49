import { CapacityRequestError, capacityRequestOf, type CapacityRequest } from "./capacity.js";
import type { BufferPool } from "./buffer-pool.js";
import type { CandidateNode } from "./candidate-node.js";
import type { Divisors } from "./divisors.js";
import type { ExtenderArgs, NodeNameList, NodeObjectList, OfferedNodes } from "./extender-args.js";
import { unfitCheckerOf } from "./filter.js";
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

/**
 * A filter verb's answer, which encodeFilterResult writes as kube-scheduler's ExtenderFilterResult with the Go field
 * names it decodes (k8s.io/kube-scheduler/extender/v1 has no JSON tags). Every rejection goes to
 * FailedAndUnresolvableNodes: evicting pods frees no LVM space (their volumes stay), and kube-scheduler's preemption
 * does not consult the extender, so marking them resolvable would only make it try preemptions that cannot help.
 */
export interface FilterVerdicts {
  readonly offered: OfferedNodes;
  /** Each offered node's verdict: 0 where it fits, else the code of why not, `reasons[code - 1]`. */
  readonly verdicts: Uint16Array;
  readonly reasons: readonly string[];
  /** With full-object requests, the offered Nodes: those that fit are echoed back as they arrived. */
  readonly items: NodeObjectList | undefined;
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
  name: () => "",
  writeName: () => undefined,
  lookupEach: () => undefined,
};

const emptyLookup: NameLookup<CandidateNode> = { get: () => undefined, getByUtf8: () => undefined };

const notInCacheReason = "TopoLVM: node is not in topolvm-scheduler's node cache";

function errorResult(error: string): FilterVerdicts {
  return { offered: noNames, verdicts: new Uint16Array(0), reasons: [], items: undefined, withNames: false, error };
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
  const answer = (verdicts: Uint16Array, reasons: readonly string[]): FilterVerdicts => ({
    offered: nodeNames,
    verdicts,
    reasons,
    items: undefined,
    withNames: true,
    error: "",
  });
  if (request.size === 0) {
    return answer(new Uint16Array(nodeNames.length), []);
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
  const checker = unfitCheckerOf(request);
  const reasons = [...checker.reasons, notInCacheReason];
  const verdicts = new Uint16Array(nodeNames.length);
  nodeNames.lookupEach(nodeCache, (node, index) => {
    verdicts[index] = node === undefined ? reasons.length : checker.verdictOf(node.capacities);
  });
  return answer(verdicts, reasons);
}

/** The filter verb (`/predicate`): keeps the nodes whose free capacity covers the pod's request in every class. */
export function predicateVerb(args: ExtenderArgs, context: ExtenderContext): FilterVerdicts {
  const request = requestOf(args);
  if (typeof request === "string") {
    return errorResult(request);
  }
  const { nodes } = args;
  if (nodes === undefined) {
    return filterByName(request, args.nodeNames ?? noNames, context.nodeCache);
  }
  const checker = unfitCheckerOf(request);
  const verdicts = new Uint16Array(nodes.length);
  nodes.eachCapacities((capacities, index) => {
    verdicts[index] = checker.verdictOf(capacities);
  });
  return {
    offered: nodes,
    verdicts,
    reasons: checker.reasons,
    items: nodes,
    withNames: args.nodeNames !== undefined,
    error: "",
  };
}

/** Writes the offered nodes that fit (`fit`) or do not as a JSON array's elements, each with `write`. */
function writeEach(
  writer: JsonWriter,
  verdicts: Uint16Array,
  fit: boolean,
  write: (index: number, verdict: number) => void,
): void {
  let first = true;
  for (let index = 0; index < verdicts.length; index++) {
    const verdict = verdicts[index] ?? 0;
    if ((verdict === 0) === fit) {
      if (!first) {
        writer.raw(",");
      }
      first = false;
      write(index, verdict);
    }
  }
}

/**
 * Encodes an answer of the filter verb as JSON into a buffer from `pool`, splicing in the Nodes' JSON text and the
 * node names as they arrived. The caller releases the buffer to the pool once the answer is sent.
 */
export function encodeFilterResult(result: FilterVerdicts, pool: BufferPool): Buffer {
  const { offered, verdicts, items } = result;
  // Thousands of nodes share a handful of reasons: each is encoded once, at its code.
  const encoded = [Buffer.alloc(0), ...result.reasons.map((reason) => Buffer.from(JSON.stringify(reason)))];
  let reasonBytes = 0;
  for (const verdict of verdicts) {
    reasonBytes += (encoded[verdict]?.length ?? 0) + 1;
  }
  const writer = createJsonWriter(
    (items?.itemsLength ?? 0) + verdicts.length + offered.textLength + reasonBytes + result.error.length + 128,
    pool,
  );
  writer.raw("{");
  if (items !== undefined) {
    writer.raw('"Nodes":{"items":[');
    writeEach(writer, verdicts, true, (index) => {
      items.writeItem(writer, index);
    });
    writer.raw("]},");
  }
  if (result.withNames) {
    writer.raw('"NodeNames":[');
    writeEach(writer, verdicts, true, (index) => {
      offered.writeName(writer, index);
    });
    writer.raw("],");
  }
  writer.raw('"FailedNodes":{},"FailedAndUnresolvableNodes":{');
  writeEach(writer, verdicts, false, (index, verdict) => {
    offered.writeName(writer, index);
    writer.raw(":");
    const bytes = encoded[verdict] ?? Buffer.alloc(0);
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
  const { nodes } = args;
  if (nodes !== undefined) {
    const scores = new Uint8Array(nodes.length);
    nodes.eachCapacities((capacities, index) => {
      scores[index] = scoreOf(capacities);
    });
    return { offered: nodes, scores };
  }
  const nodeNames = args.nodeNames ?? noNames;
  const scores = new Uint8Array(nodeNames.length);
  nodeNames.lookupEach(context.nodeCache ?? emptyLookup, (node, index) => {
    scores[index] = node === undefined ? minScore : scoreOf(node.capacities);
  });
  return { offered: nodeNames, scores };
}
