import { execFile } from "node:child_process";
import type { Filesystem } from "../controller/create-volume.js";
import type { DeviceNumber } from "./mount-table.js";

/** A command line: the program, then its arguments. Never a shell string. */
export type Argv = readonly [string, ...string[]];

export interface CommandOptions {
  readonly timeoutMs: number;
  /** Aborting it kills the command. */
  readonly signal: AbortSignal;
}

/** How a command ended: any exit status (the caller decides which are failures). */
export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one command; rejects with a CommandError only when it could not run or did not end by itself. */
export type CommandRunner = (argv: Argv, options: CommandOptions) => Promise<CommandResult>;

/** Why a command failed: its exit status, timeout, the call's end, or not starting at all. */
export type CommandFailure = "exit" | "timeout" | "aborted" | "spawn";

/** A command that failed; the message carries the command line and its stderr. */
export class CommandError extends Error {
  readonly argv: Argv;
  readonly failure: CommandFailure;
  readonly exitCode: number | undefined;
  readonly stderr: string;

  constructor(argv: Argv, failure: CommandFailure, detail: { exitCode?: number; stderr?: string; cause?: unknown }) {
    const stderr = (detail.stderr ?? "").trim();
    const what =
      failure === "exit"
        ? `exited with status ${String(detail.exitCode)}`
        : failure === "timeout"
          ? "timed out and was killed"
          : failure === "aborted"
            ? "was stopped because the call ended"
            : `could not be started: ${detail.cause instanceof Error ? detail.cause.message : String(detail.cause)}`;
    super(`${argv.join(" ")} ${what}${stderr === "" ? "" : `: ${stderr}`}`, { cause: detail.cause });
    this.name = "CommandError";
    this.argv = argv;
    this.failure = failure;
    this.exitCode = detail.exitCode;
    this.stderr = stderr;
  }
}

/** The device holds a filesystem other than the one asked for; it is never reformatted. */
export class FilesystemMismatchError extends Error {
  constructor(
    readonly device: string,
    readonly found: string,
    readonly wanted: Filesystem,
  ) {
    super(`${device} already holds a ${found} filesystem, but ${wanted} was asked for; it is not reformatted`);
    this.name = "FilesystemMismatchError";
  }
}

const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/** Runs commands with execFile (no shell); a timeout or an aborted signal kills the command with SIGKILL. */
export const execFileRunner: CommandRunner = (argv, { timeoutMs, signal }) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    execFile(file, args, { timeout: timeoutMs, killSignal: "SIGKILL", signal, maxBuffer: MAX_OUTPUT_BYTES, encoding: "utf8" }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ exitCode: 0, stdout, stderr });
      } else if (signal.aborted) {
        reject(new CommandError(argv, "aborted", { stderr, cause: error }));
      } else if (error.killed === true) {
        reject(new CommandError(argv, "timeout", { stderr, cause: error }));
      } else if (typeof error.code === "number") {
        resolve({ exitCode: error.code, stdout, stderr });
      } else {
        reject(new CommandError(argv, "spawn", { stderr, cause: error }));
      }
    });
  });

/** Time limits of the node's commands. */
export interface MounterTimeouts {
  /** blkid, wipefs, mount, umount, mknod; default 30 s. */
  readonly commandMs?: number;
  /** mkfs and the online grow tools; default 5 min (a large xfs or btrfs takes a while). */
  readonly formatMs?: number;
}

/** Filesystems, mounts and device nodes of the node, all through argv commands. */
export interface Mounter {
  /** The filesystem type blkid finds on the device, or undefined when it finds none. */
  detectFilesystem(device: string, signal: AbortSignal): Promise<string | undefined>;
  /**
   * Makes the device hold `fs`: when it holds no filesystem, wipes every other signature (partition tables, RAID or
   * LVM labels) and formats it. A different filesystem is a FilesystemMismatchError. Resolves whether it formatted.
   */
  ensureFilesystem(device: string, fs: Filesystem, signal: AbortSignal): Promise<boolean>;
  mount(device: string, target: string, fs: Filesystem, options: readonly string[], signal: AbortSignal): Promise<void>;
  /** Bind-mounts the device node on the file `target`. */
  bindMount(device: string, target: string, readonly: boolean, signal: AbortSignal): Promise<void>;
  unmount(target: string, signal: AbortSignal): Promise<void>;
  /** Grows the filesystem mounted at `mountPoint` (on `device`) to the size of the device, online. */
  grow(fs: Filesystem, device: string, mountPoint: string, signal: AbortSignal): Promise<void>;
  /** Creates a block device node (mode 0600). */
  makeDeviceNode(path: string, device: DeviceNumber, signal: AbortSignal): Promise<void>;
}

/** blkid's exit status when it found nothing. */
const BLKID_NOTHING_FOUND = 2;
/** blkid's exit status when signatures of several filesystems are on the device. */
const BLKID_AMBIVALENT = 8;

/** The TYPE of `blkid -o export` output, or undefined. */
export function parseBlkidExport(stdout: string): string | undefined {
  for (const line of stdout.split("\n")) {
    const match = /^TYPE=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[1] !== "") {
      return match[1];
    }
  }
  return undefined;
}

/** The mkfs command for a filesystem; forced, since it only runs once blkid found no filesystem and wipefs ran. */
export function formatArgv(fs: Filesystem, device: string): Argv {
  switch (fs) {
    case "ext4":
      // No blocks reserved for root: the volume belongs to one workload (as Kubernetes' mount-utils formats it).
      return ["mkfs.ext4", "-F", "-m0", device];
    case "xfs":
      return ["mkfs.xfs", "-f", device];
    case "btrfs":
      return ["mkfs.btrfs", "-f", device];
  }
}

/** The online grow command: resize2fs takes the device, xfs_growfs and btrfs the mount point. */
export function growArgv(fs: Filesystem, device: string, mountPoint: string): Argv {
  switch (fs) {
    case "ext4":
      return ["resize2fs", device];
    case "xfs":
      return ["xfs_growfs", mountPoint];
    case "btrfs":
      return ["btrfs", "filesystem", "resize", "max", mountPoint];
  }
}

/**
 * The mount options of a filesystem volume: ro when read-only, then the capability's mount flags, then nouuid for
 * xfs (a snapshot or clone carries its source's UUID, which xfs otherwise refuses to mount twice).
 */
export function mountOptions(fs: Filesystem, readonly: boolean, mountFlags: readonly string[]): string[] {
  const options = [...(readonly ? ["ro"] : []), ...mountFlags];
  if (fs === "xfs" && !options.includes("nouuid")) {
    options.push("nouuid");
  }
  return [...new Set(options)];
}

/** Why the mount flags cannot be used, naming the flag; undefined when they can. */
export function mountFlagsProblem(mountFlags: readonly string[], readonly: boolean): string | undefined {
  for (const [index, flag] of mountFlags.entries()) {
    if (flag === "" || flag.includes("\0")) {
      return `mount_flags[${index}]: ${JSON.stringify(flag)} is not a mount option`;
    }
    if (readonly && flag === "rw") {
      return `mount_flags[${index}]: "rw" contradicts the read-only publish`;
    }
    if (["bind", "rbind", "remount", "move"].includes(flag)) {
      return `mount_flags[${index}]: ${JSON.stringify(flag)} is an operation, not a mount option`;
    }
  }
  return undefined;
}

/** A Mounter over a command runner (execFile by default; tests pass a recording one). */
export function createMounter(run: CommandRunner = execFileRunner, timeouts: MounterTimeouts = {}): Mounter {
  const commandMs = timeouts.commandMs ?? 30_000;
  const formatMs = timeouts.formatMs ?? 300_000;

  async function check(argv: Argv, signal: AbortSignal, timeoutMs = commandMs): Promise<CommandResult> {
    const result = await run(argv, { timeoutMs, signal });
    if (result.exitCode !== 0) {
      throw new CommandError(argv, "exit", { exitCode: result.exitCode, stderr: result.stderr === "" ? result.stdout : result.stderr });
    }
    return result;
  }

  async function detectFilesystem(device: string, signal: AbortSignal): Promise<string | undefined> {
    const argv: Argv = ["blkid", "-p", "-u", "filesystem", "-o", "export", device];
    const result = await run(argv, { timeoutMs: commandMs, signal });
    if (result.exitCode === BLKID_NOTHING_FOUND) {
      return undefined;
    }
    if (result.exitCode === BLKID_AMBIVALENT) {
      throw new CommandError(argv, "exit", { exitCode: result.exitCode, stderr: `signatures of more than one filesystem are on ${device}; refusing to guess. ${result.stderr}` });
    }
    if (result.exitCode !== 0) {
      throw new CommandError(argv, "exit", { exitCode: result.exitCode, stderr: result.stderr });
    }
    const type = parseBlkidExport(result.stdout);
    if (type === undefined) {
      throw new CommandError(argv, "exit", { exitCode: 0, stderr: `blkid printed no TYPE: ${JSON.stringify(result.stdout)}` });
    }
    return type;
  }

  return {
    detectFilesystem,

    async ensureFilesystem(device, fs, signal) {
      const found = await detectFilesystem(device, signal);
      if (found === fs) {
        return false;
      }
      if (found !== undefined) {
        throw new FilesystemMismatchError(device, found, fs);
      }
      await check(["wipefs", "-a", device], signal);
      try {
        await check(formatArgv(fs, device), signal, formatMs);
      } catch (error) {
        // A stopped mkfs may have written a superblock already: wipe it, so the next try does not mount a torn filesystem.
        await run(["wipefs", "-a", device], { timeoutMs: commandMs, signal: AbortSignal.timeout(commandMs) }).catch(() => undefined);
        throw error;
      }
      return true;
    },

    async mount(device, target, fs, options, signal) {
      await check(["mount", "-t", fs, ...(options.length === 0 ? [] : ["-o", options.join(",")]), device, target], signal);
    },

    async bindMount(device, target, readonly, signal) {
      // util-linux applies ro to a bind mount with a second (remount) call itself.
      await check(["mount", "-o", readonly ? "bind,ro" : "bind", device, target], signal);
    },

    async unmount(target, signal) {
      await check(["umount", target], signal);
    },

    async grow(fs, device, mountPoint, signal) {
      await check(growArgv(fs, device, mountPoint), signal, formatMs);
    },

    async makeDeviceNode(path, device, signal) {
      await check(["mknod", "-m", "0600", path, "b", String(device.major), String(device.minor)], signal);
    },
  };
}
