import type { CapacityRequest, NodeCapacities } from "./capacity.js";
import type { CandidateNode } from "./candidate-node.js";
import { divisorFor, type Divisors } from "./divisors.js";
import { capacityScore, maxScore, minScore } from "./score.js";

/** One node's score, kube-scheduler's HostPriority. */
export interface HostPriority {
  readonly host: string;
  readonly score: number;
}

/** A requested device-class with the divisor its scores use. */
interface ScoredClass {
  readonly deviceClass: string;
  readonly divisor: number;
}

function scoredClassesOf(request: CapacityRequest, divisors: Divisors): ScoredClass[] {
  return [...request.keys()].map((deviceClass) => ({ deviceClass, divisor: divisorFor(divisors, deviceClass) }));
}

/** One device-class's score on a node: a missing or garbled annotation scores 0. */
function classScore(nodeCapacities: NodeCapacities, deviceClass: string, divisor: number): number {
  const capacity = nodeCapacities.get(deviceClass);
  return capacity.kind === "bytes" ? capacityScore(capacity.bytes, divisor) : minScore;
}

function lowestScore(classes: readonly ScoredClass[], nodeCapacities: NodeCapacities): number {
  let lowest = classes.length === 0 ? minScore : maxScore;
  for (const { deviceClass, divisor } of classes) {
    lowest = Math.min(lowest, classScore(nodeCapacities, deviceClass, divisor));
  }
  return lowest;
}

/**
 * A node's score for a request: the lowest score over the requested device-classes, because the pod needs room in
 * every one of them and the scarcest decides how well it fits. A class the node has no readable annotation for
 * scores 0; a pod that requests nothing scores 0 everywhere.
 */
export function nodeScore(request: CapacityRequest, nodeCapacities: NodeCapacities, divisors: Divisors): number {
  return nodeScoreOf(request, divisors)(nodeCapacities);
}

/** nodeScore for many nodes and one request, its divisors looked up once. */
export function nodeScoreOf(request: CapacityRequest, divisors: Divisors): (nodeCapacities: NodeCapacities) => number {
  const classes = scoredClassesOf(request, divisors);
  return (nodeCapacities) => lowestScore(classes, nodeCapacities);
}

/** Scores every candidate node, in the order given; each node appears exactly once. */
export function prioritize(request: CapacityRequest, nodes: readonly CandidateNode[], divisors: Divisors): HostPriority[] {
  const scoreOf = nodeScoreOf(request, divisors);
  return nodes.map((node) => ({ host: node.name, score: scoreOf(node.capacities) }));
}
