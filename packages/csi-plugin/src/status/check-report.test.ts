import { V1ManagedFieldsEntry } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { checkReport, formatAge } from "./check-report.js";
import { checkTable } from "./status-table.js";
import type { V1Node, V1PersistentVolumeClaim, V1Pod } from "./cluster-state.js";
import { claim, logicalVolume, node, persistentVolume, pod, state } from "../../test/status-fixtures.js";

const now = new Date("2026-12-03T12:00:00Z");
const ago = (seconds: number): string => new Date(now.getTime() - seconds * 1000).toISOString();

function aged<T extends { metadata?: object }>(object: T, seconds: number): T {
  return { ...object, metadata: { ...object.metadata, creationTimestamp: ago(seconds) } };
}

describe("checkReport", () => {
  it("finds nothing in a healthy cluster", () => {
    const cluster = state({
      nodes: [node("node-1", { ssd: 1 })],
      logicalVolumes: [aged(logicalVolume("lv-a", "node-1", "ssd", 1, "vol-a"), 600)],
      persistentVolumes: [persistentVolume("pv-a", "vol-a", "default/data")],
      claims: [aged(claim("default/data"), 600)],
    });
    expect(checkReport(cluster, { now })).toEqual([]);
    expect(checkTable([])).toBe("No problems found.\n");
  });

  it("flags a LogicalVolume whose node, PV or claim is gone, or that failed", () => {
    const failed: LogicalVolume = { ...logicalVolume("lv-f", "node-1", "ssd", 1), status: { code: 8, message: "no space left" } };
    const releasedPv = { ...persistentVolume("pv-c", "vol-c", "default/gone"), status: { phase: "Released" } };
    const cluster = state({
      nodes: [node("node-1", { ssd: 1 })],
      logicalVolumes: [
        aged(logicalVolume("lv-n", "node-9", "ssd", 1, "vol-n"), 600),
        aged(logicalVolume("lv-p", "node-1", "ssd", 1, "vol-p"), 600),
        aged(logicalVolume("lv-new", "node-1", "ssd", 1, "vol-new"), 5),
        aged(logicalVolume("lv-c", "node-1", "ssd", 1, "vol-c"), 600),
        failed,
      ],
      persistentVolumes: [releasedPv],
    });
    expect(checkReport(cluster, { now }).map(({ kind, object }) => [kind, object])).toEqual([
      ["logicalvolume-node-gone", "LogicalVolume/lv-n"],
      ["logicalvolume-pv-gone", "LogicalVolume/lv-p"],
      ["logicalvolume-claim-gone", "LogicalVolume/lv-c"],
      ["logicalvolume-failed", "LogicalVolume/lv-f"],
    ]);
  });

  it("says why a TopoLVM claim is stuck Pending: no pod, the scheduler's reason, or a node that has not provisioned", () => {
    const unschedulable: V1Pod = {
      ...pod("default/big", ["big"]),
      status: { phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 not enough capacity." }] },
    };
    const placed = aged(claim("default/placed", "Pending"), 300);
    const selected: V1PersistentVolumeClaim = { ...placed, metadata: { ...placed.metadata, annotations: { "volume.kubernetes.io/selected-node": "node-2" } } };
    const cluster = state({
      claims: [aged(claim("default/lonely", "Pending"), 300), aged(claim("default/big", "Pending"), 300), selected, aged(claim("default/young", "Pending"), 10), aged(claim("default/other", "Pending", "standard"), 300)],
      pods: [unschedulable],
    });
    const messages = checkReport(cluster, { now }).map(({ kind, object, message }) => `${kind} ${object} ${message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^claim-pending PersistentVolumeClaim\/default\/lonely Pending for 5m: no pod uses it/) as unknown,
      "claim-pending PersistentVolumeClaim/default/big Pending for 5m: pod default/big: Unschedulable: 0/3 nodes are available: 3 not enough capacity.",
      expect.stringMatching(/^claim-pending PersistentVolumeClaim\/default\/placed .*placed on node node-2/) as unknown,
    ]);
  });

  it("flags a claim Terminating past the grace with its finalizers and pods", () => {
    const bound = claim("default/data");
    const terminating: V1PersistentVolumeClaim = { ...bound, metadata: { ...bound.metadata, deletionTimestamp: ago(600), finalizers: ["kubernetes.io/pvc-protection"] } };
    const findings = checkReport(state({ claims: [terminating], pods: [pod("default/web", ["data"])] }), { now });
    expect(findings).toEqual([
      { kind: "claim-terminating", object: "PersistentVolumeClaim/default/data", message: "deleted 10m ago, held by finalizers kubernetes.io/pvc-protection; used by default/web" },
    ]);
  });

  it("flags a node whose annotations are older than its newest volume, or that is not Ready", () => {
    const written = (seconds: number, subresource?: string) => [{ manager: "topolvm-node", operation: "Update", time: ago(seconds), ...(subresource === undefined ? {} : { subresource }) }];
    const annotated = node("node-1", { ssd: 1 });
    const lagging: V1Node = { ...annotated, metadata: { ...annotated.metadata, managedFields: written(900) } };
    const lv: LogicalVolume = logicalVolume("lv-a", "node-1", "ssd", 1, "vol-a");
    lv.metadata.managedFields = [Object.assign(new V1ManagedFieldsEntry(), { manager: "topolvm-node", operation: "Update", subresource: "status", time: new Date(ago(300)) })];
    const notReady: V1Node = { ...node("node-2", { ssd: 1 }), status: { conditions: [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown" }] } };
    const findings = checkReport(state({ nodes: [lagging, notReady], logicalVolumes: [lv], persistentVolumes: [persistentVolume("pv", "vol-a", "d/c")], claims: [claim("d/c")] }), { now });
    expect(findings.map(({ kind, object, message }) => `${kind} ${object} ${message}`)).toEqual([
      "node-capacity-stale Node/node-1 capacity annotations last written 15m ago, before its newest volume (5m ago): is topolvm-node running there?",
      "node-capacity-stale Node/node-2 node is not Ready (NodeStatusUnknown): its capacity annotations are not kept current",
    ]);
  });

  it("formats ages in the largest fitting unit", () => {
    expect([formatAge(45_000), formatAge(600_000), formatAge(3 * 3_600_000), formatAge(3 * 86_400_000)]).toEqual(["45s", "10m", "3h", "3d"]);
  });
});
