import { wholeGiB } from "./score.js";
import { capacityAnnotationPrefix } from "./topolvm-names.js";

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

/** What a node's annotations say about one device-class; a byte count comes with its whole GiB, for scoring. */
export type NodeCapacity =
  | {
      readonly kind: "bytes";
      readonly bytes: bigint;
      /** `bytes` as a double: exact up to 2^53, so comparisons need the BigInt only above that. */
      readonly bytesNumber: number;
      readonly gib: number;
    }
  | { readonly kind: "missing" }
  | { readonly kind: "garbled"; readonly value: string };

/** A node's capacity annotations, each parsed when first asked for and remembered from then on. */
export interface NodeCapacities {
  /** What the node's annotation says about a device-class key. */
  get(deviceClass: string): NodeCapacity;
}

const missingCapacity: NodeCapacity = { kind: "missing" };

/**
 * A node's capacities over its annotations. A request's Node is asked only for the classes the pod requests, so only
 * those are parsed; a node cache entry lives across requests, so each of its annotations is parsed once, not per pod.
 */
export function nodeCapacitiesOf(nodeAnnotations: Readonly<Record<string, string>> | undefined): NodeCapacities {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(nodeAnnotations ?? {})) {
    if (key.startsWith(capacityAnnotationPrefix)) {
      pairs.push(key.slice(capacityAnnotationPrefix.length), value);
    }
  }
  return capacitiesOfPairs(pairs);
}

/**
 * Capacity annotations as a flat list of pairs: a device-class (the key without its prefix), then its value as
 * written or already parsed, then the next class...
 */
export type CapacityPairs = (string | NodeCapacity)[];

/** nodeCapacitiesOf for annotations already gathered as pairs. */
export function capacitiesOfPairs(pairs: Readonly<CapacityPairs> | undefined): NodeCapacities {
  return new AnnotationCapacities(pairs);
}

/** The capacity a value of up to 15 decimal digits (so an exact double) stands for, without a string between. */
export function capacityOfSafeInteger(bytes: number): NodeCapacity {
  return { kind: "bytes", bytes: BigInt(bytes), bytesNumber: bytes, gib: Math.floor(bytes / 2 ** 30) };
}

function parsedCapacity(value: string): NodeCapacity {
  const bytes = parseCapacityBytes(value);
  return bytes === undefined
    ? { kind: "garbled", value }
    : { kind: "bytes", bytes, bytesNumber: Number(bytes), gib: wholeGiB(bytes) };
}

// A class rather than a closure: a request with 5,000 Nodes creates 5,000 of these, most asked once. Each value is
// replaced by its parse when first asked for; classes the node has no annotation for are not remembered, so pods
// naming other classes cannot grow what a node holds. The first class (most nodes have one) lives in fields and the
// others in a flat list searched in order (nodes have a handful): with 5,000 nodes per request, every object a
// lookup has to visit, and every one created, shows in the latency.
class AnnotationCapacities implements NodeCapacities {
  private readonly firstClass: string | undefined;
  private firstValue: string | NodeCapacity | undefined;
  private readonly others: CapacityPairs | undefined;

  constructor(pairs: Readonly<CapacityPairs> | undefined) {
    const first = pairs?.[0];
    if (pairs !== undefined && typeof first === "string") {
      this.firstClass = first;
      this.firstValue = pairs[1];
      if (pairs.length > 2) {
        this.others = pairs.slice(2);
      }
    }
  }

  get(deviceClass: string): NodeCapacity {
    if (deviceClass === this.firstClass) {
      const value = this.firstValue ?? missingCapacity;
      if (typeof value !== "string") {
        return value;
      }
      this.firstValue = parsedCapacity(value);
      return this.firstValue;
    }
    const others = this.others ?? [];
    for (let i = 0; i < others.length; i += 2) {
      if (others[i] === deviceClass) {
        const value = others[i + 1] ?? missingCapacity;
        if (typeof value !== "string") {
          return value;
        }
        const capacity = parsedCapacity(value);
        others[i + 1] = capacity;
        return capacity;
      }
    }
    return missingCapacity;
  }
}
