import type { CapacityRequest, NodeCapacities } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import { divisorFor, type Divisors } from "./divisors.js";
import { capacityScore, minScore } from "./score.js";

/** One node's score, kube-scheduler's HostPriority. */
export interface HostPriority {
  readonly host: string;
  readonly score: number;
}

/**
 * A node's score for a request: the lowest score over the requested device-classes, because the pod needs room in
 * every one of them and the scarcest decides how well it fits. A class the node has no readable annotation for
 * scores 0; a pod that requests nothing scores 0 everywhere.
 */
export function nodeScore(
  request: CapacityRequest,
  nodeCapacities: NodeCapacities,
  divisors: Divisors,
): number {
  let lowest: number | undefined;
  for (const deviceClass of request.keys()) {
    const capacity = nodeCapacities.get(deviceClass);
    const score = capacity.kind === "bytes" ? capacityScore(capacity.bytes, divisorFor(divisors, deviceClass)) : minScore;
    lowest = lowest === undefined ? score : Math.min(lowest, score);
  }
  return lowest ?? minScore;
}

/** Scores every candidate node, in the order given; each node appears exactly once. */
export function prioritize(request: CapacityRequest, nodes: readonly CandidateNode[], divisors: Divisors): HostPriority[] {
  return nodes.map((node) => ({ host: node.name, score: nodeScore(request, node.capacities, divisors) }));
}
