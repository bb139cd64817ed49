export { createLvm, defaultTimeoutMs, maxStripes } from "./lvm.js";
export type {
  CallOptions,
  CreateLogicalVolumeRequest,
  CreateSnapshotRequest,
  CreateThinPoolRequest,
  ExtendLogicalVolumeRequest,
  Lvm,
  LvmOptions,
  LvRef,
  ReadBackOptions,
  TagsRequest,
} from "./lvm.js";
export { isLvmError, LvmError } from "./lvm-error.js";
export type { LvmErrorCode, LvmErrorDetails } from "./lvm-error.js";
export { execFileExecutor, killGraceMs } from "./executor.js";
export type { ExecOptions, ExecResult, Executor } from "./executor.js";
export type { LogicalVolume, VolumeGroup, VolumeGroupReport } from "./report.js";
export {
  maxNameLength,
  maxTagCount,
  maxTagLength,
  reservedLvPrefixes,
  reservedLvSubstrings,
  validateLvName,
  validateTag,
  validateTags,
  validateVgName,
} from "./validation.js";
