export { KubeApiError, isKubeApiError } from "./kube-api-error.js";
export { KubeConfigError } from "./kube-config-error.js";
export { KubeRequestError } from "./kube-request-error.js";
export type { KubeCredentials } from "./kube-credentials.js";
export { readKubeconfig } from "./kubeconfig.js";
export { inClusterCredentials, serviceAccountDir, type InClusterOptions } from "./in-cluster.js";
export { loadKubeCredentials, type LoadCredentialsOptions } from "./load-credentials.js";
export { isKubeStatus, type KubeList, type KubeObject, type KubeObjectMeta, type KubeStatus } from "./kube-object.js";
export type { Query } from "./transport.js";
export {
  connectKube,
  createKubeClient,
  type DeleteOptions,
  type GetOptions,
  type KubeClient,
  type KubeClientOptions,
  type ListOptions,
  type PatchOptions,
  type PatchType,
  type RequestOptions,
  type WriteOptions,
} from "./kube-client.js";
export type { WatchEvent, WatchOptions } from "./watch.js";
export {
  createInformer,
  objectKey,
  type Informer,
  type InformerHandlers,
  type InformerOptions,
  type TransformingInformerOptions,
} from "./informer.js";
