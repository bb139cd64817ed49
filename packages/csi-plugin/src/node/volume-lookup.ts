import { Code, ConnectError } from "@connectrpc/connect";
import type { lvmd } from "@topolvm/proto";
import type { LvmdClient } from "./lvmd-client.js";
import { untilAborted } from "./until-aborted.js";

/** An LV of this node and the device-class lvmd lists it in. */
export interface NodeVolume {
  readonly deviceClass: string;
  readonly lv: lvmd.LogicalVolume;
}

/** Finds LVs by volume ID (the LV name) through lvmd alone, so the node service needs no API server. */
export interface VolumeLookup {
  /** The LV named `volumeId` in any of lvmd's device-classes, or undefined. Ends with the signal's reason. */
  find(volumeId: string, signal: AbortSignal): Promise<NodeVolume | undefined>;
}

/** How long lvmd may take to send the first Watch message (it sends one at once on subscribe). */
export const DEVICE_CLASSES_TIMEOUT_MS = 15_000;

/** lvmd's device-classes: the names in the first message of its Watch stream. */
async function readDeviceClasses(lvmdClient: Pick<LvmdClient, "watch">, timeoutMs: number): Promise<readonly string[]> {
  // The stream ends quietly when its signal aborts: at the timeout, or once the first message is in.
  const stop = new AbortController();
  const timer = setTimeout(() => {
    stop.abort();
  }, timeoutMs);
  try {
    for await (const message of lvmdClient.watch(stop.signal)) {
      return message.items.map((item) => item.deviceClass);
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  throw new ConnectError(`lvmd sent no Watch message within ${timeoutMs} ms, so its device-classes are unknown`, Code.Unavailable);
}

/**
 * A lookup that asks GetLVList of every device-class. The classes are read once and again after a miss (lvmd may
 * have been restarted with another config), so a found volume costs one GetLVList per class and no Watch.
 */
export function createVolumeLookup(lvmdClient: Pick<LvmdClient, "getLVList" | "watch">, timeoutMs = DEVICE_CLASSES_TIMEOUT_MS): VolumeLookup {
  let classes: Promise<readonly string[]> | undefined;
  const deviceClasses = (): Promise<readonly string[]> => {
    const current = (classes ??= readDeviceClasses(lvmdClient, timeoutMs));
    // A failed read is not kept: the next call asks lvmd again.
    current.catch(() => {
      if (classes === current) {
        classes = undefined;
      }
    });
    return current;
  };

  async function search(volumeId: string, names: readonly string[]): Promise<NodeVolume | undefined> {
    const lists = await Promise.all(names.map(async (deviceClass) => ({ deviceClass, volumes: await lvmdClient.getLVList(deviceClass) })));
    for (const { deviceClass, volumes } of lists) {
      const lv = volumes.find((volume) => volume.name === volumeId);
      if (lv !== undefined) {
        return { deviceClass, lv };
      }
    }
    return undefined;
  }

  return {
    async find(volumeId, signal) {
      const known = await untilAborted(deviceClasses(), signal);
      const found = await untilAborted(search(volumeId, known), signal);
      if (found !== undefined) {
        return found;
      }
      classes = undefined;
      const fresh = await untilAborted(deviceClasses(), signal);
      if (fresh.length === known.length && fresh.every((name) => known.includes(name))) {
        return undefined;
      }
      return untilAborted(search(volumeId, fresh), signal);
    },
  };
}
