import type { V1Node } from "@kubernetes/client-node";
import type { lvmd } from "@topolvm/proto";
import { capacityAnnotationPrefix, defaultDeviceClassKey, nodeFinalizer } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { isMarkedForDeletion } from "../informer.js";
import { createWorkQueue } from "../work-queue.js";
import type { LvmdClient } from "./lvmd-client.js";
import type { NodeMetrics } from "./metrics.js";

/** The capacity annotations one Watch message asks for: annotation key → decimal bytes. */
export function capacityAnnotations(watch: lvmd.WatchResponse): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const item of watch.items) {
    // Thin classes are offered by their overprovisioned free bytes, thick ones by their free bytes less the spare.
    const freeBytes = item.thinPool === undefined ? item.freeBytes : item.thinPool.overprovisionBytes;
    annotations[`${capacityAnnotationPrefix}${item.deviceClass}`] = String(freeBytes);
  }
  annotations[`${capacityAnnotationPrefix}${defaultDeviceClassKey}`] = String(watch.freeBytes);
  return annotations;
}

/** A strategic merge patch of a Node: annotations set (a null removes one) and finalizers added. */
export interface NodePatch {
  metadata: { annotations?: Record<string, string | null>; finalizers?: string[] };
}

/**
 * The patch that gives `node` the wanted capacity annotations (`wanted` undefined: leave them as they are) and the
 * Node finalizer, or undefined when nothing differs. Capacity annotations of classes lvmd no longer serves are removed;
 * the finalizer is not added to a Node being deleted (the API server refuses new finalizers there).
 */
export function nodePatch(node: V1Node, wanted: Readonly<Record<string, string>> | undefined): NodePatch | undefined {
  const metadata: NodePatch["metadata"] = {};
  if (wanted !== undefined) {
    const current = node.metadata?.annotations ?? {};
    const annotations: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(wanted)) {
      if (current[key] !== value) {
        annotations[key] = value;
      }
    }
    for (const key of Object.keys(current)) {
      if (key.startsWith(capacityAnnotationPrefix) && !(key in wanted)) {
        annotations[key] = null;
      }
    }
    if (Object.keys(annotations).length > 0) {
      metadata.annotations = annotations;
    }
  }
  const finalizers = node.metadata?.finalizers ?? [];
  if (!isMarkedForDeletion(node) && !finalizers.includes(nodeFinalizer)) {
    // Finalizers merge by value in a strategic merge patch: this adds ours and keeps the others.
    metadata.finalizers = [nodeFinalizer];
  }
  return metadata.annotations === undefined && metadata.finalizers === undefined ? undefined : { metadata };
}

export interface CapacityAnnotatorOptions {
  readonly nodeName: string;
  readonly lvmd: Pick<LvmdClient, "watch">;
  /** Applies a strategic merge patch to this node's Node and resolves with the Node after it. */
  readonly patchNode: (patch: NodePatch) => Promise<V1Node>;
  readonly logger: Logger;
  readonly metrics?: Pick<NodeMetrics, "observeWatch">;
  /** First delay before reconnecting the Watch stream (doubled per failed attempt) and the longest; 500 ms and 10 s. */
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
}

/** The running annotator: fed the Node by an informer, fed capacities by lvmd's Watch stream. */
export interface CapacityAnnotator {
  /** The Node as the informer sees it now (undefined once it is deleted). */
  nodeChanged(node: V1Node | undefined): void;
  /** Whether the Watch stream has delivered since it last (re)connected. */
  watching(): boolean;
  /** Ends the Watch stream and waits for a running patch. */
  stop(): Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Keeps the Node's capacity annotations equal to what lvmd's `VGService.Watch` reports, and the Node finalizer on the
 * Node. Patches only when a value differs; a patch that fails is retried with backoff; the stream is reconnected with
 * backoff when lvmd restarts. Until lvmd has answered, the annotations are left as they are.
 */
export function startCapacityAnnotator(options: CapacityAnnotatorOptions): CapacityAnnotator {
  const { nodeName, lvmd, patchNode, logger, metrics } = options;
  const reconnectBaseMs = options.reconnectBaseMs ?? 500;
  const reconnectMaxMs = options.reconnectMaxMs ?? 10_000;
  const abort = new AbortController();
  let node: V1Node | undefined;
  let wanted: Record<string, string> | undefined;
  let delivering = false;

  const queue = createWorkQueue({
    name: "node-capacity",
    logger,
    concurrency: 1,
    async reconcile() {
      if (node === undefined) {
        return undefined;
      }
      const patch = nodePatch(node, wanted);
      if (patch !== undefined) {
        logger.info({ patch: patch.metadata }, "patching the Node");
        node = await patchNode(patch);
      }
      return undefined;
    },
  });

  // A function, so the compiler does not take the flag for constant inside the loop.
  const stopped = (): boolean => abort.signal.aborted;

  async function watchLoop(): Promise<void> {
    for (let attempt = 0; !stopped(); attempt += 1) {
      try {
        for await (const message of lvmd.watch(abort.signal)) {
          attempt = 0;
          delivering = true;
          metrics?.observeWatch(message);
          wanted = capacityAnnotations(message);
          queue.add(nodeName);
        }
        if (!stopped()) {
          logger.info("lvmd ended the Watch stream; reconnecting");
        }
      } catch (error) {
        if (!stopped()) {
          logger.warn({ err: (error as Error).message, attempt }, "lvmd Watch failed; reconnecting");
        }
      }
      delivering = false;
      await sleep(Math.min(reconnectBaseMs * 2 ** attempt, reconnectMaxMs), abort.signal);
    }
  }

  const loop = watchLoop();
  return {
    nodeChanged(next) {
      node = next;
      queue.add(nodeName);
    },
    watching: () => delivering,
    async stop() {
      abort.abort();
      await loop;
      await queue.stop();
    },
  };
}
