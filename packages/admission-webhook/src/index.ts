// The public surface of @topolvm/admission-webhook: the pure mutations, their inputs and outputs, and the adapters
// that serve them (koa app, informer cache, process).
export {
  type Admission,
  type AdmissionRequest,
  AdmissionReviewError,
  admissionReviewApiVersion,
  admissionReviewResponse,
  type GroupVersionKind,
  parseAdmissionReview,
  readAdmissionRequest,
  statusBody,
} from "./admission-review.js";
export {
  type ClusterCache,
  type ClusterCacheOptions,
  createClusterCache,
  maxFallbackReadsPerReview,
} from "./cluster-cache.js";
export {
  type ClaimInfo,
  type ClusterLookup,
  LookupUnavailableError,
  type StorageClassInfo,
} from "./cluster-lookup.js";
export { type Command, type LogLevel, parseCommand, usage, UsageError, type WebhookConfig } from "./flags.js";
export { escapePointerToken, type JsonPatchOperation, jsonPointer, type JsonValue } from "./json-patch.js";
export { formatListenAddress, type ListenAddress, parseListenAddress } from "./listen-address.js";
export { createWebhookMetrics, type HookName, type RequestResult, type WebhookMetrics } from "./metrics.js";
export { ObjectShapeError } from "./object-shape.js";
export { mutatePod } from "./pod-mutator.js";
export { mutatePersistentVolumeClaim } from "./pvc-mutator.js";
export { maxQuantityValue, parseQuantity, QuantityError } from "@topolvm/proto/quantity";
export {
  loadServingCertificate,
  type ServingCertificate,
  ServingCertificateError,
  watchServingCertificate,
} from "./serving-certificate.js";
export { DeviceClassNameError, deviceClassOf, isTopolvmStorageClass, pickDefaultStorageClass } from "./storage-class.js";
export {
  capacityAnnotationPrefix,
  capacityResourceName,
  defaultClaimBytes,
  defaultDeviceClassKey,
  deviceClassParameter,
  provisionerName,
  pvcFinalizer,
} from "@topolvm/proto/names";
export { createWebhookApp, type WebhookAppOptions } from "./webhook-app.js";
export { connectWebhookKube, createLogger, type RunningWebhook, startWebhook } from "./webhook-server.js";
