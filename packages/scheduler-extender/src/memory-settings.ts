/**
 * The memory settings of topolvm-scheduler's process. Node reads V8's flags and glibc its malloc settings only when a
 * process starts, so the bin's first line gives them (`#!/usr/bin/env -S <mallocEnv> node <nodeFlags>`), and a
 * process started another way logs what it lacks. README.md ("Memory") says why each one is there.
 */
export const nodeFlags = ["--heap-growing-percent=300", "--semi-space-growth-factor=1", "--expose-gc"] as const;
export const mallocEnv = { MALLOC_MMAP_THRESHOLD_: "32768" } as const;

/** The bin's first line, made of the settings above. */
export const binShebang = `#!/usr/bin/env -S ${Object.entries(mallocEnv)
  .map(([name, value]) => `${name}=${value}`)
  .join(" ")} node ${nodeFlags.join(" ")}`;

/** The settings this process lacks: flags missing from its command line, malloc variables not in its environment. */
export function missingMemorySettings(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  return [
    ...nodeFlags.filter((flag) => !execArgv.includes(flag)),
    ...Object.entries(mallocEnv)
      .filter(([name, value]) => env[name] !== value)
      .map(([name, value]) => `${name}=${value}`),
  ];
}

/**
 * Returns the hint the app calls once it has answered a large body: a young-generation GC at once, which frees the
 * body's socket chunks, and a full GC once `quietMs` passed without another large body, which frees what a burst
 * moved to the old generation. `quietMs` is just over the 30 s after which the buffer pools let their buffers go, so
 * it frees those too. Without `gc` (no --expose-gc) the hint does nothing.
 */
export function createGcHint(gc: NodeJS.GCFunction | undefined = globalThis.gc, quietMs = 35_000): () => void {
  if (gc === undefined) {
    return () => undefined;
  }
  let afterBurst: NodeJS.Timeout | undefined;
  return () => {
    gc({ type: "minor" });
    afterBurst ??= setTimeout(() => {
      gc({ type: "major" });
    }, quietMs).unref();
    // Restarts the quiet period, also once the timer has fired.
    afterBurst.refresh();
  };
}
