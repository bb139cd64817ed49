import { capacityAnnotationPrefix } from "@topolvm/proto/names";

/** Largest byte count an annotation may carry: lvmd reports free bytes as uint64. */
const maxCapacityBytes = 2n ** 64n - 1n;
const decimalDigits = /^[0-9]{1,20}$/;

/** Parses a decimal byte count as written in a capacity annotation; undefined when it is not one. */
export function parseCapacityBytes(value: string): bigint | undefined {
  if (!decimalDigits.test(value)) {
    return undefined;
  }
  const bytes = BigInt(value);
  return bytes <= maxCapacityBytes ? bytes : undefined;
}

/** A pod's capacity request: bytes per device-class key, sorted by key so failure reasons are deterministic. */
export type CapacityRequest = ReadonlyMap<string, bigint>;

/** Thrown when a pod's capacity annotation cannot be read as a byte count. */
export class CapacityRequestError extends Error {
  constructor(
    readonly annotation: string,
    readonly value: string,
  ) {
    super(`TopoLVM: pod annotation ${annotation} is ${JSON.stringify(value)}, not a decimal byte count`);
    this.name = "CapacityRequestError";
  }
}

/**
 * Reads the bytes a pod requests per device-class from its `capacity.topolvm.cybozu.com/<device-class>` annotations.
 * An empty map means the pod requests no TopoLVM capacity.
 */
export function capacityRequestOf(podAnnotations: Readonly<Record<string, string>> | undefined): CapacityRequest {
  const entries: [string, bigint][] = [];
  for (const [key, value] of Object.entries(podAnnotations ?? {})) {
    if (!key.startsWith(capacityAnnotationPrefix) || key.length === capacityAnnotationPrefix.length) {
      continue;
    }
    const bytes = parseCapacityBytes(value);
    if (bytes === undefined) {
      throw new CapacityRequestError(key, value);
    }
    entries.push([key.slice(capacityAnnotationPrefix.length), bytes]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(entries);
}

/** What a node's annotations say about one device-class. */
export type NodeCapacity =
  | { readonly kind: "bytes"; readonly bytes: bigint }
  | { readonly kind: "missing" }
  | { readonly kind: "garbled"; readonly value: string };

/** A node's capacity annotations, by device-class key. */
export interface NodeCapacities {
  /** What the node's annotation says about a device-class key. */
  get(deviceClass: string): NodeCapacity;
}

/** What a capacity annotation's value says: a byte count, or garbled. */
export function capacityOfAnnotation(value: string): NodeCapacity {
  const bytes = parseCapacityBytes(value);
  return bytes === undefined ? { kind: "garbled", value } : { kind: "bytes", bytes };
}

const missingCapacity: NodeCapacity = { kind: "missing" };

/**
 * A node's capacities, parsed from its annotations once: the node cache keeps them across requests, so they are
 * not parsed again per pod.
 */
export function nodeCapacitiesOf(nodeAnnotations: Readonly<Record<string, string>> | undefined): NodeCapacities {
  const capacities = new Map<string, NodeCapacity>();
  for (const [key, value] of Object.entries(nodeAnnotations ?? {})) {
    if (key.startsWith(capacityAnnotationPrefix)) {
      capacities.set(key.slice(capacityAnnotationPrefix.length), capacityOfAnnotation(value));
    }
  }
  return { get: (deviceClass) => capacities.get(deviceClass) ?? missingCapacity };
}
