import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

import type { DeviceClassState, NodeState, NodeVolumeGroups } from "./state.js";

const execFileAsync = promisify(execFile);

// The LVM sandbox script (tools/lvm-sandbox/README.md). The cluster calls the script rather than its TypeScript
// helper because a node's volume groups outlive the command that created them: the helper ties a sandbox to the
// calling process and destroys it when that process exits, while a node lives until `cluster down`.
const sandboxScript = join(import.meta.dirname, "..", "..", "lvm-sandbox", "sandbox");

async function sandbox(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(sandboxScript, args);
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`tools/lvm-sandbox/sandbox ${args[0] ?? ""} failed: ${stderr.trim() || String(error)}`);
  }
}

/**
 * Creates the LVM sandbox of a simulated node in `dir`: one loop-backed volume group per device-class, visible
 * only through the sandbox's LVM_SYSTEM_DIR. `ownerPid` is the process whose exit makes the sandbox reclaimable
 * by the sandbox sweep (the cluster's node agent), so a crashed cluster does not leak loop devices. With
 * `activation`, LVM activates LVs in it (the sandbox's --activation; needs device-mapper).
 */
export async function createNodeVolumeGroups(
  dir: string,
  deviceClasses: readonly DeviceClassState[],
  ownerPid: number,
  activation = false,
): Promise<NodeVolumeGroups> {
  const volumeGroups: NodeVolumeGroups["volumeGroups"] = [];
  try {
    for (const deviceClass of deviceClasses) {
      const stdout = await sandbox([
        "create",
        "--owner",
        String(ownerPid),
        ...(activation ? ["--activation"] : []),
        dir,
        deviceClass.volumeGroup,
        String(deviceClass.sizeBytes),
      ]);
      volumeGroups.push({ name: deviceClass.volumeGroup, physicalVolumes: stdout.trim().split("\n") });
    }
  } catch (error) {
    await sandbox(["destroy", dir]).catch(() => undefined);
    throw error;
  }
  const systemDir = join(dir, "etc");
  return {
    dir,
    env: { LVM_SYSTEM_DIR: systemDir, LVM_SUPPRESS_FD_WARNINGS: "1" },
    volumeGroups,
  };
}

/** Destroys a node's volume groups and detaches its loop devices; idempotent. */
export async function destroyNodeVolumeGroups(node: NodeState): Promise<void> {
  await sandbox(["destroy", node.lvm.dir]);
}
