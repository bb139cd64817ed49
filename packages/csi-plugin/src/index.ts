export {
  currentSizeBytes,
  isDeleting,
  logicalVolumeApiVersion,
  logicalVolumeCrdPath,
  logicalVolumeGroup,
  logicalVolumeKind,
  logicalVolumePlural,
  logicalVolumeVersion,
  LogicalVolumeSizeError,
  specSizeBytes,
} from "./logical-volume/logical-volume.js";
export type { LogicalVolume, LogicalVolumeList, LogicalVolumeSpec, LogicalVolumeStatus } from "./logical-volume/logical-volume.js";
export { createLogicalVolumeClient, isApiStatus } from "./logical-volume/logical-volume-client.js";
export type { LogicalVolumeClient, LogicalVolumeInformer } from "./logical-volume/logical-volume-client.js";
export { checkReport, type CheckOptions, type Finding, type FindingKind } from "./status/check-report.js";
export { readClusterState, type ClusterState } from "./status/cluster-state.js";
export { statusReport, type DeviceClassReport, type NodeReport, type StatusReport, type VolumeReport } from "./status/status-report.js";
export { checkTable, statusTable } from "./status/status-table.js";
export { formatBytes, formatTable, type Column } from "./status/table.js";
