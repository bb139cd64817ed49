import { createInformer, type KubeClient, type KubeObject } from "@topolvm/kube-client";
import type { Logger } from "pino";
import type { CandidateNode } from "./candidate-node.js";
import { nodeCapacitiesOf } from "./capacity.js";
import type { NodeCapacitySource } from "./extender-verbs.js";

/** An informer-style cache of every Node's capacity annotations, for names-only requests. */
export interface NodeCache extends NodeCapacitySource {
  /** Starts listing and watching Nodes; failures are logged and retried with backoff. */
  start(): void;
  /** Stops watching; the client stays open (it is the caller's). */
  stop(): Promise<void>;
  size(): number;
}

export interface NodeCacheOptions {
  readonly client: KubeClient;
  readonly logger: Logger;
  /** Nodes per list page; paging bounds the memory a big cluster's first list takes. */
  readonly pageSize?: number;
  readonly maxRetryDelayMs?: number;
}

/** A Node as PartialObjectMetadata: the API server sends only metadata when asked (metadataOnly). */
interface NodeMetadata extends KubeObject {
  readonly metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
}

/** What the informer keeps of a Node: its name, and the candidate placement reads (parsed once, here). */
interface CachedNode extends KubeObject {
  readonly metadata: { name: string };
  readonly candidate: CandidateNode;
}

function cachedNodeOf(node: NodeMetadata): CachedNode {
  const name = node.metadata?.name ?? "";
  return { metadata: { name }, candidate: { name, capacities: nodeCapacitiesOf(node.metadata?.annotations) } };
}

/** Creates the node cache; it does nothing until started. */
export function createNodeCache(options: NodeCacheOptions): NodeCache {
  const { logger } = options;
  const nodes = new Map<string, CandidateNode>();
  // Only metadata is asked for: a Node's status (images, conditions) is most of its size and placement reads none of it.
  const informer = createInformer(options.client, {
    path: "/api/v1/nodes",
    metadataOnly: true,
    transform: cachedNodeOf,
    pageSize: options.pageSize ?? 500,
    ...(options.maxRetryDelayMs === undefined ? {} : { maxRetryMs: options.maxRetryDelayMs }),
  });
  const store = (node: CachedNode): void => {
    nodes.set(node.candidate.name, node.candidate);
  };
  informer.on("add", store);
  informer.on("update", store);
  informer.on("delete", (node) => {
    nodes.delete(node.candidate.name);
  });
  informer.on("synced", () => {
    logger.info({ nodes: nodes.size }, "node cache synced");
  });
  informer.on("error", (error, retryInMs) => {
    logger.warn({ err: error, retryInMs }, "listing or watching Nodes failed");
  });

  return {
    start: () => {
      informer.start();
    },
    stop: () => informer.stop(),
    synced: () => informer.synced(),
    size: () => nodes.size,
    get: (name) => nodes.get(name),
  };
}
