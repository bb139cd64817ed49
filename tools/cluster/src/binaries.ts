import { join } from "node:path";

import { binDir, isExecutable } from "../../paths.js";

export { binDir, cacheDir } from "../../paths.js";

/** The programs the local cluster runs, all built by tools/ensure-deps into TOPOLVM_BIN. */
export type ClusterBinary = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kubectl";

export const clusterBinaries: readonly ClusterBinary[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubectl",
];

/** The Kubernetes CSI sidecars TopoLVM's controller runs with, built by tools/ensure-deps (tools/deps/42-csi-sidecars.sh). */
export type CsiSidecarBinary = "csi-provisioner" | "csi-resizer" | "csi-snapshotter" | "snapshot-controller";

export const csiSidecarBinaries: readonly CsiSidecarBinary[] = [
  "csi-provisioner",
  "csi-resizer",
  "csi-snapshotter",
  "snapshot-controller",
];

/** Returns the binaries that are not built yet. */
export function missingBinaries(names: readonly string[] = clusterBinaries, dir: string = binDir()): string[] {
  return names.filter((name) => !isExecutable(join(dir, name)));
}

/** The path of a built binary; throws naming the binary and the fix when it is missing. */
export function binaryPath(name: string, dir: string = binDir()): string {
  if (missingBinaries([name], dir).length > 0) {
    throw new Error(`${name} is not built (no executable ${join(dir, name)}): run tools/ensure-deps`);
  }
  return join(dir, name);
}
