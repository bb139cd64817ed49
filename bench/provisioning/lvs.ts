import type { TopolvmNode } from "../../tools/cluster/src/topolvm.js";
import { runLvm } from "../../tools/cluster/src/topolvm-lvm.js";

/** One volume group of a simulated node as LVM itself reports it (not lvmd), with the sizes of the LVs in it. */
export interface VolumeGroupReport {
  readonly node: string;
  readonly volumeGroup: string;
  readonly sizeBytes: number;
  readonly freeBytes: number;
  readonly lvSizesBytes: readonly number[];
}

interface VgsJson {
  report: { vg?: { vg_name: string; vg_size: string; vg_free: string }[] }[];
}

/** The volume groups of a node's sandbox and the LVs in each, read with vgs and lvs. */
export async function volumeGroupReports(node: TopolvmNode): Promise<VolumeGroupReport[]> {
  const stdout = await runLvm(node.state, [
    ...["vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "vg_name,vg_size,vg_free"],
    ...node.state.lvm.volumeGroups.map((volumeGroup) => volumeGroup.name),
  ]);
  const vgs = (JSON.parse(stdout) as VgsJson).report.flatMap((entry) => entry.vg ?? []);
  const lvs = await node.lvs();
  return vgs.map((vg) => ({
    node: node.name,
    volumeGroup: vg.vg_name,
    sizeBytes: Number(vg.vg_size),
    freeBytes: Number(vg.vg_free),
    lvSizesBytes: lvs.filter((lv) => lv.volumeGroup === vg.vg_name).map((lv) => lv.sizeBytes),
  }));
}
