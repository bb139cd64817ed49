// The CustomResourceDefinitions the chart's objects need on a cluster: TopoLVM's own (the chart's crds/, the file of
// @topolvm/csi-plugin) and cert-manager's, for the Issuers and the Certificate of webhook.certManager.enabled.
import { existsSync } from "node:fs";
import { join } from "node:path";

import { cacheDir } from "../../paths.js";
import { chartDir } from "./helm.js";

/** The LogicalVolume CRD as the chart ships it (crds/ links to packages/csi-plugin/crd/). */
export const logicalVolumeCrdFile = join(chartDir, "crds", "logicalvolumes.topolvm.cybozu.com.yaml");

/** The cert-manager.io kinds whose CRDs tools/deps/46-cert-manager-crds.sh caches. */
export const certManagerKinds = ["certificates", "certificaterequests", "issuers", "clusterissuers"] as const;

/** Where tools/deps/46-cert-manager-crds.sh links cert-manager's CRDs: $TOPOLVM_CACHE/cert-manager-crds. */
export function certManagerCrdsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), "cert-manager-crds");
}

/** The cached cert-manager CRD files, one per kind of certManagerKinds. */
export function certManagerCrdFiles(dir: string = certManagerCrdsDir()): string[] {
  return certManagerKinds.map((kind) => join(dir, `cert-manager.io_${kind}.yaml`));
}

/** Whether the cert-manager CRDs are cached (tools/ensure-deps). */
export function certManagerCrdsMissing(dir: string = certManagerCrdsDir()): boolean {
  return certManagerCrdFiles(dir).some((file) => !existsSync(file));
}
