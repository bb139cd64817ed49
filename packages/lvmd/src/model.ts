/** One logical volume as LVM last reported it. */
export interface LvRecord {
  readonly name: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly devMajor: number;
  readonly devMinor: number;
  readonly tags: readonly string[];
  /** The 10-character lv_attr. */
  readonly attr: string;
  /** The thin pool a thin volume lives in; "" for other LVs. */
  readonly poolLv: string;
  readonly origin: string;
  readonly dataPercent: number;
  readonly metadataPercent: number;
}

/** One volume group and its logical volumes. */
export interface VgRecord {
  readonly name: string;
  readonly sizeBytes: number;
  readonly freeBytes: number;
  /** LVM allocates in whole extents; 0 when unknown. */
  readonly extentSizeBytes: number;
  readonly lvs: ReadonlyMap<string, LvRecord>;
}

/** Everything lvmd knows about the node's volume groups, keyed by VG name. */
export type Inventory = ReadonlyMap<string, VgRecord>;

/** LVM marks thin pools with "t" in the first lv_attr character. */
export function isThinPool(lv: LvRecord): boolean {
  return lv.attr.startsWith("t");
}

/** LVM marks thin volumes with "V" in the first lv_attr character; lvmd also knows them by their pool. */
export function isThinVolume(lv: LvRecord): boolean {
  return lv.attr.startsWith("V") || lv.poolLv !== "";
}

/** The bytes LVM will allocate for a request: rounded up to whole extents. */
export function roundToExtents(sizeBytes: number, extentSizeBytes: number): number {
  if (extentSizeBytes <= 0) {
    return sizeBytes;
  }
  return Math.ceil(sizeBytes / extentSizeBytes) * extentSizeBytes;
}
