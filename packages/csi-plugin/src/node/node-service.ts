import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { csi } from "@topolvm/proto";
import type { BigIntStats } from "node:fs";
import { chmod, lstat, mkdir, open, readFile, realpath, rmdir, stat, statfs, unlink } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Logger } from "pino";
import { capabilityProblem, nodeTopology, supportedFilesystems, type Filesystem } from "../controller/create-volume.js";
import { createKeyedLock } from "../keyed-lock.js";
import type { DeviceNodes } from "./device-node.js";
import { CommandError, FilesystemMismatchError, mountFlagsProblem, mountOptions, type Mounter } from "./mounter.js";
import { deviceNumber, isMountOf, isReadOnly, mountAt, readMountTable, sameDevice, type DeviceNumber, type MountEntry } from "./mount-table.js";
import { abnormal, lvAttrProblem, lvCondition, lvDevice, type Condition } from "./volume-condition.js";
import { untilAborted } from "./until-aborted.js";
import type { NodeVolume, VolumeLookup } from "./volume-lookup.js";

export interface NodeServiceOptions {
  /** The node ID and the value of the topology key. */
  readonly nodeName: string;
  readonly volumes: VolumeLookup;
  readonly mounter: Mounter;
  readonly deviceNodes: DeviceNodes;
  readonly logger: Logger;
  /** The mount table; default /proc/self/mountinfo. */
  readonly mountTable?: () => Promise<readonly MountEntry[]>;
  /** The size of a block device, or undefined when the kernel has no such device; default from sysfs. */
  readonly blockDeviceBytes?: (device: DeviceNumber) => Promise<bigint | undefined>;
}

/** The longest path accepted (Linux PATH_MAX). */
const MAX_PATH_LENGTH = 4096;
/** A volume ID is an LV name: LVM's characters, at most 127 of them (and never "." or ".."). */
const volumeIdPattern = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
/** A target can hold stacked mounts; unpublish takes them all off, up to this many. */
const MAX_STACKED_MOUNTS = 8;

const invalid = (message: string): ConnectError => new ConnectError(message, Code.InvalidArgument);
const notFound = (message: string): ConnectError => new ConnectError(message, Code.NotFound);
const precondition = (message: string): ConnectError => new ConnectError(message, Code.FailedPrecondition);

function requireVolumeId(volumeId: string): string {
  if (volumeId === "") {
    throw invalid("volume_id: required, got an empty id");
  }
  if (!volumeIdPattern.test(volumeId) || volumeId === "." || volumeId === "..") {
    throw invalid(`volume_id: ${JSON.stringify(volumeId.slice(0, 200))} is not a TopoLVM volume id (an LV name: A-Z a-z 0-9 + _ . -, at most 127 characters)`);
  }
  return volumeId;
}

/** A path field that must name a place on this node: present, absolute, of sane length, without NUL. */
function requirePath(path: string, field: string): string {
  if (path === "") {
    throw invalid(`${field}: required, got an empty path`);
  }
  if (path.length > MAX_PATH_LENGTH || path.includes("\0")) {
    throw invalid(`${field}: not a usable path (longer than ${MAX_PATH_LENGTH} characters or holding NUL)`);
  }
  if (!isAbsolute(path)) {
    throw invalid(`${field}: ${JSON.stringify(path)} is not an absolute path`);
  }
  return resolve(path);
}

/** A path to look a published volume up at; one that cannot exist is NotFound, as csi-sanity expects. */
function requireVolumePath(path: string, field: string): string {
  if (path === "") {
    throw invalid(`${field}: required, got an empty path`);
  }
  if (path.length > MAX_PATH_LENGTH || path.includes("\0") || !isAbsolute(path)) {
    throw notFound(`${field}: ${JSON.stringify(path.slice(0, 200))} is not an absolute path, so no volume is published there`);
  }
  return resolve(path);
}

const errnoOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

async function statOrUndefined(path: string, follow: boolean): Promise<BigIntStats | undefined> {
  try {
    return await (follow ? stat(path, { bigint: true }) : lstat(path, { bigint: true }));
  } catch (error) {
    if (errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR") {
      return undefined;
    }
    throw error;
  }
}

/** The path the kernel shows in the mount table for `path` (symlinks resolved once it exists). */
async function mountPointOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return path;
  }
}

/** The size of a block device from /sys/dev/block/<major>:<minor>/size (512-byte sectors). */
export async function sysfsBlockDeviceBytes(device: DeviceNumber): Promise<bigint | undefined> {
  try {
    const sectors = (await readFile(`/sys/dev/block/${device.major}:${device.minor}/size`, "utf8")).trim();
    return BigInt(sectors) * 512n;
  } catch (error) {
    if (errnoOf(error) === "ENOENT") {
      return undefined;
    }
    throw error;
  }
}

/** The code of a call that ended because its signal aborted: its deadline passed, or the client cancelled it. */
function endedCode(signal: AbortSignal): Code {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) {
    return reason.code;
  }
  return reason instanceof DOMException && reason.name === "TimeoutError" ? Code.DeadlineExceeded : Code.Canceled;
}

/** The one error mapping of the node service: what failed while doing `action`, with its CSI code. */
function nodeError(action: string, error: unknown, signal: AbortSignal): ConnectError {
  const ended = signal.aborted && error === signal.reason;
  if (!ended && error instanceof ConnectError && error.code !== Code.Internal) {
    return error;
  }
  if (signal.aborted) {
    const code = endedCode(signal);
    return new ConnectError(`${action}: the call ended (${Code[code]}) before it was done; a retry continues from there`, code, undefined, undefined, error);
  }
  if (error instanceof FilesystemMismatchError) {
    return new ConnectError(`${action}: ${error.message}`, Code.FailedPrecondition, undefined, undefined, error);
  }
  const message = error instanceof ConnectError ? error.rawMessage : error instanceof Error ? error.message : String(error);
  return new ConnectError(`${action}: ${message}`, error instanceof CommandError && error.failure === "timeout" ? Code.DeadlineExceeded : Code.Internal, undefined, undefined, error);
}

function parseFilesystem(fsType: string): Filesystem | undefined {
  const name = fsType === "" ? "ext4" : fsType;
  return supportedFilesystems.find((fs) => fs === name);
}

/** What a publish asks for. */
type Access = { readonly kind: "block" } | { readonly kind: "mount"; readonly fs: Filesystem; readonly mountFlags: readonly string[] };

function describeMount(entry: MountEntry): string {
  return `${entry.source} (${entry.fsType}, ${isReadOnly(entry) ? "read-only" : "read-write"}, device ${entry.major}:${entry.minor})`;
}

interface Usage {
  readonly unit: csi.VolumeUsage_Unit;
  readonly total: bigint;
  readonly available: bigint;
  readonly used: bigint;
}

interface Stats {
  readonly usage: Usage[];
  readonly volumeCondition: Condition;
}

const usage = (unit: csi.VolumeUsage_Unit, total: bigint, available: bigint, used: bigint): Usage => ({ unit, total, available, used });

/**
 * The CSI Node service of topolvm-node: NodeGetInfo, NodeGetCapabilities, NodePublishVolume, NodeUnpublishVolume,
 * NodeGetVolumeStats and NodeExpandVolume, with no staging. Volumes are found through lvmd by their LV name, made
 * reachable through device nodes of their own, formatted (after wipefs) when they hold no filesystem, and mounted or
 * bind-mounted at the target. Calls on one volume (and one target) run one at a time; each ends with its deadline.
 */
export function createNodeService(options: NodeServiceOptions): ServiceImpl<typeof csi.Node> {
  const { nodeName, volumes, mounter, deviceNodes, logger } = options;
  const mountTable = options.mountTable ?? readMountTable;
  const blockDeviceBytes = options.blockDeviceBytes ?? sysfsBlockDeviceBytes;
  const locks = createKeyedLock();

  /**
   * Runs `work` holding the locks of `keys` (volume first, then target: one order, so no deadlock), mapping its errors.
   * The call answers when its signal aborts, but the locks stay held until what `work` handed to `keep` has finished.
   */
  async function serialised<T>(
    action: string,
    context: HandlerContext,
    keys: readonly string[],
    work: (signal: AbortSignal, keep: (running: Promise<unknown>) => void) => Promise<T>,
  ): Promise<T> {
    const { signal } = context;
    const kept: Promise<unknown>[] = [];
    const keep = (running: Promise<unknown>): void => {
      kept.push(
        running.catch((error: unknown) => {
          // While the call runs, it answers with the error itself.
          if (signal.aborted) {
            logger.warn({ err: (error as Error).message }, `${action}: failed after the call had ended`);
          }
        }),
      );
    };
    const locked = keys.reduceRight<() => Promise<T>>(
      (inner, key) => () => locks.run(key, signal, inner),
      async () => {
        try {
          return await work(signal, keep);
        } finally {
          await Promise.all(kept);
        }
      },
    );
    try {
      return await untilAborted(locked(), signal);
    } catch (error) {
      const mapped = nodeError(action, error, signal);
      if (mapped.code === Code.Internal || mapped.code === Code.DeadlineExceeded) {
        logger.warn({ err: mapped.rawMessage }, "node call failed");
      }
      throw mapped;
    }
  }

  async function requireVolume(volumeId: string, signal: AbortSignal): Promise<NodeVolume> {
    const volume = await volumes.find(volumeId, signal);
    if (volume === undefined) {
      throw notFound(`volume ${volumeId}: lvmd lists no LV of this name in any device-class of node ${nodeName}`);
    }
    return volume;
  }

  /** The device number of an LV that can be published. */
  function requireServing(volume: NodeVolume): DeviceNumber {
    const problem = lvAttrProblem(volume.lv);
    const device = lvDevice(volume.lv);
    if (problem !== undefined || device === undefined) {
      throw precondition(`volume ${volume.lv.name}: ${problem ?? "the LV has no device number"}`);
    }
    return device;
  }

  async function publishFilesystem(
    volumeId: string,
    device: DeviceNumber,
    target: string,
    access: Access & { kind: "mount" },
    readonly: boolean,
    signal: AbortSignal,
    keep: (running: Promise<unknown>) => void,
  ): Promise<void> {
    const { fs } = access;
    const mounted = mountAt(await mountTable(), await mountPointOf(target));
    if (mounted !== undefined) {
      if ((await isMountOf(mounted, device)) && mounted.fsType === fs && isReadOnly(mounted) === readonly) {
        return;
      }
      throw new ConnectError(
        `target_path ${target}: ${describeMount(mounted)} is mounted there already; this request asks for volume ${volumeId} as ${fs}${readonly ? ", read-only" : ""}`,
        Code.AlreadyExists,
      );
    }
    const existing = await statOrUndefined(target, false);
    if (existing !== undefined && !existing.isDirectory()) {
      throw precondition(`target_path ${target} exists and is not a directory; a filesystem volume is mounted on a directory`);
    }
    await mkdir(target, { recursive: true, mode: 0o755 });
    const devicePath = await deviceNodes.ensure(volumeId, device, signal);
    // mkfs is not stopped with the call: killed, it would start again on every retry and a large volume whose mkfs
    // outlasts kubelet's deadline would never be published. It runs to its own time limit, holding the volume, and the
    // retry finds the filesystem.
    const formatting = mounter.ensureFilesystem(devicePath, fs, new AbortController().signal);
    keep(formatting);
    const formatted = await untilAborted(formatting, signal);
    await mounter.mount(devicePath, target, fs, mountOptions(fs, readonly, access.mountFlags), signal);
    if (!readonly) {
      // As upstream: any pod user may write the volume's root; setgid keeps new files in its group.
      await chmod(target, 0o2777);
      if (!formatted) {
        // The LV may have grown while the volume was not published; the volume is usable either way.
        await mounter.grow(fs, devicePath, target, signal).catch((error: unknown) => {
          logger.warn({ volumeId, target, err: (error as Error).message }, "growing the filesystem after mounting it failed");
        });
      }
    }
    logger.info({ volumeId, target, fs, readonly, formatted }, "volume published");
  }

  async function publishBlock(volumeId: string, device: DeviceNumber, target: string, readonly: boolean, signal: AbortSignal): Promise<void> {
    const mounted = mountAt(await mountTable(), await mountPointOf(target));
    if (mounted !== undefined) {
      const node = await statOrUndefined(target, true);
      if (node?.isBlockDevice() === true && sameDevice(deviceNumber(node.rdev), device) && isReadOnly(mounted) === readonly) {
        return;
      }
      throw new ConnectError(
        `target_path ${target}: ${describeMount(mounted)} is mounted there already; this request asks for volume ${volumeId} as a block device${readonly ? ", read-only" : ""}`,
        Code.AlreadyExists,
      );
    }
    const existing = await statOrUndefined(target, false);
    if (existing === undefined) {
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await (await open(target, "a", 0o755)).close();
    } else if (!existing.isFile()) {
      throw precondition(`target_path ${target} exists and is not a regular file; a block volume is bind-mounted on a file`);
    }
    const devicePath = await deviceNodes.ensure(volumeId, device, signal);
    await mounter.bindMount(devicePath, target, readonly, signal);
    logger.info({ volumeId, target, readonly }, "block volume published");
  }

  /** Removes the volume's device node unless a mount still names it as its source. */
  async function removeUnusedDeviceNode(volumeId: string): Promise<void> {
    const path = deviceNodes.pathOf(volumeId);
    if (!(await mountTable()).some((entry) => entry.source === path)) {
      await deviceNodes.remove(volumeId);
    }
  }

  async function filesystemStats(volumeId: string, path: string, volume: NodeVolume | undefined): Promise<Stats> {
    const mounted = mountAt(await mountTable(), await mountPointOf(path));
    if (mounted === undefined) {
      return { usage: [], volumeCondition: abnormal(`nothing is mounted at ${path}: the mount of volume ${volumeId} is gone`) };
    }
    const device = volume === undefined ? undefined : lvDevice(volume.lv);
    if (device !== undefined && !(await isMountOf(mounted, device))) {
      return { usage: [], volumeCondition: abnormal(`${path} has ${describeMount(mounted)} mounted, not LV ${volumeId} (device ${device.major}:${device.minor})`) };
    }
    const fs = await statfs(path, { bigint: true });
    const Unit = csi.VolumeUsage_Unit;
    return {
      usage: [
        usage(Unit.BYTES, fs.blocks * fs.bsize, fs.bavail * fs.bsize, (fs.blocks - fs.bfree) * fs.bsize),
        usage(Unit.INODES, fs.files, fs.ffree, fs.files - fs.ffree),
      ],
      volumeCondition: lvCondition(volumeId, volume?.lv),
    };
  }

  async function blockStats(volumeId: string, path: string, rdev: bigint, volume: NodeVolume | undefined): Promise<Stats> {
    const published = deviceNumber(rdev);
    const bytes = await blockDeviceBytes(published);
    const stats = bytes === undefined ? [] : [usage(csi.VolumeUsage_Unit.BYTES, bytes, 0n, 0n)];
    const device = volume === undefined ? undefined : lvDevice(volume.lv);
    if (device !== undefined && !sameDevice(device, published)) {
      return { usage: stats, volumeCondition: abnormal(`${path} is device ${published.major}:${published.minor}, not LV ${volumeId} (device ${device.major}:${device.minor})`) };
    }
    if (volume !== undefined && bytes === undefined) {
      return { usage: stats, volumeCondition: abnormal(`device ${published.major}:${published.minor} at ${path} no longer exists in the kernel`) };
    }
    return { usage: stats, volumeCondition: lvCondition(volumeId, volume?.lv) };
  }

  return {
    nodeGetInfo() {
      return { nodeId: nodeName, maxVolumesPerNode: 0n, accessibleTopology: nodeTopology(nodeName) };
    },

    nodeGetCapabilities() {
      const Type = csi.NodeServiceCapability_RPC_Type;
      return {
        capabilities: [Type.GET_VOLUME_STATS, Type.EXPAND_VOLUME, Type.VOLUME_CONDITION].map((type) => ({ type: { case: "rpc" as const, value: { type } } })),
      };
    },

    async nodePublishVolume(request, context) {
      const volumeId = requireVolumeId(request.volumeId);
      const target = requirePath(request.targetPath, "target_path");
      const capability = request.volumeCapability;
      if (capability === undefined) {
        throw invalid("volume_capability: required");
      }
      const problem = capabilityProblem(capability, "volume_capability");
      if (problem !== undefined) {
        throw invalid(problem);
      }
      let access: Access = { kind: "block" };
      if (capability.accessType.case === "mount") {
        const { fsType, mountFlags } = capability.accessType.value;
        const flagsProblem = mountFlagsProblem(mountFlags, request.readonly);
        if (flagsProblem !== undefined) {
          throw invalid(`volume_capability.mount.${flagsProblem}`);
        }
        access = { kind: "mount", fs: parseFilesystem(fsType) ?? "ext4", mountFlags };
      }
      const selected = access;
      // An "ro" mount flag makes the volume read-only as much as the readonly field does.
      const readonly = request.readonly || (selected.kind === "mount" && selected.mountFlags.includes("ro"));
      return serialised(`publishing volume ${volumeId} at ${target}`, context, [`volume/${volumeId}`, `target/${target}`], async (signal, keep) => {
        const device = requireServing(await requireVolume(volumeId, signal));
        if (selected.kind === "mount") {
          await publishFilesystem(volumeId, device, target, selected, readonly, signal, keep);
        } else {
          await publishBlock(volumeId, device, target, readonly, signal);
        }
        return {};
      });
    },

    async nodeUnpublishVolume(request, context) {
      const volumeId = requireVolumeId(request.volumeId);
      const target = requirePath(request.targetPath, "target_path");
      return serialised(`unpublishing volume ${volumeId} from ${target}`, context, [`volume/${volumeId}`, `target/${target}`], async (signal) => {
        const existing = await statOrUndefined(target, false);
        if (existing !== undefined) {
          const mountPoint = await mountPointOf(target);
          for (let unmounted = 0; mountAt(await mountTable(), mountPoint) !== undefined; unmounted += 1) {
            if (unmounted === MAX_STACKED_MOUNTS) {
              throw new Error(`${target} is still mounted after ${MAX_STACKED_MOUNTS} unmounts`);
            }
            await mounter.unmount(mountPoint, signal);
          }
          if (existing.isDirectory()) {
            await rmdir(target);
          } else {
            await unlink(target);
          }
          logger.info({ volumeId, target }, "volume unpublished");
        }
        await removeUnusedDeviceNode(volumeId);
        return {};
      });
    },

    async nodeGetVolumeStats(request, context) {
      const volumeId = requireVolumeId(request.volumeId);
      const path = requireVolumePath(request.volumePath, "volume_path");
      return serialised(`reading the stats of volume ${volumeId} at ${path}`, context, [`volume/${volumeId}`], async (signal) => {
        const published = await statOrUndefined(path, true);
        if (published === undefined) {
          throw notFound(`volume_path ${path} does not exist`);
        }
        const volume = await volumes.find(volumeId, signal);
        if (published.isBlockDevice()) {
          return blockStats(volumeId, path, published.rdev, volume);
        }
        if (published.isDirectory()) {
          return filesystemStats(volumeId, path, volume);
        }
        return { usage: [], volumeCondition: abnormal(`${path} is neither a mounted directory nor a block device: the bind mount of volume ${volumeId} is gone`) };
      });
    },

    async nodeExpandVolume(request, context) {
      const volumeId = requireVolumeId(request.volumeId);
      const path = requireVolumePath(request.volumePath, "volume_path");
      const capability = request.volumeCapability;
      const problem = capability === undefined ? undefined : capabilityProblem(capability, "volume_capability");
      if (problem !== undefined) {
        throw invalid(problem);
      }
      return serialised(`expanding volume ${volumeId} at ${path}`, context, [`volume/${volumeId}`], async (signal) => {
        const volume = await requireVolume(volumeId, signal);
        const published = await statOrUndefined(path, true);
        if (published === undefined) {
          throw notFound(`volume_path ${path} does not exist`);
        }
        const capacityBytes = volume.lv.sizeBytes;
        if (capability?.accessType.case === "block" || published.isBlockDevice()) {
          // A block volume is as large as its LV already.
          return { capacityBytes };
        }
        const device = requireServing(volume);
        const mountPoint = await mountPointOf(path);
        const mounted = mountAt(await mountTable(), mountPoint);
        if (mounted === undefined || !(await isMountOf(mounted, device))) {
          throw precondition(`volume_path ${path}: the filesystem of volume ${volumeId} is not mounted there${mounted === undefined ? "" : ` (${describeMount(mounted)} is)`}`);
        }
        const fs = supportedFilesystems.find((name) => name === mounted.fsType);
        if (fs === undefined) {
          throw precondition(`volume_path ${path}: ${mounted.fsType} cannot be grown by TopoLVM (supported: ${supportedFilesystems.join(", ")})`);
        }
        const devicePath = await deviceNodes.ensure(volumeId, device, signal);
        await mounter.grow(fs, devicePath, mountPoint, signal);
        logger.info({ volumeId, path, fs, capacityBytes: capacityBytes.toString() }, "filesystem grown");
        return { capacityBytes };
      });
    },

    nodeStageVolume() {
      throw new ConnectError("csi.v1.Node.NodeStageVolume is not implemented: TopoLVM does not stage volumes (no STAGE_UNSTAGE_VOLUME)", Code.Unimplemented);
    },

    nodeUnstageVolume() {
      throw new ConnectError("csi.v1.Node.NodeUnstageVolume is not implemented: TopoLVM does not stage volumes (no STAGE_UNSTAGE_VOLUME)", Code.Unimplemented);
    },
  };
}
