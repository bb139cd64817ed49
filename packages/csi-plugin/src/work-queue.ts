import type { Logger } from "pino";

/** What a reconcile asks for: nothing (done), or to run again after a delay. */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

/** Brings the object behind `key` to its wanted state. Throwing requeues it with backoff. Must be idempotent. */
export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult | undefined>;

export interface WorkQueueOptions {
  readonly name: string;
  readonly reconcile: Reconcile;
  readonly logger: Logger;
  /** Keys reconciled at once; default 4. */
  readonly concurrency?: number;
  /** First retry delay after a failure, doubled per consecutive failure of the key; default 500 ms. */
  readonly baseDelayMs?: number;
  /** Longest retry delay; default 60 s. */
  readonly maxDelayMs?: number;
}

/**
 * A controller's work queue, as client-go's rate-limited queue: keys are deduplicated, one key is never reconciled
 * by two workers at once (a key added while it runs is run again afterwards), and a failing key is retried after
 * a per-key exponential backoff that resets on success.
 */
export interface WorkQueue {
  add(key: string): void;
  addAfter(key: string, delayMs: number): void;
  /** Keys waiting or running. */
  size(): number;
  /** Stops taking keys, aborts the running reconciles' signal and waits for them. */
  stop(): Promise<void>;
}

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const { reconcile, logger, name } = options;
  const concurrency = options.concurrency ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 60_000;
  const waiting: string[] = [];
  const queued = new Set<string>();
  const running = new Set<string>();
  const dirty = new Set<string>();
  const failures = new Map<string, number>();
  const timers = new Map<string, NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  const abort = new AbortController();
  let stopped = false;

  function add(key: string): void {
    if (stopped) {
      return;
    }
    if (running.has(key)) {
      dirty.add(key);
      return;
    }
    if (!queued.has(key)) {
      queued.add(key);
      waiting.push(key);
    }
    pump();
  }

  function addAfter(key: string, delayMs: number): void {
    if (stopped) {
      return;
    }
    const previous = timers.get(key);
    if (previous !== undefined) {
      clearTimeout(previous);
    }
    const timer = setTimeout(() => {
      timers.delete(key);
      add(key);
    }, delayMs);
    timer.unref();
    timers.set(key, timer);
  }

  function pump(): void {
    while (!stopped && running.size < concurrency && waiting.length > 0) {
      const key = waiting.shift();
      if (key === undefined) {
        return;
      }
      queued.delete(key);
      running.add(key);
      const work = run(key).finally(() => {
        inFlight.delete(work);
        running.delete(key);
        if (dirty.delete(key)) {
          add(key);
        }
        pump();
      });
      inFlight.add(work);
    }
  }

  async function run(key: string): Promise<void> {
    try {
      const result = await reconcile(key, abort.signal);
      failures.delete(key);
      if (result?.requeueAfterMs !== undefined) {
        addAfter(key, result.requeueAfterMs);
      }
    } catch (error) {
      if (stopped) {
        return;
      }
      const count = (failures.get(key) ?? 0) + 1;
      failures.set(key, count);
      const delayMs = Math.min(baseDelayMs * 2 ** (count - 1), maxDelayMs);
      logger.warn({ queue: name, key, err: (error as Error).message, failures: count, retryMs: delayMs }, "reconcile failed");
      addAfter(key, delayMs);
    }
  }

  return {
    add,
    addAfter,
    size: () => queued.size + running.size,
    async stop() {
      stopped = true;
      for (const timer of timers.values()) {
        clearTimeout(timer);
      }
      timers.clear();
      waiting.length = 0;
      queued.clear();
      abort.abort(new Error(`${name} is stopping`));
      await Promise.allSettled([...inFlight]);
    },
  };
}
