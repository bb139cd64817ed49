import { describe, expect, it } from "vitest";
import { claim, GiB, logicalVolume, node, persistentVolume, pod, state } from "../../test/status-fixtures.js";
import { statusReport } from "./status-report.js";
import { statusTable } from "./status-table.js";

describe("statusReport", () => {
  const cluster = state({
    nodes: [node("node-1", { "00default": 8 * GiB, ssd: 8 * GiB, hdd: 20 * GiB }), node("node-2", { "00default": 5 * GiB, ssd: 5 * GiB })],
    logicalVolumes: [logicalVolume("lv-a", "node-1", "", 2 * GiB, "vol-a"), logicalVolume("lv-b", "node-1", "hdd", 1 * GiB, "vol-b"), logicalVolume("lv-c", "node-3", "ssd", GiB)],
    persistentVolumes: [persistentVolume("pv-a", "vol-a", "default/data")],
    claims: [claim("default/data")],
    pods: [pod("default/web", ["data"]), pod("default/other", ["else"])],
  });
  const report = statusReport(cluster);

  it("gives each device-class its free, used and capacity bytes, the default class by its repeated free bytes", () => {
    const node1 = report.nodes.find((n) => n.name === "node-1");
    expect(node1?.deviceClasses.map(({ name, default: isDefault, capacityBytes, usedBytes, freeBytes }) => ({ name, isDefault, capacityBytes, usedBytes, freeBytes }))).toEqual([
      { name: "hdd", isDefault: false, capacityBytes: 21 * GiB, usedBytes: GiB, freeBytes: 20 * GiB },
      { name: "ssd", isDefault: true, capacityBytes: 10 * GiB, usedBytes: 2 * GiB, freeBytes: 8 * GiB },
    ]);
  });

  it("follows a volume to its PV, claim and pods", () => {
    const ssd = report.nodes.find((n) => n.name === "node-1")?.deviceClasses.find((c) => c.name === "ssd");
    expect(ssd?.volumes).toEqual([
      { logicalVolume: "lv-a", volumeId: "vol-a", sizeBytes: 2 * GiB, persistentVolume: "pv-a", claim: "default/data", claimPhase: "Bound", pods: ["default/web"] },
    ]);
  });

  it("lists a node that only LogicalVolumes name as gone, without capacity", () => {
    expect(report.nodes.find((n) => n.name === "node-3")).toEqual({
      name: "node-3",
      exists: false,
      deviceClasses: [{ name: "ssd", default: false, capacityBytes: null, usedBytes: GiB, freeBytes: null, volumes: [expect.objectContaining({ logicalVolume: "lv-c", volumeId: null }) as unknown] }],
    });
  });

  it("keeps 00default as its own row when two classes have the same free bytes", () => {
    const tied = statusReport(state({ nodes: [node("n", { "00default": GiB, a: GiB, b: GiB })] }));
    expect(tied.nodes[0]?.deviceClasses.map((c) => [c.name, c.default])).toEqual([["00default", true], ["a", false], ["b", false]]);
  });

  it("prints aligned columns with binary units", () => {
    const table = statusTable(report);
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^NODE +DEVICE-CLASS +CAPACITY +USED +FREE +LVS$/);
    expect(table).toMatch(/\nnode-1 +ssd \(default\) +10\.0 GiB +2\.0 GiB +8\.0 GiB +1\n/);
    expect(table).toContain("node-3 (gone)");
    expect(table).toMatch(/node-1 +ssd +vol-a +2\.0 GiB +default\/data \(Bound\) +default\/web/);
    for (const line of lines) {
      expect(line).toBe(line.trimEnd());
    }
  });
});
