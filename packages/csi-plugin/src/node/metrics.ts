import { Code } from "@connectrpc/connect";
import type { lvmd } from "@topolvm/proto";
import { Counter, Gauge, type Registry } from "prom-client";

/** What the LogicalVolume reconciler did to an LV through lvmd. */
export type LvOperation = "create" | "adopt" | "resize" | "remove";

/** The Prometheus metrics of topolvm-node (upstream's names and labels), all labelled with the node. */
export interface NodeMetrics {
  /** Sets the volume-group and thin-pool gauges from one Watch message; classes it no longer lists lose their series. */
  observeWatch(watch: lvmd.WatchResponse): void;
  /** Counts one lvmd operation by its outcome: "OK" or the gRPC code's name. */
  countLvOperation(operation: LvOperation, code: Code | undefined): void;
}

/** Registers the node metrics on `registry`. */
export function createNodeMetrics(registry: Registry, nodeName: string): NodeMetrics {
  const labelNames = ["node", "device_class"] as const;
  const gauge = (name: string, help: string): Gauge<"node" | "device_class"> =>
    new Gauge({ name, help, labelNames, registers: [registry] });
  const vgAvailable = gauge("topolvm_volumegroup_available_bytes", "Free bytes of the device-class as lvmd reports it (thick: less its spare).");
  const vgSize = gauge("topolvm_volumegroup_size_bytes", "Size of the device-class's volume group in bytes.");
  const thinSize = gauge("topolvm_thinpool_size_bytes", "Data size of the thin pool in bytes.");
  const thinData = gauge("topolvm_thinpool_data_percent", "Percentage of the thin pool's data space in use.");
  const thinMetadata = gauge("topolvm_thinpool_metadata_percent", "Percentage of the thin pool's metadata space in use.");
  const thinAvailable = gauge(
    "topolvm_thinpool_overprovisioned_available",
    "Bytes still available to thin volumes once the overprovision ratio is applied.",
  );
  const operations = new Counter({
    name: "topolvm_node_lv_operations_total",
    help: "lvmd operations of the LogicalVolume reconciler by operation and gRPC code.",
    labelNames: ["node", "operation", "code"] as const,
    registers: [registry],
  });
  const classGauges = [vgAvailable, vgSize];
  const thinGauges = [thinSize, thinData, thinMetadata, thinAvailable];
  let servedClasses = new Set<string>();
  let thinClasses = new Set<string>();

  return {
    observeWatch(watch) {
      const served = new Set<string>();
      const thin = new Set<string>();
      for (const item of watch.items) {
        const labels = { node: nodeName, device_class: item.deviceClass };
        vgAvailable.set(labels, Number(item.freeBytes));
        vgSize.set(labels, Number(item.sizeBytes));
        served.add(item.deviceClass);
        const pool = item.thinPool;
        if (pool !== undefined) {
          thinSize.set(labels, Number(pool.sizeBytes));
          thinData.set(labels, pool.dataPercent);
          thinMetadata.set(labels, pool.metadataPercent);
          thinAvailable.set(labels, Number(pool.overprovisionBytes));
          thin.add(item.deviceClass);
        }
      }
      const drop = (gauges: Gauge<"node" | "device_class">[], before: Set<string>, now: Set<string>): void => {
        for (const deviceClass of before) {
          if (!now.has(deviceClass)) {
            for (const g of gauges) {
              g.remove({ node: nodeName, device_class: deviceClass });
            }
          }
        }
      };
      drop(classGauges, servedClasses, served);
      drop(thinGauges, thinClasses, thin);
      servedClasses = served;
      thinClasses = thin;
    },
    countLvOperation(operation, code) {
      operations.inc({ node: nodeName, operation, code: code === undefined ? "OK" : Code[code] });
    },
  };
}
