import { CapacityRequestError, capacityRequestOf, nodeCapacitiesOf, type CapacityRequest } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import type { Divisors } from "./divisors.js";
import { parseExtenderArgs, type ExtenderArgs, type PodInfo } from "./extender-args.js";
import { filter } from "./filter.js";
import { prioritize } from "./prioritize.js";

/** Where names-only requests (`nodeCacheCapable: true`) find the nodes' annotations: the node informer. */
export interface NodeCapacitySource {
  get(name: string): CandidateNode | undefined;
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
 * kube-scheduler's ExtenderFilterResult with the Go field names it decodes (k8s.io/kube-scheduler/extender/v1 has
 * no JSON tags). Every rejection goes to FailedAndUnresolvableNodes: evicting pods frees no LVM space (their volumes
 * stay), and kube-scheduler's preemption does not consult the extender, so marking them resolvable would only make
 * it try preemptions that cannot help.
 */
export interface ExtenderFilterResult {
  readonly Nodes?: { readonly items: readonly unknown[] };
  readonly NodeNames?: readonly string[];
  readonly FailedNodes: Readonly<Record<string, string>>;
  readonly FailedAndUnresolvableNodes: Readonly<Record<string, string>>;
  readonly Error: string;
}

/** One entry of kube-scheduler's HostPriorityList. */
export interface ExtenderHostPriority {
  readonly Host: string;
  readonly Score: number;
}

/** The reason of a name the node cache does not know. */
const notInCacheReason = "TopoLVM: node is not in topolvm-scheduler's node cache";

/**
 * The failed nodes as the members of a JSON object. An object without a prototype starts out as a dictionary, so
 * thousands of names go in without the shape changes Object.fromEntries goes through, and a node named `__proto__`
 * is a member like any other.
 */
function failedNodesOf(failed: ReadonlyMap<string, string>): Record<string, string> {
  const members = Object.create(null) as Record<string, string>;
  for (const [name, reason] of failed) {
    members[name] = reason;
  }
  return members;
}

/** The filter verb's answer when it cannot judge any node. */
export function filterError(error: string): ExtenderFilterResult {
  return { FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: error };
}

/** The pod's request, or the error message to answer with when one of its capacity annotations is garbled. */
export function requestOf(pod: PodInfo): CapacityRequest | string {
  try {
    return capacityRequestOf(pod.annotations);
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
    return { NodeNames: nodeNames, FailedNodes: {}, FailedAndUnresolvableNodes: {}, Error: "" };
  }
  if (nodeCache === undefined) {
    return filterError(
      "TopoLVM: kube-scheduler sent only NodeNames (nodeCacheCapable: true) but topolvm-scheduler runs without a node " +
        "cache; start it with --kubeconfig or --in-cluster, or set nodeCacheCapable: false",
    );
  }
  if (!nodeCache.synced()) {
    return filterError("TopoLVM: topolvm-scheduler's node cache has not synced with the API server yet");
  }
  const known: CandidateNode[] = [];
  const unknown: string[] = [];
  for (const name of nodeNames) {
    const node = nodeCache.get(name);
    if (node === undefined) {
      unknown.push(name);
    } else {
      known.push(node);
    }
  }
  const { passed, failed } = filter(request, known);
  for (const name of unknown) {
    failed.set(name, notInCacheReason);
  }
  return {
    NodeNames: passed.map((node) => node.name),
    FailedNodes: {},
    FailedAndUnresolvableNodes: failedNodesOf(failed),
    Error: "",
  };
}

/** The filter verb (`/predicate`): keeps the nodes whose free capacity covers the pod's request in every class. */
export function predicateVerb(args: ExtenderArgs, context: ExtenderContext): ExtenderFilterResult {
  const request = requestOf(args.pod);
  if (typeof request === "string") {
    return filterError(request);
  }
  const { nodes } = args;
  if (nodes === undefined) {
    return filterByName(request, args.nodeNames ?? [], context.nodeCache);
  }
  const { passed, failed } = filter(request, nodes);
  return {
    Nodes: { items: passed.map((node) => node.object) },
    ...(args.nodeNames === undefined ? {} : { NodeNames: passed.map((node) => node.name) }),
    FailedNodes: {},
    FailedAndUnresolvableNodes: failedNodesOf(failed),
    Error: "",
  };
}

const noCapacities = nodeCapacitiesOf(undefined);

/**
 * The prioritize verb (`/prioritize`): scores every candidate node 0–10 by free capacity. A pod whose capacity
 * annotations cannot be read gets 0 everywhere (the filter verb already refused it with the reason); a node the cache
 * does not know scores 0.
 */
export function prioritizeVerb(args: ExtenderArgs, context: ExtenderContext): ExtenderHostPriority[] {
  const request = requestOf(args.pod);
  const nodes =
    args.nodes ?? (args.nodeNames ?? []).map((name) => context.nodeCache?.get(name) ?? { name, capacities: noCapacities });
  return prioritize(typeof request === "string" ? new Map() : request, nodes, context.divisors).map(({ host, score }) => ({
    Host: host,
    Score: score,
  }));
}

/** A verb's encoded answer to a request body, with what the request's log line tells of the request. */
export interface VerbAnswer {
  readonly body: Buffer;
  readonly pod: PodInfo;
  readonly nodeCount: number;
  /** Whether kube-scheduler sent full Node objects or only names (nodeCacheCapable). */
  readonly shape: "objects" | "names";
}

/** `answer` of the request `args` as JSON. */
export function encodedAnswer(args: ExtenderArgs, answer: ExtenderFilterResult | readonly ExtenderHostPriority[]): VerbAnswer {
  return {
    body: Buffer.from(JSON.stringify(answer)),
    pod: args.pod,
    nodeCount: args.nodes?.length ?? args.nodeNames?.length ?? 0,
    shape: args.nodes === undefined ? "names" : "objects",
  };
}

/** The filter verb over a request body, parsed with JSON.parse and answered with JSON.stringify. */
export function answerPredicate(body: Buffer, context: ExtenderContext): VerbAnswer {
  const args = parseExtenderArgs(body);
  return encodedAnswer(args, predicateVerb(args, context));
}

/** The prioritize verb over a request body, as answerPredicate. */
export function answerPrioritize(body: Buffer, context: ExtenderContext): VerbAnswer {
  const args = parseExtenderArgs(body);
  return encodedAnswer(args, prioritizeVerb(args, context));
}
