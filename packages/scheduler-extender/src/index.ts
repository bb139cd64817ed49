export { capacityRequestOf, type CapacityRequest, type NodeCapacities, type NodeCapacity } from "./capacity.js";
export type { CandidateNode } from "./candidate-node.js";
export type { Divisors } from "./divisors.js";
export { capacityScore } from "./score.js";
export { filter, type FilterOutcome } from "./filter.js";
export { nodeScore, prioritize, type HostPriority } from "./prioritize.js";
export { ExtenderArgsError, JsonSyntaxError, parseExtenderArgs, type ExtenderArgs, type NodeObject, type PodInfo } from "./extender-args.js";
export {
  predicateVerb,
  prioritizeVerb,
  type ExtenderContext,
  type ExtenderFilterResult,
  type ExtenderHostPriority,
  type NodeCapacitySource,
} from "./extender-verbs.js";
export { loadSchedulerOptions, type SchedulerOptions } from "./scheduler-options.js";
export { createExtenderApp, type ExtenderAppOptions } from "./extender-app.js";
export { startExtenderServer, type ExtenderServer } from "./extender-server.js";
export { createNodeCache, type NodeCache, type NodeCacheOptions } from "./node-cache.js";
export { createExtenderMetrics, type ExtenderMetrics, type ExtenderMetricsOptions } from "./metrics.js";
