import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { CandidateNode } from "./candidate-node.js";
import { nodeCapacitiesOf } from "./capacity.js";
import type { NodeCapacitySource } from "./extender-verbs.js";
import { KubeApiError, type KubeConnection } from "./kube-connection.js";
import { createNameIndex } from "./name-index.js";

/** An informer-style cache of every Node's capacity annotations, for names-only requests. */
export interface NodeCache extends NodeCapacitySource {
  /** Starts listing and watching Nodes; failures are logged and retried with backoff. */
  start(): void;
  stop(): Promise<void>;
  size(): number;
}

export interface NodeCacheOptions {
  readonly connection: KubeConnection;
  readonly logger: Logger;
  /** Nodes per list page; paging bounds the memory a big cluster's first list takes. */
  readonly pageSize?: number;
  readonly maxRetryDelayMs?: number;
}

// Only metadata is asked for: a Node's status (images, conditions) is most of its size and placement reads none of it.
const listAccept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
const watchAccept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

interface ObjectMetadata {
  name?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
}

interface WatchEvent {
  type?: string;
  object?: { metadata?: ObjectMetadata; code?: number; message?: string };
}

/** Keeps what placement reads: the name and the capacity annotations (parsed as they are first read). */
function candidateOf(metadata: ObjectMetadata | undefined): CandidateNode | undefined {
  if (metadata?.name === undefined) {
    return undefined;
  }
  return { name: metadata.name, capacities: nodeCapacitiesOf(metadata.annotations) };
}

/** Thrown to end a watch whose resourceVersion the API server no longer has, so the cache lists again. */
class ExpiredError extends Error {}

/** Creates the node cache; it does nothing until started. */
export function createNodeCache(options: NodeCacheOptions): NodeCache {
  const { connection, logger } = options;
  const pageSize = options.pageSize ?? 500;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  let nodes = createNameIndex<CandidateNode>();
  let resourceVersion = "";
  let listed = false;
  let running: Promise<void> | undefined;
  let abort = new AbortController();

  async function getJson(path: string): Promise<unknown> {
    const response = await connection.get(path, { accept: listAccept, signal: abort.signal });
    let text = "";
    response.setEncoding("utf8");
    for await (const chunk of response) {
      text += chunk as string;
    }
    return JSON.parse(text) as unknown;
  }

  async function list(): Promise<void> {
    const listedNodes = createNameIndex<CandidateNode>();
    let continueToken = "";
    let version = "";
    do {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (continueToken !== "") {
        query.set("continue", continueToken);
      }
      const page = (await getJson(`/api/v1/nodes?${query.toString()}`)) as {
        metadata?: { resourceVersion?: string; continue?: string };
        items?: { metadata?: ObjectMetadata }[] | null;
      };
      for (const item of page.items ?? []) {
        const node = candidateOf(item.metadata);
        if (node !== undefined) {
          listedNodes.set(node.name, node);
        }
      }
      continueToken = page.metadata?.continue ?? "";
      version = page.metadata?.resourceVersion ?? "";
    } while (continueToken !== "");
    nodes = listedNodes;
    resourceVersion = version;
    if (!listed) {
      logger.info({ nodes: nodes.size() }, "node cache synced");
    }
    listed = true;
  }

  function apply(event: WatchEvent): void {
    if (event.type === "ERROR") {
      if (event.object?.code === 410) {
        throw new ExpiredError(event.object.message ?? "resourceVersion too old");
      }
      throw new KubeApiError(event.object?.code ?? 0, `watch error: ${event.object?.message ?? "unknown"}`);
    }
    const metadata = event.object?.metadata;
    if (event.type === "ADDED" || event.type === "MODIFIED") {
      const node = candidateOf(metadata);
      if (node !== undefined) {
        nodes.set(node.name, node);
      }
    } else if (event.type === "DELETED" && metadata?.name !== undefined) {
      nodes.delete(metadata.name);
    }
    resourceVersion = metadata?.resourceVersion ?? resourceVersion;
  }

  /** Watches from the listed resourceVersion until the server ends the watch (its timeout) or it fails. */
  async function watch(): Promise<void> {
    // Spread the reconnects of many extenders, as client-go does.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const query = new URLSearchParams({
      watch: "true",
      allowWatchBookmarks: "true",
      resourceVersion,
      timeoutSeconds: String(timeoutSeconds),
    });
    const response = await connection.get(`/api/v1/nodes?${query.toString()}`, {
      accept: watchAccept,
      signal: abort.signal,
    });
    const lines = createInterface({ input: response, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        if (line.trim() !== "") {
          apply(JSON.parse(line) as WatchEvent);
        }
      }
    } finally {
      lines.close();
      response.destroy();
    }
  }

  // A function, not a property read, so the compiler does not assume it unchanged across awaits.
  const stopping = (): boolean => abort.signal.aborted;

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping()) {
      try {
        if (resourceVersion === "") {
          await list();
        }
        await watch();
        failures = 0;
      } catch (error) {
        if (stopping()) {
          return;
        }
        if (error instanceof ExpiredError) {
          resourceVersion = "";
          continue;
        }
        failures += 1;
        const delayMs = Math.min(maxRetryDelayMs, 250 * 2 ** Math.min(failures, 10));
        logger.warn({ err: error, retryInMs: delayMs }, "listing or watching Nodes failed");
        // A failed watch may have missed events: list again.
        resourceVersion = "";
        await sleep(delayMs, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  }

  return {
    start() {
      if (running === undefined) {
        abort = new AbortController();
        running = run();
      }
    },
    async stop() {
      abort.abort();
      await running;
      running = undefined;
      connection.close();
    },
    synced: () => listed,
    size: () => nodes.size(),
    get: (name) => nodes.get(name),
    getByUtf8: (bytes, start, end) => nodes.getByUtf8(bytes, start, end),
  };
}
