// The demo's closing table: per node and device-class, the VG size, the free bytes before and after, the pods
// placed there and the LVs that lvs shows in the volume group.
import { formatBytes, formatTable, type StatusReport } from "@topolvm/csi-plugin";

import type { LogicalVolumeReport, NodeState } from "../../cluster/src/index.js";
import type { Placement } from "./scenario.js";

/** `topolvm status --output json`. */
export type StatusJson = StatusReport;

function freeOf(status: StatusJson, node: string, deviceClass: string): number | null {
  return status.nodes.find((entry) => entry.name === node)?.deviceClasses.find((entry) => entry.name === deviceClass)?.freeBytes ?? null;
}

export function nodeTable(
  nodes: readonly NodeState[],
  before: StatusJson,
  after: StatusJson,
  placements: readonly Placement[],
  lvs: ReadonlyMap<string, readonly LogicalVolumeReport[]>,
): string {
  const rows = nodes.flatMap((node) =>
    node.deviceClasses.map((deviceClass) => {
      const volumes = (lvs.get(node.name) ?? []).filter((lv) => lv.volumeGroup === deviceClass.volumeGroup);
      const claims = after.nodes
        .find((entry) => entry.name === node.name)
        ?.deviceClasses.find((entry) => entry.name === deviceClass.name)
        ?.volumes.map((volume) => [volume.volumeId, volume.claim] as const);
      const claimOf = new Map(claims ?? []);
      const pods = placements.filter((placement) => placement.node === node.name).map((placement) => placement.pod);
      return [
        node.name,
        deviceClass.name,
        deviceClass.volumeGroup,
        formatBytes(deviceClass.sizeBytes),
        formatBytes(freeOf(before, node.name, deviceClass.name)),
        formatBytes(freeOf(after, node.name, deviceClass.name)),
        pods.join(",") || "-",
        volumes.map((lv) => `${formatBytes(lv.sizeBytes)} ${claimOf.get(lv.name) ?? lv.name}`).join(", ") || "-",
      ];
    }),
  );
  return formatTable(
    [
      { header: "NODE" },
      { header: "DEVICE-CLASS" },
      { header: "VG" },
      { header: "VG SIZE", right: true },
      { header: "FREE BEFORE", right: true },
      { header: "FREE AFTER", right: true },
      { header: "PODS" },
      { header: "LVS (lvs)" },
    ],
    rows,
  );
}
