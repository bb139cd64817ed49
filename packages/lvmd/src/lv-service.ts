import { Code, ConnectError } from "@connectrpc/connect";
import { isLvmError, type CreateLogicalVolumeRequest, type LogicalVolume } from "@topolvm/lvm-exec";
import { lvmd } from "@topolvm/proto";
import type { Logger } from "pino";
import type { DeviceClass, LvmdConfig } from "./config.js";
import { invalidArgument } from "./errors.js";
import { allocatableBytes, inClass } from "./free-bytes.js";
import { roundToExtents, type LvRecord, type VgRecord } from "./model.js";
import { requestedBytes, requireLvName, requireTags, resolveDeviceClass, toLogicalVolume } from "./requests.js";
import { lvRecordOf, type VolumeStore } from "./volume-store.js";

// Upstream refuses thick sizes that are not whole 4 KiB blocks before running lvcreate.
const THICK_SIZE_UNIT = 4096;

export interface LvServiceOptions {
  readonly config: LvmdConfig;
  readonly store: VolumeStore;
  readonly logger: Logger;
}

type CreateOptions = Pick<CreateLogicalVolumeRequest, "stripes" | "stripeSizeBytes" | "extraArgs">;

/**
 * The lvcreate options of a request: a named lvcreate-option-class replaces the class's own stripe and
 * lvcreate-options entirely (upstream's precedence); an unknown option class is Internal, as upstream answers.
 */
export function lvcreateOptions(config: LvmdConfig, dc: DeviceClass, optionClass: string): CreateOptions {
  if (optionClass !== "") {
    const named = config.lvcreateOptionClasses.find((oc) => oc.name === optionClass);
    if (named === undefined) {
      throw new ConnectError(`lvcreate-option-class ${JSON.stringify(optionClass)} not found`, Code.Internal);
    }
    return { extraArgs: named.options };
  }
  return {
    ...(dc.stripe === undefined ? {} : { stripes: dc.stripe }),
    ...(dc.stripe === undefined || dc.stripeSizeBytes === undefined ? {} : { stripeSizeBytes: dc.stripeSizeBytes }),
    extraArgs: dc.lvcreateOptions,
  };
}

function noSpace(free: number, requested: number): ConnectError {
  return new ConnectError(`no enough space left on VG: free=${free}, requested=${requested}`, Code.ResourceExhausted);
}

/** The LV name, device-class and size of a CreateLV or ResizeLV request, checked as upstream does. */
function sizedRequest(
  config: LvmdConfig,
  req: { readonly name: string; readonly deviceClass: string; readonly sizeBytes: bigint; readonly sizeGb: bigint },
): { name: string; dc: DeviceClass; sizeBytes: number } {
  const name = requireLvName(req.name, "name");
  const dc = resolveDeviceClass(config, req.deviceClass);
  const sizeBytes = requestedBytes(req);
  if (sizeBytes === 0) {
    throw invalidArgument("size_bytes (or the deprecated size_gb) is required");
  }
  if (dc.thinPool === undefined && sizeBytes % THICK_SIZE_UNIT !== 0) {
    throw invalidArgument(`size_bytes must be a multiple of ${THICK_SIZE_UNIT}, got ${sizeBytes}`);
  }
  return { name, dc, sizeBytes };
}

/**
 * The LV of a class by name, and the VG record it was looked up in: when the model has no LV of that name, LVM is
 * asked before concluding there is none, since the model can be up to a minute behind LVM.
 */
async function findLv(vg: VgRecord, reread: () => Promise<VgRecord>, dc: DeviceClass, name: string): Promise<{ vg: VgRecord; lv: LvRecord | undefined }> {
  const current = vg.lvs.has(name) ? vg : await reread();
  const lv = current.lvs.get(name);
  return { vg: current, lv: lv !== undefined && inClass(dc, lv) ? lv : undefined };
}

/**
 * After LVM refused a create because the name is taken by an LV the model has not seen yet (made by hand, or left
 * behind before the last re-read): the VG is re-read and the LV judged by `known` as one the model had (`known`
 * returns it for a retry of the same request, throws AlreadyExists otherwise). Any other failure is rethrown.
 */
async function adoptOnConflict(err: unknown, reread: () => Promise<VgRecord>, known: (vg: VgRecord) => LvRecord | undefined): Promise<LvRecord> {
  const adopted = isLvmError(err, "AlreadyExists") ? known(await reread()) : undefined;
  if (adopted === undefined) {
    throw err;
  }
  return adopted;
}

function withLv(vg: VgRecord, lv: LvRecord, freeDeltaBytes: number): VgRecord {
  return { ...vg, freeBytes: Math.max(0, vg.freeBytes + freeDeltaBytes), lvs: new Map(vg.lvs).set(lv.name, lv) };
}

/** The LVService of lvmd.proto (a Connect ServiceImpl), with its answers typed exactly for direct callers. */
export interface LvService {
  readonly createLV: (req: lvmd.CreateLVRequest) => Promise<{ volume: lvmd.LogicalVolume }>;
  readonly removeLV: (req: lvmd.RemoveLVRequest) => Promise<Record<string, never>>;
  readonly resizeLV: (req: lvmd.ResizeLVRequest) => Promise<{ sizeBytes: bigint }>;
  readonly createLVSnapshot: (req: lvmd.CreateLVSnapshotRequest) => Promise<{ snapshot: lvmd.LogicalVolume }>;
}

/** The LVService of lvmd.proto over the model and LVM. */
export function createLvService({ config, store, logger }: LvServiceOptions): LvService {
  return {
    async createLV(req) {
      const { name, dc, sizeBytes } = sizedRequest(config, req);
      const tags = requireTags(req.tags);
      const options = lvcreateOptions(config, dc, req.lvcreateOptionClass);
      const log = logger.child({ rpc: "CreateLV", lv: name, deviceClass: dc.name });

      const volume = await store.mutate(
        dc.volumeGroup,
        async (vg, { lvm, changed, finishInBackground, reread }) => {
          const allocatedBytes = roundToExtents(sizeBytes, vg.extentSizeBytes * (options.stripes ?? 1));
          const sameLv = (current: VgRecord): LvRecord | undefined => {
            const existing = current.lvs.get(name);
            if (existing === undefined || (inClass(dc, existing) && (existing.sizeBytes === allocatedBytes || existing.sizeBytes === sizeBytes))) {
              return existing;
            }
            throw new ConnectError(
              `logical volume ${vg.name}/${name} already exists with ${existing.sizeBytes} bytes; requested ${sizeBytes} bytes in device-class ${JSON.stringify(dc.name)}`,
              Code.AlreadyExists,
            );
          };
          const existing = sameLv(vg);
          if (existing !== undefined) {
            return { result: existing };
          }
          const free = allocatableBytes(dc, vg);
          if (free < allocatedBytes) {
            throw noSpace(free, allocatedBytes);
          }
          const created = lvm.createLogicalVolume({
            vgName: vg.name,
            name,
            sizeBytes,
            tags,
            ...(dc.thinPool === undefined ? {} : { thinPool: dc.thinPool.name }),
            ...options,
          });
          // Answer as soon as lvcreate has exited 0: lvm-exec's follow-up `lvs` and the VG re-read that completes
          // the model run while the VG stays held, so the next mutation of this VG still sees LVM's own report.
          try {
            await Promise.race([changed, created]);
          } catch (err) {
            return { result: await adoptOnConflict(err, reread, sameLv) };
          }
          finishInBackground(created);
          const lv: LvRecord = {
            name,
            path: `/dev/${vg.name}/${name}`,
            sizeBytes: allocatedBytes,
            devMajor: 0,
            devMinor: 0,
            tags,
            attr: "",
            poolLv: dc.thinPool?.name ?? "",
            origin: "",
            dataPercent: 0,
            metadataPercent: 0,
          };
          return { result: lv, update: (current) => withLv(current, lv, dc.thinPool === undefined ? -allocatedBytes : 0) };
        },
        log,
      );
      return { volume: toLogicalVolume(volume) };
    },

    async removeLV(req) {
      const name = requireLvName(req.name, "name");
      const dc = resolveDeviceClass(config, req.deviceClass);
      const log = logger.child({ rpc: "RemoveLV", lv: name, deviceClass: dc.name });
      await store.mutate(
        dc.volumeGroup,
        async (cached, { lvm, reread }) => {
          const { vg, lv: existing } = await findLv(cached, reread, dc, name);
          // Removing what is not there already succeeded: retries after a lost answer must not fail.
          if (existing === undefined) {
            return { result: undefined };
          }
          await lvm.removeLogicalVolume({ vgName: vg.name, name }).catch((err: unknown) => {
            // Removed behind lvmd's back since the model's last re-read: as good as removed by this call.
            if (!isLvmError(err, "NotFound")) {
              throw err;
            }
          });
          return {
            result: undefined,
            update: (current) => {
              const lvs = new Map(current.lvs);
              lvs.delete(name);
              const freed = dc.thinPool === undefined ? existing.sizeBytes : 0;
              return { ...current, freeBytes: Math.min(current.sizeBytes, current.freeBytes + freed), lvs };
            },
          };
        },
        log,
      );
      return {};
    },

    async resizeLV(req) {
      const { name, dc, sizeBytes } = sizedRequest(config, req);
      const log = logger.child({ rpc: "ResizeLV", lv: name, deviceClass: dc.name });
      const resized = await store.mutate(
        dc.volumeGroup,
        async (cached, { lvm, reread }) => {
          const { vg, lv: existing } = await findLv(cached, reread, dc, name);
          if (existing === undefined) {
            throw new ConnectError(`logical volume ${name} not found in device-class ${JSON.stringify(dc.name)}`, Code.NotFound);
          }
          const targetBytes = roundToExtents(sizeBytes, vg.extentSizeBytes);
          // lvmd never shrinks: a smaller request answers the current size, as upstream's does, so a node that adopted
          // an LV larger than its resource's size does not fail on it.
          if (targetBytes <= existing.sizeBytes) {
            return { result: existing };
          }
          const growBytes = targetBytes - existing.sizeBytes;
          const free = allocatableBytes(dc, vg);
          if (free < growBytes) {
            throw noSpace(free, growBytes);
          }
          const lv = lvRecordOf(await lvm.extendLogicalVolume({ vgName: vg.name, name, sizeBytes }));
          const freeDelta = dc.thinPool === undefined ? existing.sizeBytes - lv.sizeBytes : 0;
          return { result: lv, update: (current) => withLv(current, lv, freeDelta) };
        },
        log,
      );
      return { sizeBytes: BigInt(resized.sizeBytes) };
    },

    async createLVSnapshot(req) {
      const name = requireLvName(req.name, "name");
      const source = requireLvName(req.sourceVolume, "source_volume");
      const tags = requireTags(req.tags);
      const dc = resolveDeviceClass(config, req.deviceClass);
      const pool = dc.thinPool;
      if (pool === undefined) {
        throw new ConnectError(`device-class ${JSON.stringify(dc.name)} is thick: thick snapshots are not implemented yet`, Code.Unimplemented);
      }
      if (req.accessType !== "ro" && req.accessType !== "rw") {
        throw invalidArgument(`access_type must be "ro" or "rw", got ${JSON.stringify(req.accessType)}`);
      }
      const readOnly = req.accessType === "ro";
      const requested = requestedBytes(req);
      const log = logger.child({ rpc: "CreateLVSnapshot", lv: name, source, deviceClass: dc.name });
      const snapshot = await store.mutate(
        dc.volumeGroup,
        async (cached, { lvm, run, reread }) => {
          const { vg, lv: origin } = await findLv(cached, reread, dc, source);
          if (origin === undefined) {
            throw new ConnectError(`source volume ${source} not found in device-class ${JSON.stringify(dc.name)}`, Code.NotFound);
          }
          const sizeBytes = requested === 0 ? origin.sizeBytes : requested;
          if (sizeBytes < origin.sizeBytes) {
            throw new ConnectError(
              `a snapshot cannot be smaller than its source: ${source} has ${origin.sizeBytes} bytes, requested ${sizeBytes}`,
              Code.OutOfRange,
            );
          }
          const sameSnapshot = (current: VgRecord): LvRecord | undefined => {
            const existing = current.lvs.get(name);
            if (existing === undefined || (existing.origin === source && existing.poolLv === pool.name && existing.sizeBytes >= sizeBytes)) {
              return existing;
            }
            throw new ConnectError(`logical volume ${vg.name}/${name} already exists and is not this snapshot of ${source}`, Code.AlreadyExists);
          };
          const existing = sameSnapshot(vg);
          if (existing !== undefined) {
            return { result: existing };
          }
          const free = allocatableBytes(dc, vg);
          if (free < sizeBytes) {
            throw noSpace(free, sizeBytes);
          }
          let created: LogicalVolume;
          try {
            created = await lvm.createSnapshot({ vgName: vg.name, sourceName: source, name, tags });
          } catch (err) {
            return { result: await adoptOnConflict(err, reread, sameSnapshot) };
          }
          try {
            if (sizeBytes > created.sizeBytes) {
              created = await lvm.extendLogicalVolume({ vgName: vg.name, name, sizeBytes });
            }
            // Upstream's activation: a read-only snapshot gets its permission changed, a writable one is activated.
            if (readOnly) {
              await run(["lvchange", "-p", "r", `${vg.name}/${name}`]);
            } else {
              await lvm.activateLogicalVolume({ vgName: vg.name, name });
            }
            created = await lvm.getLogicalVolume({ vgName: vg.name, name });
          } catch (err) {
            // A snapshot that cannot be used is removed, so a retry starts clean.
            await lvm.removeLogicalVolume({ vgName: vg.name, name }).catch((cleanupErr: unknown) => {
              log.error({ err: cleanupErr }, "removing the unusable snapshot failed");
            });
            throw err;
          }
          const lv = lvRecordOf(created);
          return { result: lv, update: (current) => withLv(current, lv, 0) };
        },
        log,
      );
      return { snapshot: toLogicalVolume(snapshot) };
    },
  };
}
