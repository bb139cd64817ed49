export {
  allocationTarget,
  checkConfigAgainstLvm,
  ConfigError,
  defaultConfigPath,
  defaultLvmCommandPrefix,
  defaultSocketName,
  defaultSpareGiB,
  findDeviceClass,
  loadConfig,
  parseConfig,
  validateConfig,
} from "./config.js";
export type { DeviceClass, LvcreateOptionClass, LvmdConfig, LvmInventory, ThinPoolConfig } from "./config.js";
export { allocatableBytes, capacityReport, classCapacity, classVolumes, reportedFreeBytes, thinPoolFreeBytes } from "./free-bytes.js";
export type { ClassCapacity } from "./free-bytes.js";
export type { Inventory, LvRecord, VgRecord } from "./model.js";
export { lvmErrorCodes, toConnectError } from "./errors.js";
export { checkHealth, unixSocketTransport } from "./health-client.js";
export { Health, ServingStatus } from "./health.js";
export { createLvService } from "./lv-service.js";
export type { LvService } from "./lv-service.js";
export { createVgService, defaultWatchIntervalMs } from "./vg-service.js";
export type { VgService } from "./vg-service.js";
export { defaultDrainTimeoutMs, defaultRefreshIntervalMs, startLvmdServer } from "./lvmd-server.js";
export type { LvmdServer, LvmdServerOptions } from "./lvmd-server.js";
export { createVolumeStore } from "./volume-store.js";
export type { VolumeStore } from "./volume-store.js";
export { createGrpcServer, registration } from "./grpc-server.js";
export type { GrpcServer, ServiceRegistration } from "./grpc-server.js";
export { bindUnixSocket, prepareSocketPath } from "./unix-socket.js";
