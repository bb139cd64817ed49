import type { DeviceClass, LvmdConfig, ThinPoolConfig } from "./config.js";
import { isThinPool, isThinVolume, type Inventory, type LvRecord, type VgRecord } from "./model.js";

/** Free space of a thin pool: `floor(ratio × pool size) − Σ virtual sizes of its thin volumes`, never below 0. */
export function thinPoolFreeBytes(vg: VgRecord, pool: ThinPoolConfig): number {
  const poolLv = vg.lvs.get(pool.name);
  if (poolLv === undefined) {
    return 0;
  }
  let virtualBytes = 0;
  for (const lv of vg.lvs.values()) {
    if (lv.poolLv === pool.name) {
      virtualBytes += lv.sizeBytes;
    }
  }
  return Math.max(0, Math.floor(pool.overprovisionRatio * poolLv.sizeBytes) - virtualBytes);
}

/** Bytes a device-class can still allocate (spare not taken off): VG free for thick, overprovisioned pool free for thin. */
export function allocatableBytes(dc: DeviceClass, vg: VgRecord): number {
  return dc.thinPool === undefined ? vg.freeBytes : thinPoolFreeBytes(vg, dc.thinPool);
}

/** What GetFreeBytes reports: allocatable bytes minus the class's spare, never below 0 (thick and thin alike). */
export function reportedFreeBytes(dc: DeviceClass, vg: VgRecord): number {
  return Math.max(0, allocatableBytes(dc, vg) - dc.spareBytes);
}

/** The per-class figures of a Watch message, in upstream's shape. */
export interface ClassCapacity {
  readonly deviceClass: string;
  readonly freeBytes: number;
  readonly sizeBytes: number;
  readonly thinPool?: {
    readonly dataPercent: number;
    readonly metadataPercent: number;
    readonly overprovisionBytes: number;
    readonly sizeBytes: number;
  };
}

/**
 * Upstream's WatchItem for one class: thick → VG free minus spare; thin → the raw VG free, with the pool's
 * overprovisioned free (no spare) in thinPool.overprovisionBytes.
 */
export function classCapacity(dc: DeviceClass, vg: VgRecord): ClassCapacity {
  if (dc.thinPool === undefined) {
    return { deviceClass: dc.name, freeBytes: Math.max(0, vg.freeBytes - dc.spareBytes), sizeBytes: vg.sizeBytes };
  }
  const pool = vg.lvs.get(dc.thinPool.name);
  return {
    deviceClass: dc.name,
    freeBytes: vg.freeBytes,
    sizeBytes: vg.sizeBytes,
    thinPool: {
      dataPercent: pool?.dataPercent ?? 0,
      metadataPercent: pool?.metadataPercent ?? 0,
      overprovisionBytes: thinPoolFreeBytes(vg, dc.thinPool),
      sizeBytes: pool?.sizeBytes ?? 0,
    },
  };
}

/** The whole Watch message: every class, and in `freeBytes` the default class's figure (overprovisioned for thin). */
export function capacityReport(config: LvmdConfig, inventory: Inventory): { freeBytes: number; items: ClassCapacity[] } {
  let freeBytes = 0;
  const items: ClassCapacity[] = [];
  for (const dc of config.deviceClasses) {
    const vg = inventory.get(dc.volumeGroup);
    if (vg === undefined) {
      continue;
    }
    const item = classCapacity(dc, vg);
    items.push(item);
    if (dc.default) {
      freeBytes = item.thinPool === undefined ? item.freeBytes : item.thinPool.overprovisionBytes;
    }
  }
  return { freeBytes, items };
}

/** Whether an LV belongs to a class: thin → a volume of its pool; thick → any LV of the VG that is neither a thin pool nor thin. */
export function inClass(dc: DeviceClass, lv: LvRecord): boolean {
  return dc.thinPool === undefined ? !isThinPool(lv) && !isThinVolume(lv) : lv.poolLv === dc.thinPool.name;
}

/** The LVs a class lists (see inClass). */
export function classVolumes(dc: DeviceClass, vg: VgRecord): LvRecord[] {
  return [...vg.lvs.values()].filter((lv) => inClass(dc, lv));
}
