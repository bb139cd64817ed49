import * as commands from "./commands.js";
import { execFileExecutor, type ExecResult, type Executor } from "./executor.js";
import { validateLvcreateExtraArgs } from "./extra-args.js";
import { classifyFailure, LvmError } from "./lvm-error.js";
import { MalformedReportError, parseFullReport, parseLvReport, parseVgReport, type LogicalVolume, type VolumeGroup, type VolumeGroupReport } from "./report.js";
import { validateCount, validateLvName, validateLvPath, validateSizeBytes, validateTags, validateVgName } from "./validation.js";

export interface LvmOptions {
  /** Runs each command; default: execFile (no shell). */
  executor?: Executor;
  /** The environment of every command (default: process.env); LC_ALL=C is always added. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default time limit per command, in milliseconds (default 60000). */
  timeoutMs?: number;
  /** The lvm binary (default "lvm", found on PATH). Subcommands run as `lvm <subcommand> ...`. */
  lvmBinary?: string;
  /**
   * Replaces the lvm binary with a command line, e.g. `["nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1",
   * "/sbin/lvm"]` (lvmd's `lvm-command-prefix`). Not together with `lvmBinary`.
   */
  commandPrefix?: readonly string[];
}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the default time limit for each command of this call. */
  timeoutMs?: number;
  /** Stops the running command; the call then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Per-call options of an operation that reads its LV back with `lvs` after changing it. `readBack: false` skips
 * that read, for a caller that re-reads LVM itself; the call then resolves to undefined.
 */
export interface ReadBackOptions<R extends boolean> extends CallOptions {
  readBack?: R;
}

export interface LvRef {
  vgName: string;
  name: string;
}

export interface CreateLogicalVolumeRequest extends LvRef {
  /** Requested size; LVM rounds it up to whole extents (and stripes), the result has the real size. */
  sizeBytes: number;
  tags?: readonly string[];
  stripes?: number;
  stripeSizeBytes?: number;
  /** Create a thin volume in this thin pool (of `vgName`) instead of a thick one. */
  thinPool?: string;
  /** More lvcreate options, e.g. `["--type", "raid1", "-m", "1"]` or `["-an", "-Zn"]`; see the README's rule. */
  extraArgs?: readonly string[];
}

export interface ExtendLogicalVolumeRequest extends LvRef {
  sizeBytes: number;
}

export interface CreateThinPoolRequest extends LvRef {
  sizeBytes: number;
  tags?: readonly string[];
}

export interface CreateSnapshotRequest extends LvRef {
  /** The thin volume to snapshot, in `vgName`. */
  sourceName: string;
  tags?: readonly string[];
}

export interface TagsRequest extends LvRef {
  tags: readonly string[];
}

/** Typed LVM operations. Every method validates its input before running anything and rejects with LvmError. */
export interface Lvm {
  listVolumeGroups(options?: CallOptions): Promise<VolumeGroup[]>;
  /** NotFound when the VG does not exist. */
  getVolumeGroup(name: string, options?: CallOptions): Promise<VolumeGroup>;
  /** The visible LVs of one VG (NotFound when it does not exist) or of all VGs. */
  listLogicalVolumes(vgName?: string, options?: CallOptions): Promise<LogicalVolume[]>;
  /** NotFound when the VG or the LV does not exist. */
  getLogicalVolume(ref: LvRef, options?: CallOptions): Promise<LogicalVolume>;
  /** Every given VG (default: all) with its LVs, sorted by VG name, from one `lvm fullreport` command. */
  fullReport(vgNames?: readonly string[], options?: CallOptions): Promise<VolumeGroupReport[]>;
  /** Creates a thick LV, or a thin one with `thinPool`; returns it as LVM reports it (real size). */
  createLogicalVolume(request: CreateLogicalVolumeRequest, options?: ReadBackOptions<true>): Promise<LogicalVolume>;
  /** Creates the LV without reading it back. */
  createLogicalVolume(request: CreateLogicalVolumeRequest, options: ReadBackOptions<false>): Promise<undefined>;
  /** Grows the LV to at least `sizeBytes` (a no-op when it is already that large); returns it. */
  extendLogicalVolume(request: ExtendLogicalVolumeRequest, options?: ReadBackOptions<true>): Promise<LogicalVolume>;
  /** Grows the LV without reading it back. */
  extendLogicalVolume(request: ExtendLogicalVolumeRequest, options: ReadBackOptions<false>): Promise<undefined>;
  removeLogicalVolume(ref: LvRef, options?: CallOptions): Promise<void>;
  createThinPool(request: CreateThinPoolRequest, options?: CallOptions): Promise<LogicalVolume>;
  /** A thin snapshot of a thin volume, activatable normally (`-k n`). */
  createSnapshot(request: CreateSnapshotRequest, options?: CallOptions): Promise<LogicalVolume>;
  addTags(request: TagsRequest, options?: CallOptions): Promise<void>;
  removeTags(request: TagsRequest, options?: CallOptions): Promise<void>;
  /** Makes the LV read-only (`lvchange -p r`). */
  setReadOnly(ref: LvRef, options?: CallOptions): Promise<void>;
  activateLogicalVolume(ref: LvRef, options?: CallOptions): Promise<void>;
  deactivateLogicalVolume(ref: LvRef, options?: CallOptions): Promise<void>;
}

export const defaultTimeoutMs = 60_000;
/** LVM's limit on stripes per LV. */
export const maxStripes = 128;

// lvextend's refusals of a size that is not larger: extendLogicalVolume treats them as "already large enough".
const notLarger = /matches existing size|not larger than existing size/;

function invalid(message: string): LvmError {
  return new LvmError("InvalidArgument", message);
}

function validateTimeout(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${field} must be a positive integer number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function validateProgram(options: LvmOptions): string[] {
  const { lvmBinary, commandPrefix } = options;
  if (lvmBinary !== undefined && commandPrefix !== undefined) throw invalid("set lvmBinary or commandPrefix, not both");
  if (commandPrefix !== undefined) {
    const parts: unknown = commandPrefix;
    if (!Array.isArray(parts) || parts.length === 0) throw invalid("commandPrefix must be a non-empty array of strings");
    return parts.map((part: unknown, i) => {
      if (typeof part !== "string" || part === "" || part.includes("\0")) throw invalid(`commandPrefix[${i}] must be a non-empty string`);
      return part;
    });
  }
  if (lvmBinary !== undefined && (typeof lvmBinary !== "string" || lvmBinary === "" || lvmBinary.includes("\0"))) {
    throw invalid("lvmBinary must be a non-empty string");
  }
  return [lvmBinary ?? "lvm"];
}

function commandEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined) result[key] = value;
  }
  // LVM's messages, which errors are classified by, and its number formats depend on the locale.
  result.LC_ALL = "C";
  return result;
}

// The lines of stderr worth showing in a message: LVM's warnings (activation disabled, leaked descriptors) are not.
function summary(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("WARNING:") && !/^File descriptor \d+ .* leaked/.test(line));
  return lines.join("; ");
}

function tagsOf(value: unknown): string[] {
  const tags = validateTags(value);
  if (tags.length === 0) throw invalid("tags must name at least one tag");
  return tags;
}

/** Creates the LVM operations over an executor; throws InvalidArgument for bad options. */
export function createLvm(options: LvmOptions = {}): Lvm {
  const program = validateProgram(options);
  const executor = options.executor ?? execFileExecutor;
  const env = commandEnv(options.env ?? process.env);
  const defaultTimeout = options.timeoutMs === undefined ? defaultTimeoutMs : validateTimeout(options.timeoutMs, "timeoutMs");

  async function exec(args: readonly string[], call: CallOptions): Promise<ExecResult & { argv: string[] }> {
    const argv = [...program, ...args];
    const timeoutMs = call.timeoutMs === undefined ? defaultTimeout : validateTimeout(call.timeoutMs, "timeoutMs");
    const { signal } = call;
    signal?.throwIfAborted();
    const controller = new AbortController();
    const timeout = { fired: false };
    const timer = setTimeout(() => {
      timeout.fired = true;
      controller.abort(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => {
      controller.abort(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const name = `lvm ${args[0] ?? ""}`;
    let result: ExecResult;
    try {
      result = await executor(argv, { env, timeoutMs, signal: controller.signal });
    } catch (error) {
      if (timeout.fired) throw new LvmError("Timeout", `${name} did not finish within ${timeoutMs} ms and was stopped`, { argv, cause: error });
      signal?.throwIfAborted();
      throw new LvmError("CommandFailed", `${name} could not run: ${(error as Error).message}`, { argv, cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    if (timeout.fired) {
      throw new LvmError("Timeout", `${name} did not finish within ${timeoutMs} ms and was stopped`, { argv, exitCode: result.exitCode, stderr: result.stderr });
    }
    signal?.throwIfAborted();
    return { ...result, argv };
  }

  function failure(result: ExecResult & { argv: string[] }): LvmError {
    const { argv, exitCode, stderr } = result;
    const detail = summary(stderr);
    const status = exitCode === null ? "killed by a signal" : `exit code ${exitCode}`;
    const message = `lvm ${argv[program.length] ?? ""} failed (${status})${detail === "" ? "" : `: ${detail}`}`;
    return new LvmError(classifyFailure(stderr), message, { argv, exitCode, stderr });
  }

  /** Runs a command that must succeed. */
  async function run(args: readonly string[], call: CallOptions): Promise<ExecResult & { argv: string[] }> {
    const result = await exec(args, call);
    if (result.exitCode !== 0) throw failure(result);
    return result;
  }

  async function report<T>(args: readonly string[], call: CallOptions, parse: (stdout: string) => T): Promise<T> {
    const result = await run(args, call);
    try {
      return parse(result.stdout);
    } catch (error) {
      if (!(error instanceof MalformedReportError)) throw error;
      throw new LvmError("CommandFailed", `lvm ${args[0] ?? ""} printed a report that does not parse: ${error.message}`, {
        argv: result.argv,
        exitCode: result.exitCode,
        stderr: result.stderr,
        cause: error,
      });
    }
  }

  async function readLv(vgName: string, name: string, call: CallOptions): Promise<LogicalVolume> {
    const lvs = await report(commands.lvsArgs(`${vgName}/${name}`), call, parseLvReport);
    const [lv] = lvs;
    if (lv === undefined || lvs.length !== 1) throw new LvmError("NotFound", `logical volume ${vgName}/${name} not found`);
    return lv;
  }

  function lvRef(ref: LvRef): string {
    if (typeof ref !== "object" || (ref as LvRef | null) === null) throw invalid("the request must be an object");
    return validateLvPath(ref.vgName, ref.name);
  }

  async function readBack(ref: LvRef, call: ReadBackOptions<boolean>): Promise<LogicalVolume | undefined> {
    return call.readBack === false ? undefined : readLv(ref.vgName, ref.name, call);
  }

  function createLogicalVolume(request: CreateLogicalVolumeRequest, call?: ReadBackOptions<true>): Promise<LogicalVolume>;
  function createLogicalVolume(request: CreateLogicalVolumeRequest, call: ReadBackOptions<false>): Promise<undefined>;
  async function createLogicalVolume(request: CreateLogicalVolumeRequest, call: ReadBackOptions<boolean> = {}): Promise<LogicalVolume | undefined> {
    lvRef(request);
    const sizeBytes = validateSizeBytes(request.sizeBytes);
    const tags = validateTags(request.tags);
    const stripes = validateCount(request.stripes, "stripes", maxStripes);
    const stripeSizeBytes = request.stripeSizeBytes === undefined ? undefined : validateSizeBytes(request.stripeSizeBytes, "stripeSizeBytes");
    if (stripeSizeBytes !== undefined) {
      if (stripes === undefined) throw invalid("stripeSizeBytes needs stripes");
      if (stripeSizeBytes < 4096 || (stripeSizeBytes & (stripeSizeBytes - 1)) !== 0 || stripeSizeBytes > 2 ** 30) {
        throw invalid(`stripeSizeBytes must be a power of two from 4096 to ${2 ** 30}, got ${stripeSizeBytes}`);
      }
    }
    const thinPool = request.thinPool === undefined ? undefined : validateLvName(request.thinPool, "thinPool");
    const extraArgs = validateLvcreateExtraArgs(request.extraArgs);
    await run(commands.lvcreateArgs({ vgName: request.vgName, name: request.name, sizeBytes, tags, stripes, stripeSizeBytes, thinPool, extraArgs }), call);
    return readBack(request, call);
  }

  function extendLogicalVolume(request: ExtendLogicalVolumeRequest, call?: ReadBackOptions<true>): Promise<LogicalVolume>;
  function extendLogicalVolume(request: ExtendLogicalVolumeRequest, call: ReadBackOptions<false>): Promise<undefined>;
  async function extendLogicalVolume(request: ExtendLogicalVolumeRequest, call: ReadBackOptions<boolean> = {}): Promise<LogicalVolume | undefined> {
    const path = lvRef(request);
    const sizeBytes = validateSizeBytes(request.sizeBytes);
    const result = await exec(commands.lvextendArgs(path, sizeBytes), call);
    if (result.exitCode !== 0 && !notLarger.test(result.stderr)) throw failure(result);
    return readBack(request, call);
  }

  return {
    async listVolumeGroups(call = {}) {
      return report(commands.vgsArgs([]), call, parseVgReport);
    },

    async getVolumeGroup(name, call = {}) {
      const vgName = validateVgName(name, "name");
      const vgs = await report(commands.vgsArgs([vgName]), call, parseVgReport);
      const [vg] = vgs;
      if (vg === undefined || vgs.length !== 1) throw new LvmError("NotFound", `volume group ${vgName} not found`);
      return vg;
    },

    async listLogicalVolumes(vgName, call = {}) {
      const target = vgName === undefined ? undefined : validateVgName(vgName);
      return report(commands.lvsArgs(target), call, parseLvReport);
    },

    async getLogicalVolume(ref, call = {}) {
      lvRef(ref);
      return readLv(ref.vgName, ref.name, call);
    },

    async fullReport(vgNames = [], call = {}) {
      if (!Array.isArray(vgNames)) throw invalid("vgNames must be an array of volume group names");
      const names = vgNames.map((name: unknown, i) => validateVgName(name, `vgNames[${i}]`));
      const reports = await report(commands.fullReportArgs(names), call, parseFullReport);
      // fullreport lists VGs in the order it finds them on disk; sort like vgs does.
      return reports.sort((a, b) => (a.volumeGroup.name < b.volumeGroup.name ? -1 : a.volumeGroup.name > b.volumeGroup.name ? 1 : 0));
    },

    createLogicalVolume,
    extendLogicalVolume,

    async removeLogicalVolume(ref, call = {}) {
      await run(commands.lvremoveArgs(lvRef(ref)), call);
    },

    async createThinPool(request, call = {}) {
      lvRef(request);
      const sizeBytes = validateSizeBytes(request.sizeBytes);
      const tags = validateTags(request.tags);
      await run(commands.thinPoolArgs(request.vgName, request.name, sizeBytes, tags), call);
      return readLv(request.vgName, request.name, call);
    },

    async createSnapshot(request, call = {}) {
      lvRef(request);
      validateLvPath(request.vgName, request.sourceName, "sourceName");
      const tags = validateTags(request.tags);
      await run(commands.snapshotArgs(request.vgName, request.sourceName, request.name, tags), call);
      return readLv(request.vgName, request.name, call);
    },

    async addTags(request, call = {}) {
      const path = lvRef(request);
      await run(commands.tagArgs(path, tagsOf(request.tags), "add"), call);
    },

    async removeTags(request, call = {}) {
      const path = lvRef(request);
      await run(commands.tagArgs(path, tagsOf(request.tags), "remove"), call);
    },

    async setReadOnly(ref, call = {}) {
      await run(commands.readOnlyArgs(lvRef(ref)), call);
    },

    async activateLogicalVolume(ref, call = {}) {
      await run(commands.activateArgs(lvRef(ref), true), call);
    },

    async deactivateLogicalVolume(ref, call = {}) {
      await run(commands.activateArgs(lvRef(ref), false), call);
    },
  };
}
