import { lstat, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Mounter } from "./mounter.js";
import { deviceNumber, sameDevice, type DeviceNumber } from "./mount-table.js";

/**
 * Where topolvm-node makes the device nodes of its LVs (upstream's place before LVM's own paths were used). It must be
 * on a filesystem mounted without nodev, which /dev is and /run usually is not.
 */
export const DEFAULT_DEVICE_DIR = "/dev/topolvm";

/** Block device nodes of LVs, one per volume ID, in a directory of their own: /dev/<vg> is not needed. */
export interface DeviceNodes {
  /** The path of the volume's device node. */
  pathOf(volumeId: string): string;
  /** Makes (or fixes) the volume's device node for `device`; resolves with its path. */
  ensure(volumeId: string, device: DeviceNumber, signal: AbortSignal): Promise<string>;
  /** Removes the volume's device node; a missing one is fine. Mounts made from it keep working. */
  remove(volumeId: string): Promise<void>;
}

const isMissing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === "ENOENT";

/** Device nodes under `dir` (created mode 0700 when missing), made with mknod. */
export function createDeviceNodes(dir: string, mounter: Pick<Mounter, "makeDeviceNode">): DeviceNodes {
  const pathOf = (volumeId: string): string => join(dir, volumeId);
  return {
    pathOf,

    async ensure(volumeId, device, signal) {
      const path = pathOf(volumeId);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        const existing = await lstat(path, { bigint: true });
        if (existing.isBlockDevice() && sameDevice(deviceNumber(existing.rdev), device)) {
          return path;
        }
        // A node left from an LV that had this name before (numbers are reused), or anything else: replace it.
        await unlink(path);
      } catch (error) {
        if (!isMissing(error)) {
          throw error;
        }
      }
      await mounter.makeDeviceNode(path, device, signal);
      return path;
    },

    async remove(volumeId) {
      try {
        await unlink(pathOf(volumeId));
      } catch (error) {
        if (!isMissing(error)) {
          throw error;
        }
      }
    },
  };
}
