import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { readFile, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLvm, type Lvm } from "../../src/index.js";
import { createSandbox, type Sandbox } from "../../../../tools/lvm-sandbox/index.js";
import { readStart, writePattern } from "../../../../tools/vm/block-device.js";

// Runs inside the tools/vm VM (started by data-path.test.ts), where device-mapper exists: LVs really activate,
// thin pools allocate, and filesystems on LVs mount and grow. The sandbox's loop files live in the VM's RAM.
const execFileAsync = promisify(execFile);
const MiB = 2 ** 20;

async function run(command: string, args: string[]): Promise<string> {
  return (await execFileAsync(command, args)).stdout;
}

/** The filesystem's total size in bytes, as the kernel reports it for the mounted filesystem. */
async function mountedSizeBytes(mountPoint: string): Promise<number> {
  const stats = await statfs(mountPoint);
  return stats.blocks * stats.bsize;
}

describe("lvm-exec on a kernel with device-mapper", () => {
  let sandbox: Sandbox;
  let lvm: Lvm;
  const mountPoints: string[] = [];

  beforeAll(async () => {
    expect(process.env.TOPOLVM_IN_VM).toBe("1");
    sandbox = await createSandbox({ activation: true, volumeGroups: [{ name: "vmvg", sizes: ["1G"] }] });
    lvm = createLvm({ env: sandbox.env });
  });

  afterAll(async () => {
    for (const mountPoint of mountPoints) {
      await execFileAsync("umount", [mountPoint]).catch(() => undefined);
      rmSync(mountPoint, { recursive: true, force: true });
    }
    await sandbox.destroy();
  });

  async function mount(device: string): Promise<string> {
    const mountPoint = mkdtempSync(join(tmpdir(), "lvm-exec-mnt-"));
    mountPoints.push(mountPoint);
    await run("mount", [device, mountPoint]);
    return mountPoint;
  }

  it("activates a logical volume and shows /dev/<vg>/<lv>, and deactivates it again", async () => {
    const created = await lvm.createLogicalVolume({ vgName: "vmvg", name: "plain", sizeBytes: 8 * MiB });
    expect(created).toMatchObject({ path: "/dev/vmvg/plain", active: true });
    expect(created.major).not.toBeNull();
    expect(existsSync("/dev/vmvg/plain")).toBe(true);

    await lvm.deactivateLogicalVolume({ vgName: "vmvg", name: "plain" });
    expect(existsSync("/dev/vmvg/plain")).toBe(false);
    expect(await lvm.getLogicalVolume({ vgName: "vmvg", name: "plain" })).toMatchObject({ active: false, major: null });

    await lvm.activateLogicalVolume({ vgName: "vmvg", name: "plain" });
    expect(existsSync("/dev/vmvg/plain")).toBe(true);
    expect(await run("dmsetup", ["info", "-c", "--noheadings", "-o", "name", "vmvg-plain"])).toContain("vmvg-plain");
    await lvm.removeLogicalVolume({ vgName: "vmvg", name: "plain" });
    expect(existsSync("/dev/vmvg/plain")).toBe(false);
  });

  it("creates a thin pool, thin volumes and a thin snapshot, with dataPercent reported", async () => {
    const pool = await lvm.createThinPool({ vgName: "vmvg", name: "pool", sizeBytes: 64 * MiB });
    expect(pool.attr[0]).toBe("t");
    expect(pool.dataPercent).toBe(0);

    // Thin volumes may together exceed the pool: only written blocks take space from it.
    const thin = await lvm.createLogicalVolume({ vgName: "vmvg", name: "thin1", sizeBytes: 48 * MiB, thinPool: "pool" });
    await lvm.createLogicalVolume({ vgName: "vmvg", name: "thin2", sizeBytes: 48 * MiB, thinPool: "pool" });
    expect(thin).toMatchObject({ poolLv: "pool", active: true, dataPercent: 0 });
    expect(thin.attr[0]).toBe("V");

    await writePattern(thin.path, 16 * MiB, 0x5a);
    const written = await lvm.getLogicalVolume({ vgName: "vmvg", name: "thin1" });
    expect(written.dataPercent).toBeCloseTo((16 / 48) * 100, 0);
    const poolAfter = await lvm.getLogicalVolume({ vgName: "vmvg", name: "pool" });
    expect(poolAfter.dataPercent).toBeCloseTo((16 / 64) * 100, 0);
    expect(poolAfter.metadataPercent).toBeGreaterThan(0);

    const snapshot = await lvm.createSnapshot({ vgName: "vmvg", sourceName: "thin1", name: "snap1" });
    expect(snapshot).toMatchObject({ origin: "thin1", poolLv: "pool", active: true, sizeBytes: thin.sizeBytes });
    expect(existsSync(snapshot.path)).toBe(true);
    expect(await readStart(snapshot.path, 4096)).toEqual(Buffer.alloc(4096, 0x5a));

    // The snapshot keeps its blocks when the origin is overwritten.
    await writePattern(thin.path, 4096, 0xa5);
    expect(await readStart(snapshot.path, 4096)).toEqual(Buffer.alloc(4096, 0x5a));
    expect(await readStart(thin.path, 4096)).toEqual(Buffer.alloc(4096, 0xa5));

    for (const name of ["snap1", "thin1", "thin2", "pool"]) await lvm.removeLogicalVolume({ vgName: "vmvg", name });
  });

  // Sizes: mkfs.xfs refuses filesystems under 300 MiB.
  it.each([
    { fs: "ext4", sizeMiB: 64, grownMiB: 128, grow: (device: string) => run("resize2fs", [device]) },
    { fs: "xfs", sizeMiB: 320, grownMiB: 448, grow: (_device: string, mountPoint: string) => run("xfs_growfs", [mountPoint]) },
  ])("formats $fs, mounts, writes and grows it online with lvextend and its grow tool", async ({ fs, sizeMiB, grownMiB, grow }) => {
    const lv = await lvm.createLogicalVolume({ vgName: "vmvg", name: fs, sizeBytes: sizeMiB * MiB });
    await run(`mkfs.${fs}`, ["-q", lv.path]);
    const mountPoint = await mount(lv.path);
    await writeFile(join(mountPoint, "data"), "kept across the resize");
    const before = await mountedSizeBytes(mountPoint);

    const extended = await lvm.extendLogicalVolume({ vgName: "vmvg", name: fs, sizeBytes: grownMiB * MiB });
    expect(extended.sizeBytes).toBe(grownMiB * MiB);
    await grow(lv.path, mountPoint);

    // The filesystem's own overhead grows with it, so it gains a little less than the LV.
    const after = await mountedSizeBytes(mountPoint);
    expect(after - before).toBeGreaterThan(0.9 * (grownMiB - sizeMiB) * MiB);
    expect(await readFile(join(mountPoint, "data"), "utf8")).toBe("kept across the resize");
    await run("umount", [mountPoint]);
    await lvm.removeLogicalVolume({ vgName: "vmvg", name: fs });
  });
});
