import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { validateLvName, validateTags } from "@topolvm/lvm-exec";
import { lvmd } from "@topolvm/proto";
import { findDeviceClass, type DeviceClass, type LvmdConfig } from "./config.js";
import { invalidArgument, notFound } from "./errors.js";
import type { LvRecord } from "./model.js";

const bytesPerGiB = 2n ** 30n;

/** The device-class a request names ("" = the default); NotFound when there is no such class. */
export function resolveDeviceClass(config: LvmdConfig, name: string): DeviceClass {
  const dc = findDeviceClass(config, name);
  if (dc === undefined) {
    throw notFound(name === "" ? "no default device-class is configured" : `device-class ${JSON.stringify(name)} not found`);
  }
  return dc;
}

/** A required LV name, checked against LVM's naming rules; InvalidArgument names the field. */
export function requireLvName(value: string, field: string): string {
  if (value === "") {
    throw invalidArgument(`${field} is required`);
  }
  return validateLvName(value, field);
}

/**
 * The tags of a create request, checked before any lock is taken or command runs: LVM's tag charset, at most
 * lvm-exec's maxTagCount tags of maxTagLength characters (more would fill the VG metadata); InvalidArgument.
 */
export function requireTags(tags: readonly string[]): string[] {
  return validateTags(tags, "tags");
}

/**
 * The size a request asks for, in bytes: `size_bytes`, or for v0.5-era clients that send only the deprecated
 * `size_gb`, that many GiB. 0 when neither is set.
 */
export function requestedBytes(request: { readonly sizeBytes: bigint; readonly sizeGb: bigint }): number {
  const { sizeBytes } = request;
  const sizeGiB = request.sizeGb;
  if (sizeBytes < 0n) {
    throw invalidArgument(`size_bytes must not be negative, got ${sizeBytes}`);
  }
  const bytes = sizeBytes > 0n ? sizeBytes : sizeGiB * bytesPerGiB;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ConnectError(`requested size ${bytes} bytes is larger than any volume group`, Code.OutOfRange);
  }
  return Number(bytes);
}

/** The protobuf LogicalVolume of a model record; size_gb is filled (rounded down) for v0.5-era clients. */
export function toLogicalVolume(lv: LvRecord): lvmd.LogicalVolume {
  const sizeBytes = BigInt(lv.sizeBytes);
  return create(lvmd.LogicalVolumeSchema, {
    name: lv.name,
    sizeGb: sizeBytes / bytesPerGiB,
    devMajor: lv.devMajor,
    devMinor: lv.devMinor,
    tags: [...lv.tags],
    sizeBytes,
    path: lv.path,
    attr: lv.attr,
  });
}
