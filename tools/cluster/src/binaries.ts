import { accessSync, constants } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The programs the local cluster runs, all built by tools/ensure-deps into TOPOLVM_BIN. */
export type ClusterBinary = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kubectl";

export const clusterBinaries: readonly ClusterBinary[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
];

/** The cache directory of tools/lib.sh: TOPOLVM_CACHE, else $XDG_CACHE_HOME/topolvm-ts, else ~/.cache/topolvm-ts. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TOPOLVM_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "topolvm-ts");
}

/** The directory tools/ensure-deps links built binaries into (TOPOLVM_BIN, as in tools/lib.sh). */
export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TOPOLVM_BIN ?? join(cacheDir(env), "bin");
}

/** Returns the binaries that are not built yet. */
export function missingBinaries(names: readonly string[] = clusterBinaries, dir: string = binDir()): string[] {
  return names.filter((name) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

/** The path of a built binary; throws naming the binary and the fix when it is missing. */
export function binaryPath(name: string, dir: string = binDir()): string {
  if (missingBinaries([name], dir).length > 0) {
    throw new Error(`${name} is not built (no executable ${join(dir, name)}): run tools/ensure-deps`);
  }
  return join(dir, name);
}
