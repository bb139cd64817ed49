import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { isLvmError, type CreateLogicalVolumeRequest } from "@topolvm/lvm-exec";
import { lvmd } from "@topolvm/proto";
import type { Logger } from "pino";
import type { DeviceClass, LvmdConfig } from "./config.js";
import { invalidArgument } from "./errors.js";
import { allocatableBytes, inClass } from "./free-bytes.js";
import { roundToExtents, type LvRecord, type VgRecord } from "./model.js";
import { requestedBytes, requireLvName, requireTags, resolveDeviceClass, toLogicalVolume } from "./requests.js";
import type { Answer, VolumeStore } from "./volume-store.js";

// Upstream refuses thick sizes that are not whole 4 KiB blocks before running lvcreate.
const thickSizeUnit = 4096;

export interface LvServiceOptions {
  readonly config: LvmdConfig;
  readonly store: VolumeStore;
  readonly logger: Logger;
}

// The signal of a direct call that passes no handler context.
const neverAborted = new AbortController().signal;

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
  if (dc.thinPool === undefined && sizeBytes % thickSizeUnit !== 0) {
    throw invalidArgument(`size_bytes must be a multiple of ${thickSizeUnit}, got ${sizeBytes}`);
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

/** The answer of a mutation that made or changed the LV `name`: that LV as LVM reports it afterwards. */
function reported(name: string): Answer<LvRecord> {
  return (vg) => {
    const lv = vg.lvs.get(name);
    if (lv === undefined) {
      throw new ConnectError(`logical volume ${vg.name}/${name} is missing from LVM's report after the change`, Code.Internal);
    }
    return lv;
  };
}

/** The LVService of lvmd.proto (a Connect ServiceImpl), with its answers typed exactly for direct callers. */
export interface LvService {
  readonly createLV: (req: lvmd.CreateLVRequest, context?: Pick<HandlerContext, "signal">) => Promise<{ volume: lvmd.LogicalVolume }>;
  readonly removeLV: (req: lvmd.RemoveLVRequest, context?: Pick<HandlerContext, "signal">) => Promise<Record<string, never>>;
  readonly resizeLV: (req: lvmd.ResizeLVRequest, context?: Pick<HandlerContext, "signal">) => Promise<{ sizeBytes: bigint }>;
  readonly createLVSnapshot: (
    req: lvmd.CreateLVSnapshotRequest,
    context?: Pick<HandlerContext, "signal">,
  ) => Promise<{ snapshot: lvmd.LogicalVolume }>;
}

/** The LVService of lvmd.proto over the model and LVM. */
export function createLvService({ config, store, logger }: LvServiceOptions): LvService {
  return {
    async createLV(req, context) {
      const { name, dc, sizeBytes } = sizedRequest(config, req);
      const tags = requireTags(req.tags);
      const options = lvcreateOptions(config, dc, req.lvcreateOptionClass);
      const signal = context?.signal ?? neverAborted;
      const log = logger.child({ rpc: "CreateLV", lv: name, deviceClass: dc.name });

      const volume = await store.mutate(
        dc.volumeGroup,
        async (vg, { lvm, reread }) => {
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
            return () => existing;
          }
          const free = allocatableBytes(dc, vg);
          if (free < allocatedBytes) {
            throw noSpace(free, allocatedBytes);
          }
          try {
            // No read-back: the store re-reads the whole VG after the command, and the answer comes from that report.
            await lvm.createLogicalVolume(
              { vgName: vg.name, name, sizeBytes, tags, ...(dc.thinPool === undefined ? {} : { thinPool: dc.thinPool.name }), ...options },
              { readBack: false, signal },
            );
          } catch (err) {
            const adopted = await adoptOnConflict(err, reread, sameLv);
            return () => adopted;
          }
          return reported(name);
        },
        { log, signal },
      );
      return { volume: toLogicalVolume(volume) };
    },

    async removeLV(req, context) {
      const name = requireLvName(req.name, "name");
      const dc = resolveDeviceClass(config, req.deviceClass);
      const signal = context?.signal ?? neverAborted;
      const log = logger.child({ rpc: "RemoveLV", lv: name, deviceClass: dc.name });
      await store.mutate(
        dc.volumeGroup,
        async (cached, { lvm, reread }) => {
          const { vg, lv: existing } = await findLv(cached, reread, dc, name);
          // Removing what is not there already succeeded: retries after a lost answer must not fail.
          if (existing === undefined) {
            return () => undefined;
          }
          await lvm.removeLogicalVolume({ vgName: vg.name, name }, { signal }).catch((err: unknown) => {
            // Removed behind lvmd's back since the model's last re-read: as good as removed by this call.
            if (!isLvmError(err, "NotFound")) {
              throw err;
            }
          });
          return () => undefined;
        },
        { log, signal },
      );
      return {};
    },

    async resizeLV(req, context) {
      const { name, dc, sizeBytes } = sizedRequest(config, req);
      const signal = context?.signal ?? neverAborted;
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
            return () => existing;
          }
          const growBytes = targetBytes - existing.sizeBytes;
          const free = allocatableBytes(dc, vg);
          if (free < growBytes) {
            throw noSpace(free, growBytes);
          }
          await lvm.extendLogicalVolume({ vgName: vg.name, name, sizeBytes }, { readBack: false, signal });
          return reported(name);
        },
        { log, signal },
      );
      return { sizeBytes: BigInt(resized.sizeBytes) };
    },

    async createLVSnapshot(req, context) {
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
      const signal = context?.signal ?? neverAborted;
      const log = logger.child({ rpc: "CreateLVSnapshot", lv: name, source, deviceClass: dc.name });
      const snapshot = await store.mutate(
        dc.volumeGroup,
        async (cached, { lvm, reread }) => {
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
            return () => existing;
          }
          const free = allocatableBytes(dc, vg);
          if (free < sizeBytes) {
            throw noSpace(free, sizeBytes);
          }
          try {
            // A thin snapshot starts at its origin's size.
            await lvm.createSnapshot({ vgName: vg.name, sourceName: source, name, tags }, { signal });
          } catch (err) {
            const adopted = await adoptOnConflict(err, reread, sameSnapshot);
            return () => adopted;
          }
          try {
            if (sizeBytes > origin.sizeBytes) {
              await lvm.extendLogicalVolume({ vgName: vg.name, name, sizeBytes }, { readBack: false, signal });
            }
            // Upstream's activation: a read-only snapshot gets its permission changed, a writable one is activated.
            if (readOnly) {
              await lvm.setReadOnly({ vgName: vg.name, name }, { signal });
            } else {
              await lvm.activateLogicalVolume({ vgName: vg.name, name }, { signal });
            }
          } catch (err) {
            // A snapshot that cannot be used is removed, so a retry starts clean.
            await lvm.removeLogicalVolume({ vgName: vg.name, name }).catch((cleanupErr: unknown) => {
              log.error({ err: cleanupErr }, "removing the unusable snapshot failed");
            });
            throw err;
          }
          return reported(name);
        },
        { log, signal },
      );
      return { snapshot: toLogicalVolume(snapshot) };
    },
  };
}
