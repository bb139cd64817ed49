export { capacityAnnotationPrefix, capacityResourceName, defaultDeviceClassKey } from "@topolvm/proto/names";
export {
  CapacityRequestError,
  capacityRequestOf,
  freeGarbled,
  freeHuge,
  freeMissing,
  nodeCapacitiesOf,
  parseCapacityBytes,
  type CapacityRequest,
  type NodeCapacities,
  type NodeCapacity,
} from "./capacity.js";
export type { CandidateNode } from "./candidate-node.js";
export { divisorFor, type Divisors } from "./divisors.js";
export { capacityScore, maxScore, minScore } from "./score.js";
export { filter, unfitCheckerOf, unfitReason, type FilterOutcome, type UnfitChecker } from "./filter.js";
export { nodeScore, prioritize, type HostPriority } from "./prioritize.js";
export {
  ExtenderArgsError,
  parseExtenderArgs,
  type ExtenderArgs,
  type NodeNameList,
  type NodeObjectList,
  type OfferedNodes,
  type PodInfo,
} from "./extender-args.js";
export {
  encodeFilterResult,
  encodeHostPriorities,
  predicateVerb,
  prioritizeVerb,
  type ExtenderContext,
  type FilterVerdicts,
  type NodePriorities,
  type NodeCapacitySource,
} from "./extender-verbs.js";
export {
  SchedulerOptionsError,
  defaultListen,
  loadSchedulerOptions,
  parseListenAddress,
  parseSchedulerOptions,
  schedulerOptionsFrom,
  type ListenAddress,
  type SchedulerOptions,
} from "./scheduler-options.js";
export { createExtenderMetrics, type ExtenderMetrics, type ExtenderMetricsOptions, type Verb } from "./metrics.js";
export { HttpError, defaultBodyLimitBytes, readBody } from "./request-body.js";
export { createBufferPool, type BufferPool } from "./buffer-pool.js";
export { createNameIndex, type NameIndex, type NameLookup } from "./name-index.js";
export { JsonSyntaxError } from "./json-scan.js";
export { createExtenderApp, type ExtenderAppOptions } from "./extender-app.js";
export { startExtenderServer, type ExtenderServer } from "./extender-server.js";
export { createNodeCache, type NodeCache, type NodeCacheOptions } from "./node-cache.js";
