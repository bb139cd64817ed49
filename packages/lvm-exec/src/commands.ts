import { lvFields, vgFields } from "./report.js";

// The argv of every LVM command this library runs, after the `lvm` binary or command prefix. Pure functions of
// already validated values, so tests can read each command line exactly.

const reportArgs = ["--reportformat", "json", "--units", "b", "--nosuffix"];
const vgOutput = ["-o", vgFields.join(",")];
const lvOutput = ["-o", lvFields.join(",")];

// LVM takes byte sizes only in whole 512-byte sectors; rounding up first changes nothing in the result, which
// LVM rounds up to whole extents (multiples of the sector) anyway. BigInt keeps sizes near 2^53 exact.
const bytes = (n: number): string => `${((BigInt(n) + 511n) / 512n) * 512n}b`;
const addTagArgs = (tags: readonly string[]): string[] => tags.flatMap((tag) => ["--addtag", tag]);

export interface StripeArgs {
  stripes?: number | undefined;
  stripeSizeBytes?: number | undefined;
}

const stripeArgs = ({ stripes, stripeSizeBytes }: StripeArgs): string[] => [
  ...(stripes === undefined ? [] : ["-i", String(stripes)]),
  ...(stripeSizeBytes === undefined ? [] : ["-I", bytes(stripeSizeBytes)]),
];

export function vgsArgs(vgNames: readonly string[]): string[] {
  return ["vgs", ...reportArgs, ...vgOutput, ...vgNames];
}

/** `lvs` of every VG, one VG, or one LV (`target` is `vg` or `vg/lv`). */
export function lvsArgs(target?: string): string[] {
  return ["lvs", ...reportArgs, ...lvOutput, ...(target === undefined ? [] : [target])];
}

/** One command for VGs and their LVs; the PV and segment sections are emptied to keep it cheap. */
export function fullReportArgs(vgNames: readonly string[]): string[] {
  return [
    "fullreport",
    ...reportArgs,
    ...["--configreport", "vg", ...vgOutput],
    ...["--configreport", "lv", ...lvOutput],
    ...["--configreport", "pv", "-o", ","],
    ...["--configreport", "pvseg", "-o", ","],
    ...["--configreport", "seg", "-o", ","],
    ...vgNames,
  ];
}

export interface CreateArgs extends StripeArgs {
  vgName: string;
  name: string;
  sizeBytes: number;
  tags: readonly string[];
  thinPool?: string | undefined;
  extraArgs: readonly string[];
}

/** Thick: `lvcreate -n NAME -L SIZEb -W y -y ... VG`; thin: `lvcreate -T VG/POOL -n NAME -V SIZEb -W y -y ...`. */
export function lvcreateArgs(request: CreateArgs): string[] {
  const common = ["-W", "y", "-y", ...addTagArgs(request.tags), ...stripeArgs(request), ...request.extraArgs];
  if (request.thinPool !== undefined) {
    return ["lvcreate", "-T", `${request.vgName}/${request.thinPool}`, "-n", request.name, "-V", bytes(request.sizeBytes), ...common];
  }
  return ["lvcreate", "-n", request.name, "-L", bytes(request.sizeBytes), ...common, request.vgName];
}

export function thinPoolArgs(vgName: string, name: string, sizeBytes: number, tags: readonly string[]): string[] {
  return ["lvcreate", "--type", "thin-pool", "-n", name, "-L", bytes(sizeBytes), "-y", ...addTagArgs(tags), vgName];
}

/** A thin snapshot; `-k n` clears the activation-skip flag LVM sets on snapshots so it activates normally. */
export function snapshotArgs(vgName: string, sourceName: string, name: string, tags: readonly string[]): string[] {
  return ["lvcreate", "-s", "-k", "n", "-n", name, ...addTagArgs(tags), `${vgName}/${sourceName}`];
}

/** Grows only: lvextend refuses a size below the current one. */
export function lvextendArgs(lvPath: string, sizeBytes: number): string[] {
  return ["lvextend", "-L", bytes(sizeBytes), lvPath];
}

export function lvremoveArgs(lvPath: string): string[] {
  return ["lvremove", "-f", lvPath];
}

export function tagArgs(lvPath: string, tags: readonly string[], action: "add" | "remove"): string[] {
  const option = action === "add" ? "--addtag" : "--deltag";
  return ["lvchange", ...tags.flatMap((tag) => [option, tag]), lvPath];
}

/** `-p r` makes the LV read-only (as a read-only snapshot is served). */
export function readOnlyArgs(lvPath: string): string[] {
  return ["lvchange", "-p", "r", lvPath];
}

export function activateArgs(lvPath: string, active: boolean): string[] {
  return ["lvchange", "-a", active ? "y" : "n", ...(active ? ["-K"] : []), lvPath];
}
