// Which pods the chart's Deployments and DaemonSets would have on the local cluster's nodes, as the DaemonSet
// controller and kube-scheduler would place them (nodeSelector and required node affinity against the Nodes'
// labels; the simulated nodes have no taints once Ready, so tolerations do not matter), and where a Service would
// route. Pure: chart-topolvm.ts runs the pods' containers.
import type {
  V1DaemonSet,
  V1Deployment,
  V1NodeSelectorRequirement,
  V1PodSpec,
  V1Service,
} from "@kubernetes/client-node";

import type { RenderedObject } from "../../chart/src/helm.js";

/** A node as placement sees it. */
export interface PlacementNode {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** One pod of a Deployment (one replica is enough here) or of a DaemonSet on one node. */
export interface ChartPod {
  /** `<owner>-<node>`. */
  name: string;
  namespace: string;
  owner: { kind: "Deployment" | "DaemonSet"; name: string };
  nodeName: string;
  labels: Record<string, string>;
  spec: V1PodSpec;
}

function requirementHolds(requirement: V1NodeSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const value = labels[requirement.key];
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case "In":
      return value !== undefined && values.includes(value);
    case "NotIn":
      return value === undefined || !values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
      return value !== undefined && Number(value) > Number(values[0]);
    case "Lt":
      return value !== undefined && Number(value) < Number(values[0]);
    default:
      throw new Error(`node selector operator ${requirement.operator} is not known`);
  }
}

/** Whether a pod with this spec may run on the node: its nodeSelector and required node affinity. */
export function nodeMatches(spec: V1PodSpec, node: PlacementNode): boolean {
  const selector = spec.nodeSelector ?? {};
  if (!Object.entries(selector).every(([key, value]) => node.labels[key] === value)) {
    return false;
  }
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (terms === undefined) {
    return true;
  }
  // Terms are ORed, a term's requirements ANDed; an empty term matches nothing.
  return terms.some((term) => {
    const expressions = term.matchExpressions ?? [];
    const fields = term.matchFields ?? [];
    return (
      expressions.length + fields.length > 0 &&
      expressions.every((requirement) => requirementHolds(requirement, node.labels)) &&
      fields.every((requirement) => requirementHolds(requirement, { "metadata.name": node.name }))
    );
  });
}

/** The pods of the chart's workloads on these nodes: each DaemonSet on every node it selects, each Deployment once. */
export function chartPods(objects: readonly RenderedObject[], nodes: readonly PlacementNode[], namespace: string): ChartPod[] {
  const pods: ChartPod[] = [];
  for (const object of objects) {
    if (object.kind !== "Deployment" && object.kind !== "DaemonSet") {
      continue;
    }
    const workload = object as unknown as V1Deployment | V1DaemonSet;
    const template = workload.spec?.template;
    const spec = template?.spec;
    if (spec === undefined) {
      throw new Error(`${object.kind} ${object.metadata.name} has no pod template`);
    }
    const eligible = nodes.filter((node) => nodeMatches(spec, node));
    if (object.kind === "Deployment" && eligible.length === 0) {
      throw new Error(`Deployment ${object.metadata.name}: no node matches its nodeSelector and node affinity`);
    }
    for (const node of object.kind === "Deployment" ? eligible.slice(0, 1) : eligible) {
      pods.push({
        name: `${object.metadata.name}-${node.name}`,
        namespace: object.metadata.namespace ?? namespace,
        owner: { kind: object.kind, name: object.metadata.name },
        nodeName: node.name,
        labels: { ...(template?.metadata?.labels ?? {}) },
        spec,
      });
    }
  }
  return pods;
}

/** The listen address of each container port of a running pod, by number; what a Service routes to. */
export type PodPorts = ReadonlyMap<number, string>;

/**
 * Where a Service would send a connection to `port`: its targetPort (a number or a container port's name) on the
 * first pod its selector picks, as the address the pod's listener has here. Throws naming what does not match.
 */
export function serviceAddress(
  service: V1Service,
  port: number,
  pods: readonly { pod: ChartPod; ports: PodPorts }[],
): string {
  const name = `Service ${service.metadata?.namespace ?? ""}/${service.metadata?.name ?? ""}`;
  const entry = (service.spec?.ports ?? []).find((candidate) => candidate.port === port);
  if (entry === undefined) {
    throw new Error(`${name} has no port ${port}`);
  }
  const selector = service.spec?.selector ?? {};
  const selected = pods.filter(
    ({ pod }) =>
      pod.namespace === service.metadata?.namespace &&
      Object.keys(selector).length > 0 &&
      Object.entries(selector).every(([key, value]) => pod.labels[key] === value),
  );
  if (selected.length === 0) {
    throw new Error(`${name}: its selector ${JSON.stringify(selector)} picks no pod of the chart`);
  }
  const target = entry.targetPort ?? port;
  for (const { pod, ports } of selected) {
    const containerPort =
      typeof target === "number"
        ? target
        : pod.spec.containers.flatMap((container) => container.ports ?? []).find((candidate) => candidate.name === target)
            ?.containerPort;
    const address = containerPort === undefined ? undefined : ports.get(containerPort);
    if (address !== undefined) {
      return address;
    }
  }
  throw new Error(
    `${name}: targetPort ${String(target)} of port ${port} is no port a container of ${selected.map(({ pod }) => pod.name).join(", ")} listens on`,
  );
}
