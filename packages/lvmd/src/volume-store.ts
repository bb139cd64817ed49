import { createLvm, type Executor, type Lvm, type LvmOptions, type LogicalVolume, type VolumeGroupReport } from "@topolvm/lvm-exec";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import type { Inventory, LvRecord, VgRecord } from "./model.js";

/** Converts lvm-exec's report of one VG into the model's record. */
export function vgRecordOf(report: VolumeGroupReport): VgRecord {
  const { volumeGroup: vg } = report;
  return {
    name: vg.name,
    sizeBytes: vg.sizeBytes,
    freeBytes: vg.freeBytes,
    extentSizeBytes: vg.extentSizeBytes,
    lvs: new Map(report.logicalVolumes.map((lv) => [lv.name, lvRecordOf(lv)])),
  };
}

/** Converts one lvm-exec LV into the model's record (absent numbers become 0, absent names ""). */
function lvRecordOf(lv: LogicalVolume): LvRecord {
  return {
    name: lv.name,
    path: lv.path,
    sizeBytes: lv.sizeBytes,
    devMajor: lv.major ?? 0,
    devMinor: lv.minor ?? 0,
    tags: lv.tags,
    attr: lv.attr,
    poolLv: lv.poolLv ?? "",
    origin: lv.origin ?? "",
    dataPercent: lv.dataPercent ?? 0,
    metadataPercent: lv.metadataPercent ?? 0,
  };
}

/** What a mutation may use while it holds its volume group. */
export interface MutationContext {
  /** LVM operations whose commands are logged as this mutation's (pass the call's signal to each). */
  readonly lvm: Lvm;
  /**
   * Re-reads the VG from LVM into the model and returns it: for decisions the model may be behind on (an LV made
   * by hand, or left behind before the last periodic re-read).
   */
  readonly reread: () => Promise<VgRecord>;
}

/** A mutation's answer, taken from the VG as LVM reports it once the mutation's commands have run. */
export type Answer<T> = (vg: VgRecord) => T;

/** Who a mutation runs for: its log, and the caller's deadline and cancellation, which stop its LVM commands. */
export interface MutationCall {
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

/** The in-memory model of the node's volume groups. */
export interface VolumeStore {
  /** The model now; never spawns a process. */
  inventory(): Inventory;
  /** Reads every volume group with one LVM command and replaces the model. */
  refreshAll(): Promise<void>;
  /**
   * Runs a mutation holding the VG: mutations of one VG never overlap, and each one sees the model as LVM last
   * reported it. After a mutation that ran a command (also a failed or cancelled one), the VG is re-read before it
   * is released, and the mutation's answer is taken from that report.
   */
  mutate<T>(vgName: string, mutation: (vg: VgRecord, context: MutationContext) => Promise<Answer<T>>, call: MutationCall): Promise<T>;
  /** Calls `listener` after every change of the model; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Starts the periodic refresh; stop() ends it. */
  start(refreshIntervalMs: number): void;
  /** Stops the periodic refresh and waits for running work. */
  stop(): Promise<void>;
}

export interface VolumeStoreOptions {
  /** How to run LVM (env, timeout, command prefix) and the executor to wrap. */
  readonly lvm: Omit<LvmOptions, "executor"> & { readonly executor: Executor };
  readonly volumeGroups: readonly string[];
  readonly logger: Logger;
  readonly now?: () => number;
}

// LVM subcommands that only read; everything else is a mutation and logged at info.
const readCommands = new Set(["fullreport", "vgs", "lvs", "pvs"]);

function subcommand(argv: readonly string[], prefixLength: number): string {
  return argv[prefixLength] ?? "";
}

// Keeps the first, meaningful lines of stderr: LVM's activation warnings are noise in every sandbox command.
function stderrSummary(stderr: string): string {
  return stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("WARNING:"))
    .join("; ");
}

/** A per-key FIFO lock: holders of one key run one after another. */
function createKeyedLock(): (key: string) => Promise<() => void> {
  const tails = new Map<string, Promise<void>>();
  return async (key) => {
    const previous = tails.get(key) ?? Promise.resolve();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => held);
    tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (tails.get(key) === tail) {
        tails.delete(key);
      }
    };
  };
}

/** Creates the model; call refreshAll() once before serving. */
export function createVolumeStore(options: VolumeStoreOptions): VolumeStore {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const prefixLength = options.lvm.commandPrefix?.length ?? 1;
  const vgNames = [...new Set(options.volumeGroups)].sort();
  let inventory = new Map<string, VgRecord>();
  const listeners = new Set<() => void>();
  const lock = createKeyedLock();
  const running = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;

  // Logs every command with its duration and result: mutations at info (one line each), reads at debug.
  function loggingExecutor(log: Logger, onStart?: () => void): Executor {
    return async (argv, execOptions) => {
      const started = now();
      const sub = subcommand(argv, prefixLength);
      const level = readCommands.has(sub) ? "debug" : "info";
      onStart?.();
      try {
        const result = await options.lvm.executor(argv, execOptions);
        const fields = { argv, durationMs: now() - started, exitCode: result.exitCode };
        if (result.exitCode === 0) {
          log[level]({ ...fields, result: "ok" }, `lvm ${sub}`);
        } else {
          log.warn({ ...fields, result: "failed", stderr: stderrSummary(result.stderr) }, `lvm ${sub} failed`);
        }
        return result;
      } catch (err) {
        log.warn({ argv, durationMs: now() - started, result: "error", err }, `lvm ${sub} could not run`);
        throw err;
      }
    };
  }

  const readLvm = createLvm({ ...options.lvm, executor: loggingExecutor(logger) });

  function notify(): void {
    for (const listener of listeners) {
      listener();
    }
  }

  function apply(reports: readonly VolumeGroupReport[]): void {
    let changed = false;
    const next = new Map(inventory);
    for (const report of reports) {
      const record = vgRecordOf(report);
      if (!isDeepStrictEqual(next.get(record.name), record)) {
        changed = true;
      }
      next.set(record.name, record);
    }
    inventory = next;
    if (changed) {
      notify();
    }
  }

  function track<T>(work: Promise<T>): Promise<T> {
    running.add(work);
    void work.finally(() => running.delete(work)).catch(() => undefined);
    return work;
  }

  async function refreshAll(): Promise<void> {
    const releases: (() => void)[] = [];
    // Holding every VG (in a fixed order, so two refreshes cannot deadlock) keeps a report taken mid-mutation out.
    for (const vg of vgNames) {
      releases.push(await lock(vg));
    }
    try {
      apply(await readLvm.fullReport(vgNames));
    } finally {
      for (const release of releases) {
        release();
      }
    }
  }

  async function reread(vgName: string, signal?: AbortSignal): Promise<VgRecord> {
    apply(await readLvm.fullReport([vgName], signal === undefined ? {} : { signal }));
    const vg = inventory.get(vgName);
    if (vg === undefined) {
      throw new Error(`volume group ${vgName} is missing from LVM's report`);
    }
    return vg;
  }

  async function mutate<T>(
    vgName: string,
    mutation: (vg: VgRecord, context: MutationContext) => Promise<Answer<T>>,
    { log, signal }: MutationCall,
  ): Promise<T> {
    const release = await lock(vgName);
    const work = (async () => {
      signal?.throwIfAborted();
      const vg = inventory.get(vgName);
      if (vg === undefined) {
        throw new Error(`volume group ${vgName} is not in the model`);
      }
      const ran = { command: false };
      const executor = loggingExecutor(log, () => {
        ran.command = true;
      });
      const context: MutationContext = {
        lvm: createLvm({ ...options.lvm, executor }),
        reread: () => reread(vgName, signal),
      };
      let answer: Answer<T>;
      try {
        answer = await mutation(vg, context);
      } catch (err) {
        // Whatever LVM did before the failure (or before the call was cancelled) is in the model before the next
        // mutation of this VG starts.
        if (ran.command) {
          await reread(vgName).catch((rereadErr: unknown) => {
            log.error({ err: rereadErr, vg: vgName }, "re-reading the volume group failed");
          });
        }
        throw err;
      }
      // Not stopped by the call's signal: the model must follow what the commands did.
      return answer(ran.command ? await reread(vgName) : vg);
    })();
    try {
      return await track(work);
    } finally {
      release();
    }
  }

  return {
    inventory: () => inventory,
    refreshAll,
    mutate,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    start(refreshIntervalMs) {
      timer = setInterval(() => {
        track(refreshAll()).catch((err: unknown) => {
          logger.error({ err }, "periodic refresh of the volume groups failed");
        });
      }, refreshIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...running]);
    },
  };
}
