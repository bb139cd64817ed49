import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createSandbox, sandboxUnavailableReason, sweepSandboxes, type Sandbox } from "../index.js";

const execFileAsync = promisify(execFile);
const unavailable = sandboxUnavailableReason();
const script = join(import.meta.dirname, "..", "sandbox");

async function lvm(sandbox: Sandbox, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("lvm", args, { env: sandbox.env });
  return stdout;
}

async function vgNames(sandbox: Sandbox): Promise<string[]> {
  return (await lvm(sandbox, ["vgs", "--noheadings", "-o", "vg_name"])).split("\n").map((s) => s.trim()).filter(Boolean);
}

async function backingFile(device: string): Promise<string> {
  try {
    return (await execFileAsync("losetup", ["-n", "-O", "BACK-FILE", device])).stdout.trim();
  } catch {
    return "";
  }
}

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("LVM sandbox", () => {
  const sandboxes: Sandbox[] = [];
  const track = (sandbox: Sandbox): Sandbox => {
    sandboxes.push(sandbox);
    return sandbox;
  };
  afterAll(async () => {
    await Promise.all(sandboxes.map((s) => s.destroy()));
  });

  it("creates loop-backed volume groups that only its own LVM config sees", async () => {
    const sandbox = track(
      await createSandbox({ volumeGroups: [{ name: "vga", sizes: ["64M", 64 * 2 ** 20] }, { name: "vgb", sizes: ["32M"] }] }),
    );
    expect(sandbox.loopDevices).toHaveLength(3);
    expect(sandbox.volumeGroups.map((vg) => vg.physicalVolumes.length)).toEqual([2, 1]);
    expect(sandbox.env.LVM_SYSTEM_DIR).toBe(sandbox.systemDir);
    expect(await vgNames(sandbox)).toEqual(["vga", "vgb"]);
    const pvs = await lvm(sandbox, ["pvs", "--noheadings", "-o", "pv_name"]);
    expect(pvs.split("\n").map((s) => s.trim()).filter(Boolean).sort()).toEqual([...sandbox.loopDevices].sort());
  });

  it("keeps two sandboxes with the same VG name apart", async () => {
    const [one, two] = await Promise.all([
      createSandbox({ volumeGroups: [{ name: "twin", sizes: ["32M"] }] }).then(track),
      createSandbox({ volumeGroups: [{ name: "twin", sizes: ["32M"] }] }).then(track),
    ]);
    await lvm(one, ["lvcreate", "-n", "only-in-one", "-L", "4m", "-y", "twin"]);
    expect(await lvm(one, ["lvs", "--noheadings", "-o", "lv_name", "twin"])).toContain("only-in-one");
    expect(await lvm(two, ["lvs", "--noheadings", "-o", "lv_name", "twin"])).not.toContain("only-in-one");
  });

  it("creates in a given empty directory and destroys idempotently, detaching its loop devices", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lvm-sandbox-given-"));
    const sandbox = await createSandbox({ dir, volumeGroups: [{ name: "given", sizes: ["16M"] }] });
    expect(sandbox.dir).toBe(dir);
    const [device = ""] = sandbox.loopDevices;
    expect(await backingFile(device)).toContain(dir);
    await sandbox.destroy();
    await sandbox.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(await backingFile(device)).not.toContain(dir);
  });

  it("refuses to create a VG twice in one sandbox and cleans up after the failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lvm-sandbox-dup-"));
    await expect(
      createSandbox({ dir, volumeGroups: [{ name: "dup", sizes: ["16M"] }, { name: "dup", sizes: ["16M"] }] }),
    ).rejects.toThrow(/already exists in sandbox/);
    expect(existsSync(dir)).toBe(false);
  });

  it("reclaims the sandbox of an owner that died", async () => {
    const owner = spawn("sleep", ["60"]);
    const dir = mkdtempSync(join(tmpdir(), "lvm-sandbox-stale-"));
    const { stdout } = await execFileAsync(script, ["create", "--owner", String(owner.pid), dir, "stale", "16M"]);
    const device = stdout.trim();
    expect(await backingFile(device)).toContain(dir);
    await sweepSandboxes();
    expect(existsSync(dir)).toBe(true);
    const exited = new Promise((resolve) => owner.once("exit", resolve));
    owner.kill("SIGKILL");
    await exited;
    await sweepSandboxes();
    expect(existsSync(dir)).toBe(false);
    expect(await backingFile(device)).not.toContain(dir);
  });

  it("leaves a live sandbox's devices to it, even with its files deleted, and reclaims them once its owner died", async () => {
    const owner = spawn("sleep", ["120"]);
    const exited = new Promise((resolve) => owner.once("exit", resolve));
    // Another root (another checkout, another tool) on the same machine: its loop devices are never ours.
    const otherRoot = mkdtempSync(join(tmpdir(), "lvm-sandbox-other-root-"));
    const otherEnv = { ...process.env, LVM_SANDBOX_ROOT: otherRoot };
    const ownDir = mkdtempSync(join(tmpdir(), "lvm-sandbox-live-"));
    const otherDir = mkdtempSync(join(tmpdir(), "lvm-sandbox-other-"));
    try {
      const own = (await execFileAsync(script, ["create", "--owner", String(owner.pid), ownDir, "live", "16M"])).stdout.trim();
      const other = (
        await execFileAsync(script, ["create", "--owner", String(owner.pid), otherDir, "other", "16M"], { env: otherEnv })
      ).stdout.trim();
      // Both image files deleted while their owner still runs: the devices stay in use, backed by deleted files.
      rmSync(ownDir, { recursive: true, force: true });
      rmSync(otherDir, { recursive: true, force: true });
      expect(await backingFile(own)).toBe(`${ownDir}/disks/live-0.lvm-sandbox.img (deleted)`);
      expect(await backingFile(other)).toBe(`${otherDir}/disks/other-0.lvm-sandbox.img (deleted)`);

      // Another sandbox's create sweeps this root: both live devices survive.
      track(await createSandbox({ volumeGroups: [{ name: "sweeper", sizes: ["16M"] }] }));
      expect(await backingFile(own)).toContain(ownDir);
      expect(await backingFile(other)).toContain(otherDir);

      owner.kill("SIGKILL");
      await exited;
      await sweepSandboxes();
      expect(await backingFile(own)).not.toContain(ownDir);
      // Dead owner or not, a sweep of this root never touches another root's devices: that root's own sweep does.
      expect(await backingFile(other)).toContain(otherDir);
      await execFileAsync(script, ["sweep"], { env: otherEnv });
      expect(await backingFile(other)).not.toContain(otherDir);
    } finally {
      owner.kill("SIGKILL");
      await execFileAsync(script, ["sweep"], { env: otherEnv }).catch(() => undefined);
      rmSync(otherRoot, { recursive: true, force: true });
      rmSync(ownDir, { recursive: true, force: true });
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});
