import type { csi } from "@topolvm/proto";
import { capacityAnnotationPrefix, defaultDeviceClassKey, topologyKey } from "@topolvm/proto/names";

const maxInt64 = (1n << 63n) - 1n;

/** The parts of a Node that capacity decisions read (a V1Node fits). */
export interface CapacityNode {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly labels?: Readonly<Record<string, string>> | undefined;
    readonly annotations?: Readonly<Record<string, string>> | undefined;
  } | undefined;
}

/** Nodes as an informer's cache serves them. */
export interface NodeLister {
  get(name: string): CapacityNode | undefined;
  list(): readonly CapacityNode[];
}

/** The Node annotation holding the free bytes of a device-class ("" is the default class, `00default`). */
export function capacityAnnotation(deviceClass: string): string {
  return capacityAnnotationPrefix + (deviceClass === "" ? defaultDeviceClassKey : deviceClass);
}

/** A device-class as messages name it. */
export function describeDeviceClass(deviceClass: string): string {
  return deviceClass === "" ? "the default device-class" : `device-class ${JSON.stringify(deviceClass)}`;
}

/** The free bytes a node reports for a device-class, or undefined when it reports none (or nothing readable). */
export function nodeFreeBytes(node: CapacityNode, deviceClass: string): bigint | undefined {
  const value = node.metadata?.annotations?.[capacityAnnotation(deviceClass)];
  return value !== undefined && /^\d{1,19}$/.test(value) ? BigInt(value) : undefined;
}

/** What GetCapacity answers. */
export interface Capacity {
  readonly availableBytes: bigint;
  /** The largest single volume that fits: the free bytes of the roomiest node counted. */
  readonly maximumVolumeBytes: bigint;
}

/**
 * The capacity of a device-class: with a topology, that of the node whose topology label matches its segment (no
 * key, no such node or no annotation: 0); without one, the sum over every node. Thin classes need nothing special:
 * the node writes their overprovisioned free bytes.
 */
export function capacityOf(nodes: NodeLister, deviceClass: string, topology: csi.Topology | undefined): Capacity {
  let candidates: readonly CapacityNode[];
  if (topology === undefined) {
    candidates = nodes.list();
  } else {
    const wanted = topology.segments[topologyKey];
    candidates = wanted === undefined ? [] : nodes.list().filter((node) => node.metadata?.labels?.[topologyKey] === wanted);
  }
  let availableBytes = 0n;
  let maximumVolumeBytes = 0n;
  for (const node of candidates) {
    const freeBytes = nodeFreeBytes(node, deviceClass) ?? 0n;
    availableBytes += freeBytes;
    if (freeBytes > maximumVolumeBytes) {
      maximumVolumeBytes = freeBytes;
    }
  }
  // The answer is an int64; a sum over many nodes is capped rather than wrapped.
  return { availableBytes: availableBytes > maxInt64 ? maxInt64 : availableBytes, maximumVolumeBytes };
}
