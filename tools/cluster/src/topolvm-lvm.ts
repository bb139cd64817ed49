// LVM as it really is on a simulated node: the LVs in its sandbox's volume groups, read with lvs, and the thin
// pools a thin device-class needs.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import type { NodeState } from "./state.js";

const execFileAsync = promisify(execFile);

const lvmSearchDirs = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/** The lvm binary lvmd runs on the host (the plain one: the sandbox's LVM_SYSTEM_DIR points it at the node). */
export function lvmPath(): string {
  for (const dir of [...(process.env.PATH ?? "").split(":"), ...lvmSearchDirs]) {
    if (dir !== "" && existsSync(join(dir, "lvm"))) {
      return join(dir, "lvm");
    }
  }
  throw new Error("lvm2 is not installed (no lvm on PATH or in /sbin)");
}

/**
 * Whether this kernel has device-mapper, so LVs can be activated and thin volumes created (the VM, not the host).
 * /dev/mapper/control may exist without the driver; the kernel lists the driver in /proc/misc.
 */
export function deviceMapperAvailable(): boolean {
  try {
    return /\bdevice-mapper\b/.test(readFileSync("/proc/misc", "utf8"));
  } catch {
    return false;
  }
}

/** Whether LVM activates LVs in this node's sandbox: device-mapper, and a sandbox created with --activation. */
export function nodeCanActivate(node: NodeState): boolean {
  return deviceMapperAvailable() && existsSync(join(node.lvm.dir, "activation"));
}

/** The environment of an LVM command on this node: this process's plus the node sandbox's. */
export function nodeLvmEnv(node: NodeState): NodeJS.ProcessEnv {
  return { ...process.env, ...node.lvm.env, LC_ALL: "C" };
}

/** Runs `lvm ARGS` against a node's volume groups; the error carries LVM's stderr. */
export async function runLvm(node: NodeState, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(lvmPath(), args, { env: nodeLvmEnv(node), maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    const warnings = /^\s*WARNING: Activation disabled.*$/gm;
    const message = stderr.replace(warnings, "").trim() || String(error);
    throw new Error(`lvm ${args.join(" ")} on node ${node.name} failed: ${message}`);
  }
}

/** One LV as lvs reports it. */
export interface LogicalVolumeReport {
  name: string;
  volumeGroup: string;
  sizeBytes: number;
  tags: string[];
  /** The thin pool of a thin volume; "" for thick LVs. */
  pool: string;
  attr: string;
  /** "linear", "striped", "thin", "thin-pool"... */
  segmentType: string;
}

interface LvsJson {
  report: { lv: Record<string, string>[] }[];
}

/**
 * The LVs that really exist in a node's volume groups (hidden ones such as a pool's _tdata and _tmeta left out),
 * read with `lvs --reportformat json --units b --nosuffix`.
 */
export async function listLogicalVolumes(node: NodeState): Promise<LogicalVolumeReport[]> {
  const volumeGroups = node.lvm.volumeGroups.map((volumeGroup) => volumeGroup.name);
  const stdout = await runLvm(node, [
    "lvs",
    "--reportformat",
    "json",
    "--units",
    "b",
    "--nosuffix",
    "-o",
    "lv_name,vg_name,lv_size,lv_tags,pool_lv,lv_attr,segtype",
    ...volumeGroups,
  ]);
  const report = (JSON.parse(stdout) as LvsJson).report.flatMap((entry) => entry.lv);
  return report.map((lv) => ({
    name: lv.lv_name ?? "",
    volumeGroup: lv.vg_name ?? "",
    sizeBytes: Number(lv.lv_size ?? "0"),
    tags: (lv.lv_tags ?? "").split(",").filter((tag) => tag !== ""),
    pool: lv.pool_lv ?? "",
    attr: lv.lv_attr ?? "",
    segmentType: lv.segtype ?? "",
  }));
}

/** How a thin pool was made: by LVM on a kernel with device-mapper, or as metadata only on the host. */
export type ThinPoolKind = "active" | "metadata-only";

function lvmUuid(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const chars = [...randomBytes(32)].map((byte) => alphabet[byte % alphabet.length] ?? "A").join("");
  const groups = [6, 4, 4, 4, 4, 4, 6];
  let offset = 0;
  return groups
    .map((length) => {
      const group = chars.slice(offset, offset + length);
      offset += length;
      return group;
    })
    .join("-");
}

/**
 * Creates thin pool `pool` of `sizeBytes` in a node's volume group. Where LVM can activate (nodeCanActivate), with
 * `lvcreate --type thin-pool`. Elsewhere (the host has no device-mapper, and cluster sandboxes run without
 * activation) LVM refuses ("Can't create thin-pool without using device-mapper kernel driver"), so the pool is
 * written into the VG's metadata instead (a data and a metadata LV made by lvcreate, turned into a thin-pool
 * segment through vgcfgbackup/vgcfgrestore --force): lvs then lists a real pool and lvmd can serve and report its
 * class, but LVM still refuses thin volumes in it ("Can't create thin without using device-mapper kernel driver").
 */
export async function createThinPool(
  node: NodeState,
  volumeGroup: string,
  pool: string,
  sizeBytes: number,
): Promise<ThinPoolKind> {
  if (nodeCanActivate(node)) {
    await runLvm(node, ["lvcreate", "--yes", "--type", "thin-pool", "-L", `${sizeBytes}b`, "-n", pool, volumeGroup]);
    return "active";
  }
  const metadataBytes = 8 * 1024 * 1024;
  // lvcreate reserves the _tdata and _tmeta suffixes: the LVs get them in the rewritten metadata.
  const data = `${pool}_tdata`;
  const metadata = `${pool}_tmeta`;
  const dataDraft = `${pool}-tdata`;
  const metadataDraft = `${pool}-tmeta`;
  await runLvm(node, ["lvcreate", "--yes", "-an", "-Zn", "-L", `${sizeBytes}b`, "-n", dataDraft, volumeGroup]);
  await runLvm(node, ["lvcreate", "--yes", "-an", "-Zn", "-L", `${metadataBytes}b`, "-n", metadataDraft, volumeGroup]);
  const backup = join(node.lvm.dir, `${volumeGroup}-thin-${pool}.vgcfg`);
  await runLvm(node, ["vgcfgbackup", "-f", backup, volumeGroup]);
  const text = await readFile(backup, "utf8");
  const rewritten = hideLv(hideLv(text, dataDraft, data), metadataDraft, metadata);
  const dataExtents = lvExtentCount(text, dataDraft);
  const poolBlock = [
    `\t\t${pool} {`,
    `\t\t\tid = "${lvmUuid()}"`,
    `\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]`,
    `\t\t\tflags = []`,
    `\t\t\tsegment_count = 1`,
    ``,
    `\t\t\tsegment1 {`,
    `\t\t\t\tstart_extent = 0`,
    `\t\t\t\textent_count = ${dataExtents}`,
    ``,
    `\t\t\t\ttype = "thin-pool"`,
    `\t\t\t\tmetadata = "${metadata}"`,
    `\t\t\t\tpool = "${data}"`,
    `\t\t\t\ttransaction_id = 0`,
    `\t\t\t\tchunk_size = 128`,
    `\t\t\t\tdiscards = "passdown"`,
    `\t\t\t\tzero_new_blocks = 0`,
    `\t\t\t}`,
    `\t\t}`,
    ``,
  ].join("\n");
  const withPool = rewritten.replace("\tlogical_volumes {\n\n", `\tlogical_volumes {\n\n${poolBlock}\n`);
  if (withPool === rewritten) {
    throw new Error(`node ${node.name}: the metadata backup of ${volumeGroup} has no logical_volumes section`);
  }
  await writeFile(backup, withPool);
  await runLvm(node, ["vgcfgrestore", "--force", "-f", backup, volumeGroup]);
  await rm(backup, { force: true });
  return "metadata-only";
}

/** The body of LV `name`'s block in a VG metadata text. */
function lvBlock(text: string, name: string): { start: number; end: number } {
  const start = text.indexOf(`\n\t\t${name} {\n`);
  if (start < 0) {
    throw new Error(`no LV ${name} in the volume group's metadata`);
  }
  const end = text.indexOf("\n\t\t}\n", start);
  if (end < 0) {
    throw new Error(`the metadata block of LV ${name} does not end`);
  }
  return { start, end };
}

/** Renames LV `name` to `hiddenName` and hides it (a pool's sub-LV) by dropping VISIBLE from its status. */
function hideLv(text: string, name: string, hiddenName: string): string {
  const { start, end } = lvBlock(text, name);
  const block = text
    .slice(start, end)
    .replace(`\n\t\t${name} {\n`, `\n\t\t${hiddenName} {\n`)
    .replace('"WRITE", "VISIBLE"]', '"WRITE"]');
  return text.slice(0, start) + block + text.slice(end);
}

function lvExtentCount(text: string, name: string): number {
  const { start, end } = lvBlock(text, name);
  const match = /extent_count = (\d+)/.exec(text.slice(start, end));
  if (match?.[1] === undefined) {
    throw new Error(`LV ${name} has no extent_count in the volume group's metadata`);
  }
  return Number(match[1]);
}
