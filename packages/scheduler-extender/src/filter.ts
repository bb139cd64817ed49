import type { CapacityRequest, NodeCapacities } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";

/** Nodes that fit a pod, in the order given, and the reason each other node does not. */
export interface FilterOutcome<T extends CandidateNode> {
  readonly passed: T[];
  readonly failed: Map<string, string>;
}

/**
 * Why a node cannot hold a pod's request, or undefined when it can: for every requested device-class the node's
 * capacity annotation must be at least the request. Reasons name TopoLVM and the device-class but no byte counts, so
 * kube-scheduler's FailedScheduling event can count nodes that failed for the same reason.
 */
export function unfitReason(
  request: CapacityRequest,
  nodeCapacities: NodeCapacities,
): string | undefined {
  for (const [deviceClass, requestedBytes] of request) {
    const capacity = nodeCapacities.get(deviceClass);
    switch (capacity.kind) {
      case "missing":
        return `TopoLVM: node has no capacity annotation for device-class "${deviceClass}"`;
      case "garbled":
        return `TopoLVM: node capacity annotation for device-class "${deviceClass}" is not a decimal byte count`;
      case "bytes":
        if (capacity.bytes < requestedBytes) {
          return `TopoLVM: not enough free space in device-class "${deviceClass}"`;
        }
    }
  }
  return undefined;
}

/** Splits the candidate nodes into those with room for the request and those without; an empty request fits all. */
export function filter<T extends CandidateNode>(request: CapacityRequest, nodes: readonly T[]): FilterOutcome<T> {
  if (request.size === 0) {
    return { passed: [...nodes], failed: new Map() };
  }
  const passed: T[] = [];
  const failed = new Map<string, string>();
  for (const node of nodes) {
    const reason = unfitReason(request, node.capacities);
    if (reason === undefined) {
      passed.push(node);
    } else {
      failed.set(node.name, reason);
    }
  }
  return { passed, failed };
}
