import { Code, ConnectError } from "@connectrpc/connect";
import type { csi } from "@topolvm/proto";
import { deviceClassParameter } from "@topolvm/proto/names";
import { isSnapshot, type LogicalVolume } from "../logical-volume/logical-volume.js";
import { describeDeviceClass } from "./capacity.js";
import { requestedNodes, sourceField, type ContentSource } from "./create-volume.js";

/** Where and how big a volume made from a source is. */
export interface SourcePlacement {
  readonly nodeName: string;
  readonly sizeBytes: bigint;
  /** spec.name of the source LogicalVolume, the new one's spec.source. */
  readonly sourceName: string;
}

/** What the plan of a volume from a source needs to know about the request. */
export interface SourceRequest {
  readonly source: ContentSource;
  readonly deviceClass: string;
  /** The normalised size of the request; ignored when `sizeRequested` is false. */
  readonly sizeBytes: bigint;
  /** Whether the capacity range asked for a size (required or limit bytes); without one the source's size is taken. */
  readonly sizeRequested: boolean;
  /** 0 when the caller set no limit. */
  readonly limitBytes: bigint;
}

/**
 * Places a restore or a clone: on the source's node, in the source's device-class, at least the source's size
 * (`sourceSizeBytes`, its current size). A source id that names nothing, or names a volume where a snapshot is
 * asked for (or the reverse), is NotFound; another device-class is InvalidArgument; a smaller size or a limit
 * below the source's size is OutOfRange; a source node that the accessibility requirements exclude is
 * InvalidArgument. Every message names the field and the values.
 */
export function placeFromSource(
  request: SourceRequest,
  sourceLv: LogicalVolume | undefined,
  sourceSizeBytes: bigint,
  requirements: csi.TopologyRequirement | undefined,
): SourcePlacement {
  const { source } = request;
  const field = sourceField(source);
  const what = source.kind === "snapshot" ? "snapshot" : "volume";
  if (sourceLv === undefined || isSnapshot(sourceLv) !== (source.kind === "snapshot") || sourceLv.metadata.deletionTimestamp !== undefined) {
    throw new ConnectError(`${field}: no ${what} has the id ${JSON.stringify(source.id)}`, Code.NotFound);
  }
  const sourceClass = sourceLv.spec.deviceClass ?? "";
  if (sourceClass !== request.deviceClass) {
    throw new ConnectError(
      `parameters[${JSON.stringify(deviceClassParameter)}]: ${describeDeviceClass(request.deviceClass)} differs from ${describeDeviceClass(sourceClass)} of the source ${what} ${source.id}; a restore or clone stays in its source's device-class`,
      Code.InvalidArgument,
    );
  }
  if (request.limitBytes > 0n && request.limitBytes < sourceSizeBytes) {
    throw new ConnectError(
      `capacity_range.limit_bytes: ${request.limitBytes} is below the ${sourceSizeBytes} bytes of the source ${what} ${source.id}; a restore or clone is at least as big as its source`,
      Code.OutOfRange,
    );
  }
  let sizeBytes = sourceSizeBytes;
  if (request.sizeRequested) {
    if (request.sizeBytes < sourceSizeBytes) {
      throw new ConnectError(
        `capacity_range.required_bytes: ${request.sizeBytes} is below the ${sourceSizeBytes} bytes of the source ${what} ${source.id}; a restore or clone is at least as big as its source`,
        Code.OutOfRange,
      );
    }
    sizeBytes = request.sizeBytes;
  }
  const nodeName = sourceLv.spec.nodeName;
  const allowed = requirements === undefined ? [] : requestedNodes(requirements);
  if (allowed.length > 0 && !allowed.includes(nodeName)) {
    throw new ConnectError(
      `accessibility_requirements: the source ${what} ${source.id} is on node ${nodeName}, which the requirements do not allow (${[...new Set(allowed)].join(", ")}); a restore or clone is made on its source's node`,
      Code.InvalidArgument,
    );
  }
  return { nodeName, sizeBytes, sourceName: sourceLv.spec.name };
}
