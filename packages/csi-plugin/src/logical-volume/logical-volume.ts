import type { KubernetesListObject, KubernetesObject, V1ObjectMeta } from "@kubernetes/client-node";
import { driverName } from "@topolvm/proto/names";
import { parseQuantity, QuantityError } from "@topolvm/proto/quantity";
import { fileURLToPath } from "node:url";

/** API coordinates of the LogicalVolume resource (cluster-scoped). */
export const logicalVolumeGroup = driverName;
export const logicalVolumeVersion = "v1";
export const logicalVolumePlural = "logicalvolumes";
export const logicalVolumeKind = "LogicalVolume";
export const logicalVolumeApiVersion = `${logicalVolumeGroup}/${logicalVolumeVersion}`;

/** The CRD of the resource (`crd/` of the package, two levels up from src/ and dist/ files); the chart and the tests install this same file. */
export const logicalVolumeCrdPath = fileURLToPath(new URL("../../crd/logicalvolumes.topolvm.cybozu.com.yaml", import.meta.url));

/** What a LogicalVolume asks for. Sizes are Kubernetes quantities; ours are written as decimal bytes. */
export interface LogicalVolumeSpec {
  /** The CSI volume name, lowercased (also metadata.name). */
  name: string;
  nodeName: string;
  /** Size the LV must have at least, as a quantity. */
  size: string;
  deviceClass?: string;
  lvcreateOptionClass?: string;
  /** For snapshots and clones: spec.name of the source LogicalVolume. */
  source?: string;
  /** For snapshots and clones: "ro" or "rw". */
  accessType?: string;
}

/** What the node reports. `code` is a gRPC status code (0 OK); `volumeID` is set once the LV exists. */
export interface LogicalVolumeStatus {
  volumeID?: string;
  code?: number;
  message?: string;
  currentSize?: string | null;
}

/** A LogicalVolume as the API server returns it. */
export interface LogicalVolume extends KubernetesObject {
  metadata: V1ObjectMeta & { name: string };
  spec: LogicalVolumeSpec;
  status?: LogicalVolumeStatus;
}

export type LogicalVolumeList = KubernetesListObject<LogicalVolume>;

/** A quantity field of a LogicalVolume that does not parse (written by hand, or by another tool). */
export class LogicalVolumeSizeError extends Error {
  constructor(
    readonly logicalVolume: string,
    readonly field: string,
    cause: QuantityError,
  ) {
    super(`LogicalVolume ${logicalVolume}: ${field}: ${cause.message}`, { cause });
    this.name = "LogicalVolumeSizeError";
  }
}

function bytesOf(lv: LogicalVolume, field: string, value: string | number): bigint {
  try {
    return parseQuantity(String(value));
  } catch (error) {
    if (error instanceof QuantityError) {
      throw new LogicalVolumeSizeError(lv.metadata.name, field, error);
    }
    throw error;
  }
}

/** spec.size in bytes (the API keeps a quantity as written: `1073741824`, or `1Gi` from upstream's controller). */
export function specSizeBytes(lv: LogicalVolume): bigint {
  return bytesOf(lv, "spec.size", lv.spec.size);
}

/** status.currentSize in bytes, or undefined while the node has not reported one. */
export function currentSizeBytes(lv: LogicalVolume): bigint | undefined {
  const current = lv.status?.currentSize;
  return current === undefined || current === null || current === "" ? undefined : bytesOf(lv, "status.currentSize", current);
}

/** Whether the API server has marked the resource for deletion. */
export function isDeleting(lv: LogicalVolume): boolean {
  return lv.metadata.deletionTimestamp !== undefined;
}

/** Whether the resource is a snapshot: a read-only copy of a source LogicalVolume (restores and clones are "rw"). */
export function isSnapshot(lv: LogicalVolume): boolean {
  return lv.spec.accessType === "ro" && (lv.spec.source ?? "") !== "";
}
