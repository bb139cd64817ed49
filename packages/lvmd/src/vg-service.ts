import { create, equals } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import type { DeviceClass, LvmdConfig } from "./config.js";
import { capacityReport, classVolumes, reportedFreeBytes } from "./free-bytes.js";
import type { VgRecord } from "./model.js";
import { resolveDeviceClass, toLogicalVolume } from "./requests.js";
import type { VolumeStore } from "./volume-store.js";

/** Upstream sends a Watch message at least this often, changed or not. */
export const defaultWatchIntervalMs = 10 * 60 * 1000;

export interface VgServiceOptions {
  readonly config: LvmdConfig;
  readonly store: VolumeStore;
  /** Default defaultWatchIntervalMs. */
  readonly watchIntervalMs?: number;
}

/** The Watch message for the model now. */
export function watchResponse(config: LvmdConfig, store: VolumeStore): lvmd.WatchResponse {
  const report = capacityReport(config, store.inventory());
  return create(lvmd.WatchResponseSchema, {
    freeBytes: BigInt(report.freeBytes),
    items: report.items.map((item) => ({
      freeBytes: BigInt(item.freeBytes),
      deviceClass: item.deviceClass,
      sizeBytes: BigInt(item.sizeBytes),
      ...(item.thinPool === undefined
        ? {}
        : {
            thinPool: {
              dataPercent: item.thinPool.dataPercent,
              metadataPercent: item.thinPool.metadataPercent,
              overprovisionBytes: BigInt(item.thinPool.overprovisionBytes),
              sizeBytes: BigInt(item.thinPool.sizeBytes),
            },
          }),
    })),
  });
}

/** The VGService of lvmd.proto (a Connect ServiceImpl), with its answers typed exactly for direct callers. */
export interface VgService {
  readonly getLVList: (req: lvmd.GetLVListRequest) => lvmd.GetLVListResponse;
  readonly getFreeBytes: (req: lvmd.GetFreeBytesRequest) => { freeBytes: bigint };
  readonly watch: (req: lvmd.Empty, context: HandlerContext) => AsyncGenerator<lvmd.WatchResponse>;
}

/** The VGService of lvmd.proto: answers from the model, never by running LVM. */
export function createVgService({ config, store, watchIntervalMs = defaultWatchIntervalMs }: VgServiceOptions): VgService {
  // The model's records are immutable and replaced on every change, so one answer per record and class serves every
  // GetLVList until the next change: listing 1,000 LVs repeatedly allocates nothing (the transport caches the bytes).
  const lists = new WeakMap<VgRecord, Map<string, lvmd.GetLVListResponse>>();
  function listOf(dc: DeviceClass, vg: VgRecord): lvmd.GetLVListResponse {
    let byClass = lists.get(vg);
    if (byClass === undefined) {
      byClass = new Map();
      lists.set(vg, byClass);
    }
    let list = byClass.get(dc.name);
    if (list === undefined) {
      list = create(lvmd.GetLVListResponseSchema, { volumes: classVolumes(dc, vg).map(toLogicalVolume) });
      byClass.set(dc.name, list);
    }
    return list;
  }

  function vgOf(dc: DeviceClass): VgRecord {
    const vg = store.inventory().get(dc.volumeGroup);
    if (vg === undefined) {
      throw new ConnectError(`volume group ${dc.volumeGroup} of device-class ${JSON.stringify(dc.name)} is not available`, Code.Internal);
    }
    return vg;
  }

  return {
    getLVList(req) {
      const dc = resolveDeviceClass(config, req.deviceClass);
      return listOf(dc, vgOf(dc));
    },

    getFreeBytes(req) {
      const dc = resolveDeviceClass(config, req.deviceClass);
      return { freeBytes: BigInt(reportedFreeBytes(dc, vgOf(dc))) };
    },

    async *watch(_req, context) {
      // Changes coalesce: a burst of mutations wakes the stream once, and it sends the model as it is then.
      let wake: () => void = () => undefined;
      let pending = true;
      let force = true;
      const signal = (): void => {
        pending = true;
        wake();
      };
      const unsubscribe = store.onChange(signal);
      const ticker = setInterval(() => {
        force = true;
        signal();
      }, watchIntervalMs);
      const onAbort = (): void => {
        wake();
      };
      context.signal.addEventListener("abort", onAbort);
      let last: lvmd.WatchResponse | undefined;
      try {
        while (!context.signal.aborted) {
          if (!pending) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            continue;
          }
          pending = false;
          const message = watchResponse(config, store);
          if (force || last === undefined || !equals(lvmd.WatchResponseSchema, last, message)) {
            force = false;
            last = message;
            yield message;
          }
        }
      } finally {
        unsubscribe();
        clearInterval(ticker);
        context.signal.removeEventListener("abort", onAbort);
      }
    },
  };
}
