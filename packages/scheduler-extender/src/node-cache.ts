import {
  CoreV1Api,
  ListWatch,
  V1ListMeta,
  V1Node,
  V1ObjectMeta,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { CandidateNode } from "./candidate-node.js";
import type { NodeCapacitySource } from "./extender-verbs.js";
import { capacityAnnotationPrefix } from "./topolvm-names.js";

/** An informer-backed cache of every Node's capacity annotations, for names-only requests. */
export interface NodeCache extends NodeCapacitySource {
  /** Starts listing and watching Nodes; failures are logged and retried with backoff. */
  start(): void;
  stop(): Promise<void>;
  size(): number;
}

export interface NodeCacheOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** Nodes per list page; paging bounds the memory a big cluster's first list takes. */
  readonly pageSize?: number;
  readonly maxRetryDelayMs?: number;
}

/**
 * Keeps only what placement reads (name, resourceVersion, capacity annotations): a Node's status and labels are most
 * of its size and would otherwise stay in memory for every node of the cluster.
 */
function trimNode(node: V1Node): V1Node {
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(node.metadata?.annotations ?? {})) {
    if (key.startsWith(capacityAnnotationPrefix)) {
      annotations[key] = value;
    }
  }
  const metadata = new V1ObjectMeta();
  if (node.metadata?.name !== undefined) {
    metadata.name = node.metadata.name;
  }
  // The informer compares resourceVersions to tell updates from replays.
  if (node.metadata?.resourceVersion !== undefined) {
    metadata.resourceVersion = node.metadata.resourceVersion;
  }
  metadata.annotations = annotations;
  const trimmed = new V1Node();
  trimmed.metadata = metadata;
  return trimmed;
}

/** A Watch whose events carry trimmed Nodes, so the informer's store never holds whole ones. */
class TrimmingNodeWatch extends Watch {
  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return super.watch(
      path,
      queryParams,
      (phase: string, apiObj: V1Node, watchObj: unknown) => {
        const isNode = phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED";
        callback(phase, isNode ? trimNode(apiObj) : apiObj, watchObj);
      },
      done,
    );
  }
}

/** Creates the node cache; it does nothing until started. */
export function createNodeCache(options: NodeCacheOptions): NodeCache {
  const { kubeConfig, logger } = options;
  const pageSize = options.pageSize ?? 500;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const api = kubeConfig.makeApiClient(CoreV1Api);
  let listed = false;
  let stopped = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  async function listNodes(): Promise<KubernetesListObject<V1Node>> {
    const items: V1Node[] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await api.listNode({ limit: pageSize, ...(continueToken === undefined ? {} : { _continue: continueToken }) });
      items.push(...page.items.map(trimNode));
      continueToken = page.metadata?._continue;
      resourceVersion = page.metadata?.resourceVersion;
    } while (continueToken !== undefined && continueToken !== "");
    if (!listed) {
      logger.info({ nodes: items.length }, "node cache synced");
    }
    listed = true;
    failures = 0;
    const listMeta = new V1ListMeta();
    if (resourceVersion !== undefined) {
      listMeta.resourceVersion = resourceVersion;
    }
    return { metadata: listMeta, items };
  }

  const informer = new ListWatch<V1Node>("/api/v1/nodes", new TrimmingNodeWatch(kubeConfig), listNodes, false);
  informer.on("error", (error: unknown) => {
    if (stopped) {
      return;
    }
    failures += 1;
    const delayMs = Math.min(maxRetryDelayMs, 500 * 2 ** Math.min(failures, 10));
    logger.warn({ err: error, retryInMs: delayMs }, "listing or watching Nodes failed");
    retry = setTimeout(() => void informer.start(), delayMs);
  });

  return {
    start() {
      stopped = false;
      void informer.start();
    },
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await informer.stop();
    },
    synced: () => listed,
    size: () => informer.list().length,
    get(name: string): CandidateNode | undefined {
      const node = informer.get(name);
      return node === undefined ? undefined : { name, annotations: node.metadata?.annotations };
    },
  };
}
