import { capacityAnnotationPrefix, defaultDeviceClassKey } from "@topolvm/proto/names";
import { currentSizeBytes, specSizeBytes, type LogicalVolume } from "../logical-volume/logical-volume.js";
import { indexClusterState, namespacedName, type ClusterIndex, type ClusterState, type V1Node } from "./cluster-state.js";

/** One LogicalVolume and what it belongs to. Sizes are bytes (JSON numbers: exact up to 8 PiB). */
export interface VolumeReport {
  readonly logicalVolume: string;
  /** The LV's name in the volume group (status.volumeID), null until the node made it. */
  readonly volumeId: string | null;
  /** status.currentSize, else spec.size. */
  readonly sizeBytes: number;
  readonly persistentVolume: string | null;
  /** `namespace/name` of the PV's claim. */
  readonly claim: string | null;
  readonly claimPhase: string | null;
  /** `namespace/name` of every pod using the claim. */
  readonly pods: readonly string[];
}

/** One device-class of one node. */
export interface DeviceClassReport {
  readonly name: string;
  /** Whether it is the node's default class (the one whose free bytes the `00default` annotation repeats). */
  readonly default: boolean;
  /** free + used; null when the node reports no capacity for the class. */
  readonly capacityBytes: number | null;
  /** The sizes of its LogicalVolumes. */
  readonly usedBytes: number;
  /** The node's capacity annotation (free bytes less the spare; thin: overprovisioned), null when absent. */
  readonly freeBytes: number | null;
  readonly volumes: readonly VolumeReport[];
}

export interface NodeReport {
  readonly name: string;
  /** Whether the Node object exists (false: LogicalVolumes name a node that is gone). */
  readonly exists: boolean;
  readonly deviceClasses: readonly DeviceClassReport[];
}

export interface StatusReport {
  readonly nodes: readonly NodeReport[];
}

/** A Node's capacity annotations: device-class → free bytes, without the `00default` repeat. */
export function nodeCapacities(node: V1Node): Map<string, bigint> {
  const capacities = new Map<string, bigint>();
  for (const [key, value] of Object.entries(node.metadata?.annotations ?? {})) {
    if (key.startsWith(capacityAnnotationPrefix) && /^[0-9]+$/.test(value)) {
      capacities.set(key.slice(capacityAnnotationPrefix.length), BigInt(value));
    }
  }
  return capacities;
}

/**
 * The name of the node's default class: the one class whose free bytes equal the `00default` annotation, or
 * `00default` itself when none or several do (classes with equal free bytes cannot be told apart).
 */
function defaultClassOf(capacities: ReadonlyMap<string, bigint>): string {
  const defaultFree = capacities.get(defaultDeviceClassKey);
  const matches = [...capacities].filter(([name, free]) => name !== defaultDeviceClassKey && free === defaultFree);
  return matches.length === 1 && matches[0] !== undefined ? matches[0][0] : defaultDeviceClassKey;
}

function volumeReport(lv: LogicalVolume, index: ClusterIndex): VolumeReport {
  const volumeId = lv.status?.volumeID ?? null;
  const pv = volumeId === null ? undefined : index.pvByVolumeId.get(volumeId);
  const claimRef = pv?.spec?.claimRef;
  const claim = claimRef === undefined ? null : `${claimRef.namespace ?? ""}/${claimRef.name ?? ""}`;
  const claimObject = claim === null ? undefined : index.claimByName.get(claim);
  return {
    logicalVolume: lv.metadata.name,
    volumeId,
    sizeBytes: Number(currentSizeBytes(lv) ?? specSizeBytes(lv)),
    persistentVolume: pv?.metadata?.name ?? null,
    claim,
    claimPhase: claimObject?.status?.phase ?? null,
    pods: claim === null ? [] : (index.podsByClaim.get(claim) ?? []).map(namespacedName).sort(),
  };
}

const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);

/** Per node and device-class: capacity, used and free bytes, and the LogicalVolumes with their PVs, claims and pods. */
export function statusReport(state: ClusterState): StatusReport {
  const index = indexClusterState(state);
  const volumesByNode = new Map<string, LogicalVolume[]>();
  for (const lv of state.logicalVolumes) {
    volumesByNode.set(lv.spec.nodeName, [...(volumesByNode.get(lv.spec.nodeName) ?? []), lv]);
  }
  const nodeNames = new Set([...index.nodeNames, ...volumesByNode.keys()]);
  const nodes = [...nodeNames].map((name): NodeReport => {
    const node = state.nodes.find((candidate) => candidate.metadata?.name === name);
    const capacities = node === undefined ? new Map<string, bigint>() : nodeCapacities(node);
    const defaultClass = defaultClassOf(capacities);
    const classes = new Map<string, LogicalVolume[]>();
    for (const className of capacities.keys()) {
      if (className !== defaultDeviceClassKey || defaultClass === defaultDeviceClassKey) {
        classes.set(className, []);
      }
    }
    for (const lv of volumesByNode.get(name) ?? []) {
      const className = lv.spec.deviceClass === undefined || lv.spec.deviceClass === "" ? defaultClass : lv.spec.deviceClass;
      classes.set(className, [...(classes.get(className) ?? []), lv]);
    }
    const deviceClasses = [...classes].map(([className, lvs]): DeviceClassReport => {
      const volumes = lvs.map((lv) => volumeReport(lv, index)).sort((a, b) => a.logicalVolume.localeCompare(b.logicalVolume));
      const usedBytes = volumes.reduce((sum, volume) => sum + volume.sizeBytes, 0);
      const free = capacities.get(className);
      return {
        name: className,
        default: className === defaultClass,
        capacityBytes: free === undefined ? null : Number(free) + usedBytes,
        usedBytes,
        freeBytes: free === undefined ? null : Number(free),
        volumes,
      };
    });
    return { name, exists: node !== undefined, deviceClasses: deviceClasses.sort(byName) };
  });
  return { nodes: nodes.sort(byName) };
}
