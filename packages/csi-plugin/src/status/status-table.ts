import type { Finding } from "./check-report.js";
import type { StatusReport } from "./status-report.js";
import { formatBytes, formatTable } from "./table.js";

/** `topolvm status` for people: one line per device-class of each node, then one per LogicalVolume. */
export function statusTable(report: StatusReport): string {
  const classRows = report.nodes.flatMap((node) =>
    node.deviceClasses.map((deviceClass) => [
      node.exists ? node.name : `${node.name} (gone)`,
      deviceClass.default ? `${deviceClass.name} (default)` : deviceClass.name,
      formatBytes(deviceClass.capacityBytes),
      formatBytes(deviceClass.usedBytes),
      formatBytes(deviceClass.freeBytes),
      String(deviceClass.volumes.length),
    ]),
  );
  const classes = formatTable(
    [{ header: "NODE" }, { header: "DEVICE-CLASS" }, { header: "CAPACITY", right: true }, { header: "USED", right: true }, { header: "FREE", right: true }, { header: "LVS", right: true }],
    classRows,
  );
  const volumeRows = report.nodes.flatMap((node) =>
    node.deviceClasses.flatMap((deviceClass) =>
      deviceClass.volumes.map((volume) => [
        node.name,
        deviceClass.name,
        volume.volumeId ?? "(not made yet)",
        formatBytes(volume.sizeBytes),
        volume.claim === null ? "-" : `${volume.claim} (${volume.claimPhase ?? "gone"})`,
        volume.pods.length === 0 ? "-" : volume.pods.join(","),
      ]),
    ),
  );
  if (volumeRows.length === 0) {
    return `${classes}\nNo LogicalVolumes.\n`;
  }
  const volumes = formatTable(
    [{ header: "NODE" }, { header: "DEVICE-CLASS" }, { header: "LV" }, { header: "SIZE", right: true }, { header: "PVC" }, { header: "PODS" }],
    volumeRows,
  );
  return `${classes}\n${volumes}`;
}

/** `topolvm check` for people: one line per finding, or that there is none. */
export function checkTable(findings: readonly Finding[]): string {
  if (findings.length === 0) {
    return "No problems found.\n";
  }
  return formatTable(
    [{ header: "KIND" }, { header: "OBJECT" }, { header: "PROBLEM" }],
    findings.map((finding) => [finding.kind, finding.object, finding.message]),
  );
}
