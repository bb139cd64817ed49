import { Code, ConnectError } from "@connectrpc/connect";
import type { csi } from "@topolvm/proto";
import { isSnapshot, type LogicalVolume, type LogicalVolumeSpec } from "../logical-volume/logical-volume.js";
import { objectNameOf } from "./create-volume.js";

/** What CreateSnapshot will ask for. */
export interface SnapshotPlan {
  /** metadata.name and spec.name of the snapshot's LogicalVolume: the CSI name, lowercased. */
  readonly name: string;
  readonly sourceVolumeId: string;
}

const invalid = (message: string): ConnectError => new ConnectError(message, Code.InvalidArgument);

/** Validates a CreateSnapshotRequest: a name that makes a Kubernetes object name, and a source volume id. */
export function planCreateSnapshot(request: csi.CreateSnapshotRequest): SnapshotPlan {
  const name = objectNameOf(request.name);
  if (request.sourceVolumeId === "") {
    throw invalid("source_volume_id: required, got an empty id");
  }
  return { name, sourceVolumeId: request.sourceVolumeId };
}

/**
 * The LogicalVolume of a snapshot of `source`: on the source's node and device-class, as big as the source is now
 * (`sourceSizeBytes`), read-only. A snapshot of a snapshot is refused (InvalidArgument): CSI snapshots are of volumes.
 */
export function snapshotSpec(plan: SnapshotPlan, source: LogicalVolume, sourceSizeBytes: bigint): LogicalVolumeSpec {
  if (isSnapshot(source)) {
    throw invalid(`source_volume_id: ${plan.sourceVolumeId} is a snapshot, not a volume`);
  }
  return {
    name: plan.name,
    nodeName: source.spec.nodeName,
    size: sourceSizeBytes.toString(),
    deviceClass: source.spec.deviceClass ?? "",
    source: source.spec.name,
    accessType: "ro",
  };
}

/** Why an existing LogicalVolume of the plan's name is not this snapshot (AlreadyExists), or undefined for a retry. */
export function snapshotIncompatibility(existing: LogicalVolume, plan: SnapshotPlan, source: LogicalVolume): string | undefined {
  if (!isSnapshot(existing)) {
    return `LogicalVolume ${plan.name} exists and is a volume, not a snapshot`;
  }
  if (existing.spec.source !== source.spec.name) {
    return `snapshot ${plan.name} exists of LogicalVolume ${existing.spec.source ?? ""}, this request asks for one of volume ${plan.sourceVolumeId} (LogicalVolume ${source.spec.name})`;
  }
  return undefined;
}

/** A CSI Timestamp of a resource's creation (stable across retries), or of `now` while the API has not set it. */
export function creationTime(lv: LogicalVolume, now: Date): { seconds: bigint; nanos: number } {
  const created = lv.metadata.creationTimestamp;
  const ms = created === undefined ? now.getTime() : new Date(created).getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/**
 * The answer to a snapshot, restore or clone that the node refused as Unimplemented: lvmd makes them only in a thin
 * pool, so the message says that a thin device-class is needed. Other failures pass through.
 */
export function needsThinClass(failure: ConnectError): ConnectError {
  if (failure.code !== Code.Unimplemented) {
    return failure;
  }
  return new ConnectError(`snapshots, restores and clones need a thin device-class (a thick one cannot make them): ${failure.rawMessage}`, Code.Unimplemented);
}
