// What one csi-sanity run is: its device-class, the parameter file and the command line, as upstream TopoLVM's
// e2e suite runs csi-test (1 GiB volumes, xfs, the class as a StorageClass parameter). Pure: no I/O.
import { deviceClassParameter } from "@topolvm/proto/names";
import { join } from "node:path";
import { stringify } from "yaml";

/** The two runs of upstream: a thick device-class and a thin one. */
export type RunName = "thick" | "thin";

export const runNames: readonly RunName[] = ["thick", "thin"];

/** Parses a comma-separated list of runs ("thick,thin"); throws naming an unknown one. */
export function parseRunNames(text: string): RunName[] {
  return text.split(",").map((name) => {
    const run = runNames.find((known) => known === name);
    if (run === undefined) {
      throw new Error(`unknown run ${JSON.stringify(name)} (known: ${runNames.join(", ")})`);
    }
    return run;
  });
}

/** csi-sanity's test volume: 1 GiB as upstream; expansion grows it to 2 GiB. */
export const testVolumeBytes = 1 << 30;
export const testVolumeExpandBytes = 2 * testVolumeBytes;

/** The StorageClass parameters csi-sanity passes to CreateVolume (its -csi.testvolumeparameters file). */
export function volumeParameters(deviceClass: string): Record<string, string> {
  return { "csi.storage.k8s.io/fstype": "xfs", [deviceClassParameter]: deviceClass };
}

export function volumeParametersYaml(deviceClass: string): string {
  return stringify(volumeParameters(deviceClass));
}

/**
 * The specs a thick run leaves out, as upstream TopoLVM's e2e suite does: the controller advertises snapshots and
 * clones, which only a thin device-class can make (a thick one answers Unimplemented).
 */
export const thickSnapshotSkip = "CreateSnapshot|DeleteSnapshot|source snapshot|source volume";

/** The Ginkgo skip expression of a run: the run's own (thick: thickSnapshotSkip) and the caller's, either matching. */
export function runSkip(run: RunName, skip: string | undefined): string | undefined {
  const own = run === "thick" ? thickSnapshotSkip : undefined;
  if (own === undefined || skip === undefined) {
    return own ?? skip;
  }
  return `(${own})|(${skip})`;
}

export interface SanityRunSpec {
  csiSanity: string;
  /** topolvm-node's CSI socket (Identity + Node services). */
  nodeSocket: string;
  /** topolvm-controller's CSI socket (Identity + Controller services). */
  controllerSocket: string;
  /** A directory of this run: the mount and staging directories, the parameter file and the report go there. */
  workDir: string;
  /** Ginkgo regular expressions: only specs matching focus run, specs matching skip do not. */
  focus?: string;
  skip?: string;
}

/** Files of one run inside its work directory. */
export function runFiles(workDir: string): { parameters: string; report: string; mountDir: string; stagingDir: string } {
  return {
    parameters: join(workDir, "parameters.yaml"),
    report: join(workDir, "ginkgo-report.json"),
    mountDir: join(workDir, "mount"),
    stagingDir: join(workDir, "staging"),
  };
}

/** The csi-sanity command line of a run. */
export function csiSanityArgv(spec: SanityRunSpec): string[] {
  const files = runFiles(spec.workDir);
  return [
    spec.csiSanity,
    `-csi.endpoint=unix://${spec.nodeSocket}`,
    `-csi.controllerendpoint=unix://${spec.controllerSocket}`,
    `-csi.testvolumesize=${testVolumeBytes}`,
    `-csi.testvolumeexpandsize=${testVolumeExpandBytes}`,
    `-csi.testvolumeparameters=${files.parameters}`,
    `-csi.mountdir=${files.mountDir}`,
    `-csi.stagingdir=${files.stagingDir}`,
    `-ginkgo.json-report=${files.report}`,
    // Colour codes would land in the host test's failure messages.
    "-ginkgo.no-color",
    ...(spec.focus === undefined ? [] : [`-ginkgo.focus=${spec.focus}`]),
    ...(spec.skip === undefined ? [] : [`-ginkgo.skip=${spec.skip}`]),
  ];
}
