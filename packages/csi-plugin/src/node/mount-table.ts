import { readFile, stat } from "node:fs/promises";

/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountEntry {
  readonly mountId: number;
  readonly parentId: number;
  /** st_dev of the mounted filesystem: the block device for ext4 and xfs, an anonymous device (major 0) for btrfs. */
  readonly major: number;
  readonly minor: number;
  /** The directory of the filesystem that is mounted here ("/" unless a bind mount of a part of it). */
  readonly root: string;
  readonly mountPoint: string;
  /** The per-mount options (rw or ro, nosuid, ...). */
  readonly options: readonly string[];
  readonly fsType: string;
  /** What was mounted, as the filesystem reports it (a device path, or e.g. "tmpfs"). */
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** The kernel writes space, tab, newline and backslash in paths as three octal digits. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Parses the text of /proc/<pid>/mountinfo; a line it cannot read is an error, since a mount could hide behind it. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "") {
      continue;
    }
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    const [mountId, parentId, device, root, mountPoint, options] = fields;
    const [fsType, source, superOptions] = separator < 0 ? [] : fields.slice(separator + 1);
    const numbers = /^(\d+):(\d+)$/.exec(device ?? "");
    if (
      mountId === undefined ||
      parentId === undefined ||
      numbers === null ||
      root === undefined ||
      mountPoint === undefined ||
      options === undefined ||
      fsType === undefined ||
      source === undefined ||
      superOptions === undefined
    ) {
      throw new Error(`cannot read mountinfo line ${JSON.stringify(line)}`);
    }
    entries.push({
      mountId: Number(mountId),
      parentId: Number(parentId),
      major: Number(numbers[1]),
      minor: Number(numbers[2]),
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      options: options.split(","),
      fsType,
      source: unescape(source),
      superOptions: superOptions.split(","),
    });
  }
  return entries;
}

/** The mounts of this process's mount namespace. */
export async function readMountTable(path = "/proc/self/mountinfo"): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(path, "utf8"));
}

/** The mount visible at `mountPoint` (the last one, when several are stacked there), or undefined. */
export function mountAt(entries: readonly MountEntry[], mountPoint: string): MountEntry | undefined {
  return entries.findLast((entry) => entry.mountPoint === mountPoint);
}

/** Whether the mount is read-only for its users. */
export const isReadOnly = (entry: MountEntry): boolean => entry.options.includes("ro");

/** A block device number. */
export interface DeviceNumber {
  readonly major: number;
  readonly minor: number;
}

/**
 * Whether the filesystem mounted at `entry` lives on the block device `device`. ext4 and xfs report the device as
 * their st_dev; btrfs reports an anonymous device, so its source (the device path given to mount) is looked at.
 */
export async function isMountOf(entry: MountEntry, device: DeviceNumber): Promise<boolean> {
  if (entry.major !== 0) {
    return entry.major === device.major && entry.minor === device.minor;
  }
  if (!entry.source.startsWith("/")) {
    return false;
  }
  try {
    const source = await stat(entry.source, { bigint: true });
    return source.isBlockDevice() && sameDevice(deviceNumber(source.rdev), device);
  } catch {
    return false;
  }
}

export const sameDevice = (a: DeviceNumber, b: DeviceNumber): boolean => a.major === b.major && a.minor === b.minor;

/** Splits a Linux dev_t (glibc's encoding: 12 bits of major and 20 of minor, interleaved) into its numbers. */
export function deviceNumber(rdev: bigint): DeviceNumber {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return { major: Number(major), minor: Number(minor) };
}
