import type { CapacityRequest, NodeCapacities } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";

/** Nodes that fit a pod, in the order given, and the reason each other node does not. */
export interface FilterOutcome<T extends CandidateNode> {
  readonly passed: T[];
  readonly failed: Map<string, string>;
}

/** A requested device-class with the reasons a node can fail it, worded once per request rather than per node. */
interface WordedClass {
  readonly deviceClass: string;
  readonly requestedBytes: bigint;
  readonly requestedNumber: number;
  readonly missing: string;
  readonly garbled: string;
  readonly short: string;
}

function wordedClassesOf(request: CapacityRequest): WordedClass[] {
  return [...request].map(([deviceClass, requestedBytes]) => ({
    deviceClass,
    requestedBytes,
    requestedNumber: Number(requestedBytes),
    missing: `TopoLVM: node has no capacity annotation for device-class "${deviceClass}"`,
    garbled: `TopoLVM: node capacity annotation for device-class "${deviceClass}" is not a decimal byte count`,
    short: `TopoLVM: not enough free space in device-class "${deviceClass}"`,
  }));
}

const exactDoubles = 2 ** 53;

/** Whether the capacity is below the request, comparing doubles while both are exact and BigInts above. */
function hasLess(capacity: { readonly bytes: bigint; readonly bytesNumber: number }, worded: WordedClass): boolean {
  if (capacity.bytesNumber < exactDoubles && worded.requestedNumber < exactDoubles) {
    return capacity.bytesNumber < worded.requestedNumber;
  }
  return capacity.bytes < worded.requestedBytes;
}

function firstUnfit(classes: readonly WordedClass[], nodeCapacities: NodeCapacities): string | undefined {
  for (const worded of classes) {
    const capacity = nodeCapacities.get(worded.deviceClass);
    switch (capacity.kind) {
      case "missing":
        return worded.missing;
      case "garbled":
        return worded.garbled;
      case "bytes":
        if (hasLess(capacity, worded)) {
          return worded.short;
        }
    }
  }
  return undefined;
}

/**
 * Why a node cannot hold a pod's request, or undefined when it can: for every requested device-class the node's
 * capacity annotation must be at least the request. Reasons name TopoLVM and the device-class but no byte counts, so
 * kube-scheduler's FailedScheduling event can count nodes that failed for the same reason.
 */
export function unfitReason(request: CapacityRequest, nodeCapacities: NodeCapacities): string | undefined {
  return unfitReasonOf(request)(nodeCapacities);
}

/** unfitReason for many nodes and one request, its reasons worded once; an empty request fits every node. */
export function unfitReasonOf(request: CapacityRequest): (nodeCapacities: NodeCapacities) => string | undefined {
  const classes = wordedClassesOf(request);
  return (nodeCapacities) => firstUnfit(classes, nodeCapacities);
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
