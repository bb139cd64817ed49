/** Runs work for one key at a time, in arrival order; different keys run concurrently. */
export interface KeyedLock {
  /**
   * Runs `work` once no earlier work of `key` is running. Waiting ends with the signal's reason when it aborts
   * first (the work is then never started).
   */
  run<T>(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<T>;
  /** Keys with work running or waiting. */
  size(): number;
}

export function createKeyedLock(): KeyedLock {
  // Per key, the wake-ups of the waiters in order; the key is held while its entry exists.
  const queues = new Map<string, (() => void)[]>();

  function release(key: string): void {
    const queue = queues.get(key);
    const next = queue?.shift();
    if (next === undefined) {
      queues.delete(key);
    } else {
      next();
    }
  }

  async function acquire(key: string, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const queue = queues.get(key);
    if (queue === undefined) {
      queues.set(key, []);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const index = queue.indexOf(wake);
        if (index >= 0) {
          queue.splice(index, 1);
        }
        reject(signal.reason as Error);
      };
      queue.push(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  return {
    async run(key, signal, work) {
      await acquire(key, signal);
      try {
        return await work();
      } finally {
        release(key);
      }
    },
    size: () => queues.size,
  };
}
