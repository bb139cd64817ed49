import type { CapacityRequest, NodeCapacities } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";

/** Nodes that fit a pod, in the order given, and the reason each other node does not. */
export interface FilterOutcome<T extends CandidateNode> {
  readonly passed: T[];
  readonly failed: Map<string, string>;
}

/**
 * One request's check of many nodes. Reasons are worded once per request, not per node, and a node's verdict is a
 * number: 0 when it fits, else the code of its reason, `reasons[code - 1]`.
 */
export interface UnfitChecker {
  readonly reasons: readonly string[];
  verdictOf(nodeCapacities: NodeCapacities): number;
}

/** A requested device-class with the codes of the reasons a node can fail it. */
interface CheckedClass {
  readonly deviceClass: string;
  readonly requestedBytes: bigint;
  readonly missing: number;
  readonly garbled: number;
  readonly short: number;
}

function firstUnfit(classes: readonly CheckedClass[], nodeCapacities: NodeCapacities): number {
  for (const checked of classes) {
    const capacity = nodeCapacities.get(checked.deviceClass);
    if (capacity.kind === "missing") {
      return checked.missing;
    }
    if (capacity.kind === "garbled") {
      return checked.garbled;
    }
    if (capacity.bytes < checked.requestedBytes) {
      return checked.short;
    }
  }
  return 0;
}

/**
 * The checker of a request: a node fits when, for every requested device-class, its capacity annotation is at least
 * the request; an empty request fits every node. Reasons name TopoLVM and the device-class but no byte counts, so
 * kube-scheduler's FailedScheduling event can count nodes that failed for the same reason.
 */
export function unfitCheckerOf(request: CapacityRequest): UnfitChecker {
  const reasons: string[] = [];
  const codeOf = (reason: string): number => reasons.push(reason);
  const classes = [...request].map(([deviceClass, requestedBytes]): CheckedClass => ({
    deviceClass,
    requestedBytes,
    missing: codeOf(`TopoLVM: node has no capacity annotation for device-class "${deviceClass}"`),
    garbled: codeOf(`TopoLVM: node capacity annotation for device-class "${deviceClass}" is not a decimal byte count`),
    short: codeOf(`TopoLVM: not enough free space in device-class "${deviceClass}"`),
  }));
  return { reasons, verdictOf: (nodeCapacities) => firstUnfit(classes, nodeCapacities) };
}

/** Why a node cannot hold the request (see unfitCheckerOf), or undefined when it can. */
function unfitReasonOf(request: CapacityRequest): (nodeCapacities: NodeCapacities) => string | undefined {
  const checker = unfitCheckerOf(request);
  return (nodeCapacities) => checker.reasons[checker.verdictOf(nodeCapacities) - 1];
}

/** Splits the candidate nodes into those with room for the request and those without; an empty request fits all. */
export function filter<T extends CandidateNode>(request: CapacityRequest, nodes: readonly T[]): FilterOutcome<T> {
  const reasonOf = unfitReasonOf(request);
  const passed: T[] = [];
  const failed = new Map<string, string>();
  for (const node of nodes) {
    const reason = reasonOf(node.capacities);
    if (reason === undefined) {
      passed.push(node);
    } else {
      failed.set(node.name, reason);
    }
  }
  return { passed, failed };
}
