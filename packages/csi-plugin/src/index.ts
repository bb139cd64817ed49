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
