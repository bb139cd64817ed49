import { wholeGiB } from "./score.js";
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

/** Doubles hold every integer below this exactly. */
export const exactDoubles = 2 ** 53;

/** freeBytes for a device-class the node has no capacity annotation for. */
export const freeMissing = -1;
/** freeBytes for an annotation that is not a decimal byte count. */
export const freeGarbled = -2;
/** freeBytes for a byte count of 2^53 or more, which a double does not hold exactly: get has it as a BigInt. */
export const freeHuge = -3;

/** A node's capacity annotations, each parsed when first asked for and remembered from then on. */
export interface NodeCapacities {
  /** What the node's annotation says about a device-class key. */
  get(deviceClass: string): NodeCapacity;
  /**
   * The same as a number, read without creating objects: the byte count when it is below 2^53, else freeMissing,
   * freeGarbled or freeHuge. Checking thousands of nodes reads this, and get only for freeHuge.
   */
  freeBytes(deviceClass: string): number;
}

/** freeBytes of a capacity. */
export function freeBytesOf(capacity: NodeCapacity): number {
  switch (capacity.kind) {
    case "missing":
      return freeMissing;
    case "garbled":
      return freeGarbled;
    case "bytes":
      return capacity.bytesNumber < exactDoubles ? capacity.bytesNumber : freeHuge;
  }
}

const missingCapacity: NodeCapacity = { kind: "missing" };

/**
 * A node's capacities over its annotations, for the node cache: an entry lives across requests, so each of its
 * annotations is parsed once, when first asked for, not per pod.
 */
export function nodeCapacitiesOf(nodeAnnotations: Readonly<Record<string, string>> | undefined): NodeCapacities {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(nodeAnnotations ?? {})) {
    if (key.startsWith(capacityAnnotationPrefix)) {
      pairs.push(key.slice(capacityAnnotationPrefix.length), value);
    }
  }
  return new AnnotationCapacities(pairs);
}

/**
 * Capacity annotations as a flat list of pairs: a device-class (the key without its prefix), then its value as
 * written or already parsed, then the next class...
 */
type CapacityPairs = (string | NodeCapacity)[];

/** What a capacity annotation's value says: a byte count, or garbled. */
export function capacityOfAnnotation(value: string): NodeCapacity {
  const bytes = parseCapacityBytes(value);
  return bytes === undefined
    ? { kind: "garbled", value }
    : { kind: "bytes", bytes, bytesNumber: Number(bytes), gib: wholeGiB(bytes) };
}

// A class rather than a closure: the cache holds one per node. Each value is replaced by its parse when first asked
// for; classes the node has no annotation for are not remembered, so pods naming other classes cannot grow what a
// node holds. The first class (most nodes have one) lives in fields and the others in a flat list searched in order
// (nodes have a handful): with 5,000 nodes per request, every object a lookup has to visit shows in the latency.
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

  freeBytes(deviceClass: string): number {
    return freeBytesOf(this.get(deviceClass));
  }

  get(deviceClass: string): NodeCapacity {
    if (deviceClass === this.firstClass) {
      const value = this.firstValue ?? missingCapacity;
      if (typeof value !== "string") {
        return value;
      }
      this.firstValue = capacityOfAnnotation(value);
      return this.firstValue;
    }
    const others = this.others ?? [];
    for (let i = 0; i < others.length; i += 2) {
      if (others[i] === deviceClass) {
        const value = others[i + 1] ?? missingCapacity;
        if (typeof value !== "string") {
          return value;
        }
        const capacity = capacityOfAnnotation(value);
        others[i + 1] = capacity;
        return capacity;
      }
    }
    return missingCapacity;
  }
}
