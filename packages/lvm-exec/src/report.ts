// Strict parsing of LVM's JSON reports (`--reportformat json --units b --nosuffix`), in which every value is a
// string: a report that does not have exactly the expected shape is an error, never a silently wrong number.

/** A volume group. Sizes are bytes, as `number` (exact up to 2^53 - 1 bytes, about 8 PiB). */
export interface VolumeGroup {
  name: string;
  uuid: string;
  sizeBytes: number;
  freeBytes: number;
  /** LVM allocates in extents: LV sizes are rounded up to a multiple of this. */
  extentSizeBytes: number;
  pvCount: number;
  lvCount: number;
  tags: string[];
}

/** A logical volume (hidden internal volumes such as `[pool_tdata]` are never listed). */
export interface LogicalVolume {
  name: string;
  vgName: string;
  uuid: string;
  /** The device path LVM reports, e.g. `/dev/vg/lv`. */
  path: string;
  sizeBytes: number;
  tags: string[];
  /** The 10-character `lv_attr`, e.g. `-wi-a-----`; `attr[0]` is `t` for a thin pool and `V` for a thin volume. */
  attr: string;
  /** Kernel device numbers; null when the LV is not active in the kernel. */
  major: number | null;
  minor: number | null;
  /** Whether the LV is active (its `lv_attr` state is `a`). */
  active: boolean;
  /** The thin pool of a thin volume, else null. */
  poolLv: string | null;
  /** The origin of a snapshot, else null. */
  origin: string | null;
  /** Data and metadata usage in percent for thin pools, thin volumes and snapshots, else null. */
  dataPercent: number | null;
  metadataPercent: number | null;
}

/** A volume group with its logical volumes, as `fullReport` returns them. */
export interface VolumeGroupReport {
  volumeGroup: VolumeGroup;
  logicalVolumes: LogicalVolume[];
}

/** The report fields requested for volume groups and logical volumes. */
export const vgFields = ["vg_name", "vg_uuid", "vg_size", "vg_free", "vg_extent_size", "pv_count", "lv_count", "vg_tags"] as const;
export const lvFields = [
  "lv_name",
  "vg_name",
  "lv_uuid",
  "lv_path",
  "lv_size",
  "lv_tags",
  "lv_attr",
  "lv_kernel_major",
  "lv_kernel_minor",
  "pool_lv",
  "origin",
  "data_percent",
  "metadata_percent",
] as const;

/** Thrown for a report that does not parse; the caller wraps it into an LvmError with the command. */
export class MalformedReportError extends Error {
  override readonly name = "MalformedReportError";
}

type Row = Record<string, unknown>;

function isRecord(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(row: Row, field: string): string {
  const value = row[field];
  if (typeof value !== "string") throw new MalformedReportError(`field ${field} is ${JSON.stringify(value)}, want a string`);
  return value;
}

function bytes(row: Row, field: string): number {
  const value = text(row, field);
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new MalformedReportError(`field ${field} is ${JSON.stringify(value)}, want a whole number of bytes below 2^53`);
  }
  return n;
}

// lv_kernel_major/minor are "-1" for an LV that the kernel does not have.
function deviceNumber(row: Row, field: string): number | null {
  const value = text(row, field);
  if (value === "-1") return null;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 0xffffffff) throw new MalformedReportError(`field ${field} is ${JSON.stringify(value)}, want a device number or -1`);
  return n;
}

function percent(row: Row, field: string): number | null {
  const value = text(row, field);
  if (value === "") return null;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value)) throw new MalformedReportError(`field ${field} is ${JSON.stringify(value)}, want a percentage`);
  return Number(value);
}

function optional(row: Row, field: string): string | null {
  const value = text(row, field);
  return value === "" ? null : value;
}

function tags(row: Row, field: string): string[] {
  const value = text(row, field);
  return value === "" ? [] : value.split(",");
}

function parseVolumeGroup(row: Row): VolumeGroup {
  return {
    name: text(row, "vg_name"),
    uuid: text(row, "vg_uuid"),
    sizeBytes: bytes(row, "vg_size"),
    freeBytes: bytes(row, "vg_free"),
    extentSizeBytes: bytes(row, "vg_extent_size"),
    pvCount: bytes(row, "pv_count"),
    lvCount: bytes(row, "lv_count"),
    tags: tags(row, "vg_tags"),
  };
}

function parseLogicalVolume(row: Row): LogicalVolume {
  const attr = text(row, "lv_attr");
  if (attr.length !== 10) throw new MalformedReportError(`field lv_attr is ${JSON.stringify(attr)}, want 10 characters`);
  return {
    name: text(row, "lv_name"),
    vgName: text(row, "vg_name"),
    uuid: text(row, "lv_uuid"),
    path: text(row, "lv_path"),
    sizeBytes: bytes(row, "lv_size"),
    tags: tags(row, "lv_tags"),
    attr,
    major: deviceNumber(row, "lv_kernel_major"),
    minor: deviceNumber(row, "lv_kernel_minor"),
    active: attr.charAt(4) === "a",
    poolLv: optional(row, "pool_lv"),
    origin: optional(row, "origin"),
    dataPercent: percent(row, "data_percent"),
    metadataPercent: percent(row, "metadata_percent"),
  };
}

// Internal LVs are reported in brackets, e.g. "[pool_tdata]".
function isHidden(row: Row): boolean {
  return text(row, "lv_name").startsWith("[");
}

function rows(section: unknown, name: string): Row[] {
  if (!Array.isArray(section)) throw new MalformedReportError(`"${name}" is not an array`);
  return section.map((row: unknown) => {
    if (!isRecord(row)) throw new MalformedReportError(`an entry of "${name}" is not an object`);
    return row;
  });
}

// The top level is {"report": [ {"vg": [...], "lv": [...], ...}, ... ]}: one entry for vgs/lvs, one per VG
// for fullreport.
function sections(stdout: string): Row[] {
  let document: unknown;
  try {
    document = JSON.parse(stdout);
  } catch (error) {
    throw new MalformedReportError(`not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(document)) throw new MalformedReportError("the top level is not an object");
  return rows(document.report, "report");
}

function section(entry: Row, name: string): Row[] {
  if (!(name in entry)) throw new MalformedReportError(`a report has no "${name}" section`);
  return rows(entry[name], name);
}

/** Parses the output of `vgs --reportformat json` with `vgFields`. */
export function parseVgReport(stdout: string): VolumeGroup[] {
  return sections(stdout).flatMap((entry) => section(entry, "vg").map(parseVolumeGroup));
}

/** Parses the output of `lvs --reportformat json` with `lvFields`. */
export function parseLvReport(stdout: string): LogicalVolume[] {
  return sections(stdout).flatMap((entry) => section(entry, "lv").filter((row) => !isHidden(row)).map(parseLogicalVolume));
}

/** Parses the output of `lvm fullreport --reportformat json` with `vgFields` and `lvFields`. */
export function parseFullReport(stdout: string): VolumeGroupReport[] {
  return sections(stdout).map((entry) => {
    const vgs = section(entry, "vg");
    const [vg] = vgs;
    if (vg === undefined || vgs.length !== 1) throw new MalformedReportError(`a fullreport entry has ${vgs.length} volume groups, want 1`);
    return {
      volumeGroup: parseVolumeGroup(vg),
      logicalVolumes: section(entry, "lv").filter((row) => !isHidden(row)).map(parseLogicalVolume),
    };
  });
}
