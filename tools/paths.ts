// Where tools/ensure-deps puts things, and what is installed: shared by the harnesses, their tests and the benches.
import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

/** The cache directory of tools/lib.sh: TOPOLVM_CACHE, else $XDG_CACHE_HOME/topolvm-ts, else ~/.cache/topolvm-ts. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TOPOLVM_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "topolvm-ts");
}

/** The directory tools/ensure-deps links built binaries into (TOPOLVM_BIN, as in tools/lib.sh). */
export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TOPOLVM_BIN ?? join(cacheDir(env), "bin");
}

/** Whether path is a file this process may execute. */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether a command is found on PATH or in the extra directories (e.g. /sbin for root's tools). */
export function onPath(command: string, extraDirs: readonly string[] = []): boolean {
  return [...(process.env.PATH ?? "").split(delimiter), ...extraDirs].some((dir) => isExecutable(join(dir, command)));
}
