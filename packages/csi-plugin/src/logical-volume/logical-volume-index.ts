import type { LogicalVolume } from "./logical-volume.js";
import type { LogicalVolumeClient, LogicalVolumeInformer } from "./logical-volume-client.js";

/**
 * What the controller reads of LogicalVolumes: the informer's cache, an index of it by `status.volumeID`, and waits
 * for a resource to reach a state, driven by the informer's events (no polling).
 */
export interface LogicalVolumeIndex {
  /** The cached resource of that name. */
  get(name: string): LogicalVolume | undefined;
  /** The resource whose status.volumeID is `volumeId`: from the index, else one API list (the cache may lag). */
  findByVolumeId(volumeId: string): Promise<LogicalVolume | undefined>;
  /**
   * Resolves with the first non-undefined value of `select` over the resource's states: the one read from the API
   * now, then each one the informer sees (undefined once the resource is gone). Rejects with the signal's reason
   * when it aborts first.
   */
  waitFor<T>(name: string, select: (lv: LogicalVolume | undefined) => T | undefined, signal: AbortSignal): Promise<T>;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** Builds the index over an informer; its events must be those of a started (or starting) informer. */
export function createLogicalVolumeIndex(client: LogicalVolumeClient, informer: LogicalVolumeInformer): LogicalVolumeIndex {
  const nameByVolumeId = new Map<string, string>();
  const volumeIdByName = new Map<string, string>();
  const listeners = new Map<string, Set<(lv: LogicalVolume | undefined) => void>>();

  const forget = (name: string): void => {
    const volumeId = volumeIdByName.get(name);
    if (volumeId !== undefined) {
      volumeIdByName.delete(name);
      if (nameByVolumeId.get(volumeId) === name) {
        nameByVolumeId.delete(volumeId);
      }
    }
  };
  const notify = (name: string, lv: LogicalVolume | undefined): void => {
    for (const listener of listeners.get(name) ?? []) {
      listener(lv);
    }
  };
  const upsert = (lv: LogicalVolume): void => {
    const { name } = lv.metadata;
    const volumeId = lv.status?.volumeID ?? "";
    if (volumeIdByName.get(name) !== volumeId) {
      forget(name);
      if (volumeId !== "") {
        volumeIdByName.set(name, volumeId);
        nameByVolumeId.set(volumeId, name);
      }
    }
    notify(name, lv);
  };
  informer.on("add", upsert);
  informer.on("update", upsert);
  informer.on("delete", (lv) => {
    forget(lv.metadata.name);
    notify(lv.metadata.name, undefined);
  });

  return {
    get: (name) => informer.get(name),
    async findByVolumeId(volumeId) {
      const name = nameByVolumeId.get(volumeId);
      const cached = name === undefined ? undefined : informer.get(name);
      if (cached?.status?.volumeID === volumeId) {
        return cached;
      }
      return (await client.list()).find((lv) => lv.status?.volumeID === volumeId);
    },
    waitFor(name, select, signal) {
      return new Promise((resolve, reject) => {
        let settled = false;
        const finish = (settle: () => void): void => {
          if (settled) {
            return;
          }
          settled = true;
          signal.removeEventListener("abort", onAbort);
          const set = listeners.get(name);
          set?.delete(listener);
          if (set?.size === 0) {
            listeners.delete(name);
          }
          settle();
        };
        const consider = (lv: LogicalVolume | undefined): void => {
          let value: ReturnType<typeof select>;
          try {
            value = select(lv);
          } catch (error) {
            finish(() => {
              reject(asError(error));
            });
            return;
          }
          if (value !== undefined) {
            finish(() => {
              resolve(value);
            });
          }
        };
        const listener = (lv: LogicalVolume | undefined): void => {
          consider(lv);
        };
        const onAbort = (): void => {
          finish(() => {
            reject(signal.reason as Error);
          });
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener("abort", onAbort, { once: true });
        // Subscribed before the read, so no event between the two is missed; a read older than an event already seen
        // only matters for states that go back, which the states waited for do not.
        let set = listeners.get(name);
        if (set === undefined) {
          set = new Set();
          listeners.set(name, set);
        }
        set.add(listener);
        client.get(name).then(consider, (error: unknown) => {
          finish(() => {
            reject(asError(error));
          });
        });
      });
    },
  };
}
