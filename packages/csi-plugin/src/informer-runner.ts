import type { Informer, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";

/** An informer kept running: restarted after a failed list or a broken watch. */
export interface RunningInformer {
  /** Starts listing and watching; returns at once. */
  start(): void;
  /** Whether a list has completed (the cache then keeps serving while the watch reconnects). */
  synced(): boolean;
  /** Stops watching and restarting. */
  stop(): Promise<void>;
}

export interface InformerRunnerOptions {
  /** First restart delay, doubled per failure up to maxRetryMs; default 500 ms. */
  readonly initialRetryMs?: number;
  /** Default 30 s. */
  readonly maxRetryMs?: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs a client-node informer, which stops on its first failed list or watch and leaves the restart to its user:
 * here it is started again after a growing delay. It counts as synced once a start got through its list without
 * an error.
 */
export function runInformer<T extends KubernetesObject>(
  kind: string,
  informer: Informer<T>,
  logger: Logger,
  options: InformerRunnerOptions = {},
): RunningInformer {
  const initialRetryMs = options.initialRetryMs ?? 500;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let retryMs = initialRetryMs;
  let synced = false;
  let stopped = false;
  let failedThisStart = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const scheduleRestart = (error: unknown): void => {
    if (stopped || retryTimer !== undefined) {
      return;
    }
    logger.warn({ kind, err: describe(error), retryMs }, "list or watch failed; retrying");
    retryTimer = setTimeout(run, retryMs);
    retryMs = Math.min(retryMs * 2, maxRetryMs);
  };

  informer.on("error", (error: unknown) => {
    failedThisStart = true;
    scheduleRestart(error);
  });

  function run(): void {
    retryTimer = undefined;
    if (stopped) {
      return;
    }
    failedThisStart = false;
    informer.start().then(
      () => {
        if (!failedThisStart && !stopped) {
          retryMs = initialRetryMs;
          if (!synced) {
            synced = true;
            logger.info({ kind }, "informer cache synced");
          }
        }
      },
      (error: unknown) => {
        failedThisStart = true;
        scheduleRestart(error);
      },
    );
  }

  return {
    start: run,
    synced: () => synced,
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      retryTimer = undefined;
      await informer.stop();
    },
  };
}
