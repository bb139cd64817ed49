import { createLvm, defaultTimeoutMs, LvmError, type Executor, type Lvm, type LvmOptions, type LogicalVolume, type VolumeGroupReport } from "@topolvm/lvm-exec";
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
export function lvRecordOf(lv: LogicalVolume): LvRecord {
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
  /** LVM operations whose commands are logged as this mutation's. */
  readonly lvm: Lvm;
  /**
   * Settles once the first command of this mutation has exited 0 (the command that changes LVM; lvm-exec's
   * follow-up read of the result is not needed by lvmd, whose refresh reads the whole VG anyway).
   */
  readonly changed: Promise<void>;
  /**
   * Runs one LVM subcommand that lvm-exec has no operation for (argv after the lvm command; names already
   * validated); rejects with LvmError CommandFailed unless it exits 0.
   */
  readonly run: (args: readonly string[]) => Promise<void>;
  /** Keeps the VG held until `work` settles (its failure is logged, not thrown). */
  readonly finishInBackground: (work: Promise<unknown>) => void;
  /**
   * Re-reads the VG from LVM into the model and returns it: for answers the model may be behind on (an LV made by
   * hand, or left behind before the last periodic re-read).
   */
  readonly reread: () => Promise<VgRecord>;
}

/** A mutation's answer and how it changes the model right away, before LVM's own report confirms it. */
export interface MutationOutcome<T> {
  readonly result: T;
  readonly update?: (vg: VgRecord) => VgRecord;
}

/** The in-memory model of the node's volume groups. */
export interface VolumeStore {
  /** The model now; never spawns a process. */
  inventory(): Inventory;
  /** Reads every volume group with one LVM command and replaces the model. */
  refreshAll(): Promise<void>;
  /**
   * Runs a mutation holding the VG: mutations of one VG never overlap, and each one sees the model as LVM last
   * reported it. After a mutation that ran a command, the VG is re-read in the background and stays held until then.
   */
  mutate<T>(vgName: string, mutation: (vg: VgRecord, context: MutationContext) => Promise<MutationOutcome<T>>, log: Logger): Promise<T>;
  /** Settles once the VG's pending re-read (if any) has been applied. */
  settled(vgName: string): Promise<void>;
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

// How long a mutation's follow-up LVM commands wait, so the answer to the client is flushed before the next fork.
const FOLLOW_UP_DELAY_MS = 5;

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
  const pendingRefresh = new Map<string, Promise<void>>();
  const running = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;

  // Logs every command with its duration and result: mutations at info (one line each), reads at debug.
  function loggingExecutor(log: Logger, onExit?: (exitCode: number | null) => void): Executor {
    return async (argv, execOptions) => {
      const started = now();
      const sub = subcommand(argv, prefixLength);
      const level = readCommands.has(sub) ? "debug" : "info";
      try {
        const result = await options.lvm.executor(argv, execOptions);
        onExit?.(result.exitCode);
        const fields = { argv, durationMs: now() - started, exitCode: result.exitCode };
        if (result.exitCode === 0) {
          log[level]({ ...fields, result: "ok" }, `lvm ${sub}`);
        } else {
          log.warn({ ...fields, result: "failed", stderr: stderrSummary(result.stderr) }, `lvm ${sub} failed`);
        }
        return result;
      } catch (err) {
        onExit?.(null);
        log.warn({ argv, durationMs: now() - started, result: "error", err }, `lvm ${sub} could not run`);
        throw err;
      }
    };
  }

  const readLvm = createLvm({ ...options.lvm, executor: loggingExecutor(logger) });
  const program = options.lvm.commandPrefix ?? [options.lvm.lvmBinary ?? "lvm"];
  const commandEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.lvm.env ?? process.env)) {
    if (value !== undefined) {
      commandEnv[key] = value;
    }
  }
  // LVM's messages and number formats follow the locale; lvm-exec pins it the same way.
  commandEnv.LC_ALL = "C";

  async function runCommand(executor: Executor, args: readonly string[]): Promise<void> {
    const argv = [...program, ...args];
    const timeoutMs = options.lvm.timeoutMs ?? defaultTimeoutMs;
    const result = await executor(argv, { env: commandEnv, timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    if (result.exitCode !== 0) {
      throw new LvmError("CommandFailed", `lvm ${args[0] ?? ""} failed: ${stderrSummary(result.stderr)}`, {
        argv,
        exitCode: result.exitCode,
        stderr: result.stderr,
      });
    }
  }

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

  function setVg(record: VgRecord): void {
    inventory = new Map(inventory).set(record.name, record);
    notify();
  }

  function track<T>(work: Promise<T>): Promise<T> {
    running.add(work);
    void work.finally(() => running.delete(work)).catch(() => undefined);
    return work;
  }

  async function refreshVg(vgName: string): Promise<void> {
    try {
      apply(await readLvm.fullReport([vgName]));
    } catch (err) {
      // The optimistic model stays until the next refresh succeeds.
      logger.error({ err, vg: vgName }, "re-reading the volume group failed");
    }
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

  async function mutate<T>(
    vgName: string,
    mutation: (vg: VgRecord, context: MutationContext) => Promise<MutationOutcome<T>>,
    log: Logger,
  ): Promise<T> {
    const release = await lock(vgName);
    const vg = inventory.get(vgName);
    if (vg === undefined) {
      release();
      throw new Error(`volume group ${vgName} is not in the model`);
    }
    let ranCommand = false;
    let markChanged: () => void = () => undefined;
    const changed = new Promise<void>((resolve) => {
      markChanged = resolve;
    });
    const background: Promise<unknown>[] = [];
    const logged = loggingExecutor(log, (exitCode) => {
      if (!ranCommand && exitCode === 0) {
        markChanged();
      }
      ranCommand = true;
    });
    // Spawning blocks the event loop for the fork. A follow-up command (lvm-exec's read after lvcreate) started
    // right as the answer goes out would hold back the frames of that answer, so later commands wait a moment.
    const executor: Executor = async (argv, execOptions) => {
      if (ranCommand) {
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_UP_DELAY_MS));
      }
      return logged(argv, execOptions);
    };
    const context: MutationContext = {
      lvm: createLvm({ ...options.lvm, executor }),
      changed,
      run: (args) => runCommand(executor, args),
      finishInBackground: (work) => {
        background.push(
          work.catch((err: unknown) => {
            log.warn({ err }, "background part of the mutation failed");
          }),
        );
      },
      reread: async () => {
        apply(await readLvm.fullReport([vgName]));
        return inventory.get(vgName) ?? vg;
      },
    };

    const finish = (): void => {
      if (!ranCommand) {
        release();
        return;
      }
      const refresh = track(
        Promise.allSettled(background)
          .then(() => refreshVg(vgName))
          .finally(() => {
            pendingRefresh.delete(vgName);
            release();
          }),
      );
      pendingRefresh.set(vgName, refresh);
    };

    try {
      const outcome = await mutation(vg, context);
      if (outcome.update !== undefined) {
        const current = inventory.get(vgName);
        if (current !== undefined) {
          setVg(outcome.update(current));
        }
      }
      return outcome.result;
    } finally {
      finish();
    }
  }

  return {
    inventory: () => inventory,
    refreshAll,
    mutate,
    settled: async (vgName) => {
      await pendingRefresh.get(vgName);
    },
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
