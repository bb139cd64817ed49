/** The metadata fields this client reads: enough to key, list and watch an object. */
export interface KubeObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
}

/**
 * The part of every Kubernetes object the client relies on. Typed API objects such as client-node's `V1Node` (imported
 * with `import type`, which costs nothing at run time) fit it, but note that this client hands over the JSON as it
 * arrives: timestamps are strings, not `Date`s.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: KubeObjectMeta;
}

/** A list response: one page of items with the collection's resourceVersion and the token of the next page. */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

/** The API server's `Status` object, sent with error responses, some deletions and watch ERROR events. */
export interface KubeStatus {
  apiVersion?: string;
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; causes?: { reason?: string; message?: string; field?: string }[] };
}

/** Whether a parsed JSON value is a Status object. */
export function isKubeStatus(value: unknown): value is KubeStatus {
  return typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "Status";
}
