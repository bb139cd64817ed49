import { LvmError } from "./lvm-error.js";

// Name and tag rules of lvm2 (lib/misc/lvm-string.c: _validate_name, apply_lvname_restrictions, validate_tag),
// checked here so that a bad value never reaches a command line.

/** Longest VG or LV name LVM accepts, and longest `vg/lv` full name it accepts for an LV. */
export const maxNameLength = 127;
/**
 * Longest tag this library accepts. lvm2's own validate_tag checks only the charset ("FIXME: Is unlimited tag size
 * support needed?"): what bounds tags is the VG metadata, which must fit in half of each metadata area (521,472
 * bytes of the default 1 MiB area, lvm2 2.03.16). One LV with 512 tags of 1,024 characters overflows it
 * ("exceeds maximum metadata size"), so a call is bounded by count and length together.
 */
export const maxTagLength = 1024;
/**
 * Most tags one call may set. With maxTagLength, at most 32 KiB of tags per call, about 6% of the default
 * metadata area's usable half, so no single request can fill the VG's metadata.
 */
export const maxTagCount = 32;

const nameCharset = /^[A-Za-z0-9+_.-]+$/;
const tagCharset = /^[A-Za-z0-9_+.\-/=!:&#]+$/;

/** LV name prefixes LVM reserves for its own volumes. */
export const reservedLvPrefixes: readonly string[] = ["pvmove", "snapshot"];

/**
 * Strings LVM reserves anywhere in an LV name for its internal sub-volumes. lvm2 2.03.16 refuses all of these;
 * older releases refused a subset, so refusing the union keeps names portable.
 */
export const reservedLvSubstrings: readonly string[] = [
  "_cdata",
  "_cmeta",
  "_corig",
  "_cpool",
  "_cvol",
  "_imeta",
  "_iorig",
  "_mimage",
  "_mlog",
  "_pmspare",
  "_rimage",
  "_rmeta",
  "_tdata",
  "_tmeta",
  "_vdata",
  "_vorigin",
  "_wcorig",
];

function invalid(message: string): LvmError {
  return new LvmError("InvalidArgument", message);
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function checkName(field: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw invalid(`${field} must be a non-empty string, got ${describe(value)}`);
  if (value.length > maxNameLength) throw invalid(`${field} ${describe(value)} is longer than ${maxNameLength} characters`);
  if (!nameCharset.test(value)) throw invalid(`${field} ${describe(value)} may contain only A-Z a-z 0-9 + _ . -`);
  if (value.startsWith("-")) throw invalid(`${field} ${describe(value)} must not start with "-"`);
  if (value === "." || value === "..") throw invalid(`${field} must not be "${value}"`);
  return value;
}

/** Checks a volume group name; throws InvalidArgument naming `field`. */
export function validateVgName(value: unknown, field = "vgName"): string {
  return checkName(field, value);
}

/** Checks a logical volume name, including LVM's reserved prefixes and substrings. */
export function validateLvName(value: unknown, field = "name"): string {
  const name = checkName(field, value);
  const prefix = reservedLvPrefixes.find((p) => name.startsWith(p));
  if (prefix !== undefined) throw invalid(`${field} ${describe(name)} starts with "${prefix}", which LVM reserves`);
  const reserved = reservedLvSubstrings.find((s) => name.includes(s));
  if (reserved !== undefined) throw invalid(`${field} ${describe(name)} contains "${reserved}", which LVM reserves`);
  return name;
}

/** Checks an LV name and that `vg/lv` fits LVM's full-name limit; returns the full name. */
export function validateLvPath(vgName: unknown, lvName: unknown, lvField = "name"): string {
  const full = `${validateVgName(vgName)}/${validateLvName(lvName, lvField)}`;
  if (full.length > maxNameLength) {
    throw invalid(`${lvField} ${describe(lvName)} is too long for volume group ${describe(vgName)}: "vg/lv" may have at most ${maxNameLength} characters`);
  }
  return full;
}

/** Checks one tag against LVM's tag charset and this library's length limit. */
export function validateTag(value: unknown, field = "tags"): string {
  if (typeof value !== "string" || value === "") throw invalid(`${field} entries must be non-empty strings, got ${describe(value)}`);
  if (value.length > maxTagLength) throw invalid(`${field} entry ${describe(value.slice(0, 32))}... is longer than ${maxTagLength} characters`);
  if (!tagCharset.test(value)) throw invalid(`${field} entry ${describe(value)} may contain only A-Z a-z 0-9 _ + . - / = ! : & #`);
  return value;
}

/** Checks a tag list (an absent list is empty) of at most maxTagCount tags. */
export function validateTags(value: unknown, field = "tags"): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${field} must be an array of strings, got ${describe(value)}`);
  if (value.length > maxTagCount) throw invalid(`${field} may hold at most ${maxTagCount} tags, got ${value.length}`);
  return value.map((tag: unknown) => validateTag(tag, field));
}

/** Checks a size in bytes: a positive integer no larger than Number.MAX_SAFE_INTEGER (2^53 - 1, about 8 PiB). */
export function validateSizeBytes(value: unknown, field = "sizeBytes"): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${field} must be a positive integer number of bytes up to ${Number.MAX_SAFE_INTEGER}, got ${describe(value)}`);
  }
  return value;
}

/** Checks an optional positive integer count such as a stripe count. */
export function validateCount(value: unknown, field: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalid(`${field} must be an integer from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}
