import { CapacityRequestError, capacityRequestOf, nodeCapacitiesOf, type CapacityRequest } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import type { Divisors } from "./divisors.js";
import type { ExtenderArgs } from "./extender-args.js";
import { filter } from "./filter.js";
import { prioritize } from "./prioritize.js";

/** Where names-only requests (`nodeCacheCapable: true`) find the nodes' annotations: the node informer. */
export interface NodeCapacitySource {
  /** True once the first list from the API server is in. */
  synced(): boolean;
  get(name: string): CandidateNode | undefined;
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
  NodeNames?: string[];
  FailedNodes: Record<string, string>;
  FailedAndUnresolvableNodes: Record<string, string>;
  Error: string;
}

/** kube-scheduler's HostPriority, with its Go field names. */
export interface HostPriorityJson {
  Host: string;
  Score: number;
}

const noCapacities = nodeCapacitiesOf(undefined);

const notInCacheReason = "TopoLVM: node is not in topolvm-scheduler's node cache";

function errorResult(message: string): ExtenderFilterResult {
  return { FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: message };
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
  nodeNames: readonly string[],
  nodeCache: NodeCapacitySource | undefined,
): ExtenderFilterResult {
  if (request.size === 0) {
    return { NodeNames: [...nodeNames], FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
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
  const unresolvable: Record<string, string> = {};
  for (const name of nodeNames) {
    const node = nodeCache.get(name);
    if (node === undefined) {
      unresolvable[name] = notInCacheReason;
    } else {
      known.push(node);
    }
  }
  const outcome = filter(request, known);
  for (const [name, reason] of outcome.failed) {
    unresolvable[name] = reason;
  }
  return {
    NodeNames: outcome.passed.map((node) => node.name),
    FailedNodes: {},
    FailedAndUnresolvableNodes: unresolvable,
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
    return filterByName(request, args.nodeNames ?? [], context.nodeCache);
  }
  const outcome = filter(request, args.nodes);
  const result: ExtenderFilterResult = {
    Nodes: { items: outcome.passed.map((node) => node.raw) },
    FailedNodes: {},
    FailedAndUnresolvableNodes: Object.fromEntries(outcome.failed),
    Error: "",
  };
  if (args.nodeNames !== undefined) {
    result.NodeNames = outcome.passed.map((node) => node.name);
  }
  return result;
}

/** Encodes an ExtenderFilterResult as JSON into one buffer, splicing in the Nodes' JSON text as it arrived. */
export function encodeFilterResult(result: ExtenderFilterResult): Buffer {
  const items = result.Nodes?.items;
  const rest = {
    ...(result.NodeNames === undefined ? {} : { NodeNames: result.NodeNames }),
    FailedNodes: result.FailedNodes,
    FailedAndUnresolvableNodes: result.FailedAndUnresolvableNodes,
    Error: result.Error,
  };
  // JSON.stringify(rest) starts with "{": after the Nodes, "]}," takes its place to continue the object.
  const head = items === undefined ? "" : '{"Nodes":{"items":[';
  const tail = Buffer.from((items === undefined ? "{" : "]},") + JSON.stringify(rest).slice(1));
  const itemBytes = (items ?? []).reduce((sum, item) => sum + item.length, 0);
  const separators = Math.max(0, (items?.length ?? 0) - 1);
  const out = Buffer.allocUnsafe(head.length + itemBytes + separators + tail.length);
  let offset = out.write(head, 0, "latin1");
  (items ?? []).forEach((item, index) => {
    if (index > 0) {
      offset = out.writeUInt8(0x2c, offset);
    }
    offset += item.copy(out, offset);
  });
  tail.copy(out, offset);
  return out;
}

/**
 * The prioritize verb (`/prioritize`): scores every candidate node 0–10 by free capacity. A pod whose capacity
 * annotations cannot be read gets 0 everywhere (the filter verb already refused it with the reason); a node the cache
 * does not know scores 0.
 */
export function prioritizeVerb(args: ExtenderArgs, context: ExtenderContext): HostPriorityJson[] {
  const nodes: readonly CandidateNode[] =
    args.nodes ??
    (args.nodeNames ?? []).map((name) => context.nodeCache?.get(name) ?? { name, capacities: noCapacities });
  const request = requestOf(args);
  const scored = prioritize(typeof request === "string" ? new Map() : request, nodes, context.divisors);
  return scored.map(({ host, score }) => ({ Host: host, Score: score }));
}
