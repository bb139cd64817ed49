import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createNodeMetrics } from "./metrics.js";

const GiB = 1n << 30n;

const thick = { deviceClass: "ssd", freeBytes: 5n * GiB, sizeBytes: 100n * GiB };
const thin = {
  deviceClass: "thin",
  freeBytes: 7n * GiB,
  sizeBytes: 50n * GiB,
  thinPool: { dataPercent: 12.5, metadataPercent: 3.25, overprovisionBytes: 200n * GiB, sizeBytes: 20n * GiB },
};

const watch = (...items: (typeof thick | typeof thin)[]): lvmd.WatchResponse => create(lvmd.WatchResponseSchema, { freeBytes: 5n * GiB, items });

/** The sample lines of one metric, without HELP and TYPE. */
async function samples(registry: Registry, name: string): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((line) => line.startsWith(`${name}{`));
}

describe("createNodeMetrics", () => {
  it("exports the volume-group gauges of every class, labelled with node and device_class", async () => {
    const registry = new Registry();
    createNodeMetrics(registry, "node-1").observeWatch(watch(thick, thin));
    expect(await samples(registry, "topolvm_volumegroup_available_bytes")).toEqual([
      `topolvm_volumegroup_available_bytes{node="node-1",device_class="ssd"} ${5n * GiB}`,
      `topolvm_volumegroup_available_bytes{node="node-1",device_class="thin"} ${7n * GiB}`,
    ]);
    expect(await samples(registry, "topolvm_volumegroup_size_bytes")).toEqual([
      `topolvm_volumegroup_size_bytes{node="node-1",device_class="ssd"} ${100n * GiB}`,
      `topolvm_volumegroup_size_bytes{node="node-1",device_class="thin"} ${50n * GiB}`,
    ]);
  });

  it("exports the thin-pool gauges of thin classes only", async () => {
    const registry = new Registry();
    createNodeMetrics(registry, "node-1").observeWatch(watch(thick, thin));
    expect(await samples(registry, "topolvm_thinpool_size_bytes")).toEqual([`topolvm_thinpool_size_bytes{node="node-1",device_class="thin"} ${20n * GiB}`]);
    expect(await samples(registry, "topolvm_thinpool_data_percent")).toEqual(['topolvm_thinpool_data_percent{node="node-1",device_class="thin"} 12.5']);
    expect(await samples(registry, "topolvm_thinpool_metadata_percent")).toEqual(['topolvm_thinpool_metadata_percent{node="node-1",device_class="thin"} 3.25']);
    expect(await samples(registry, "topolvm_thinpool_overprovisioned_available")).toEqual([
      `topolvm_thinpool_overprovisioned_available{node="node-1",device_class="thin"} ${200n * GiB}`,
    ]);
  });

  it("follows the latest message: values change, classes no longer served lose their series", async () => {
    const registry = new Registry();
    const metrics = createNodeMetrics(registry, "node-1");
    metrics.observeWatch(watch(thick, thin));
    metrics.observeWatch(watch({ ...thick, freeBytes: 4n * GiB }));
    expect(await samples(registry, "topolvm_volumegroup_available_bytes")).toEqual([
      `topolvm_volumegroup_available_bytes{node="node-1",device_class="ssd"} ${4n * GiB}`,
    ]);
    expect(await samples(registry, "topolvm_thinpool_size_bytes")).toEqual([]);
  });

  it("counts LV operations by their gRPC code", async () => {
    const registry = new Registry();
    const metrics = createNodeMetrics(registry, "node-1");
    metrics.countLvOperation("create", undefined);
    metrics.countLvOperation("create", undefined);
    metrics.countLvOperation("resize", Code.ResourceExhausted);
    expect(await samples(registry, "topolvm_node_lv_operations_total")).toEqual([
      'topolvm_node_lv_operations_total{node="node-1",operation="create",code="OK"} 2',
      'topolvm_node_lv_operations_total{node="node-1",operation="resize",code="ResourceExhausted"} 1',
    ]);
  });
});
