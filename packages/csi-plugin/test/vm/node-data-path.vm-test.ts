import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { parseConfig, startLvmdServer, unixSocketTransport, type LvmdServer } from "@topolvm/lvmd";
import { csi, lvmd } from "@topolvm/proto";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { readFile, stat, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../../../tools/lvm-sandbox/index.js";
import { readStart } from "../../../../tools/vm/block-device.js";
import type { CsiServer } from "../../src/csi-server.js";
import { createLvmdClient } from "../../src/node/lvmd-client.js";
import { mountAt, readMountTable } from "../../src/node/mount-table.js";
import { startNodeCsiServer } from "../../src/node/node-csi-server.js";

// Runs inside the tools/vm VM (started by ../node-data-path.test.ts), where device-mapper exists. lvmd serves a loop
// VG; topolvm-node's CSI server (the same startNodeCsiServer the bin runs, without its Kubernetes controllers) serves
// Identity and Node on a real unix socket, and every call goes through a gRPC client on that socket.
const execFileAsync = promisify(execFile);
const MiB = 2 ** 20;
const VG = "nodevg";
const Mode = csi.VolumeCapability_AccessMode_Mode;
const logger = pino({ level: process.env.TOPOLVM_TEST_LOG ?? "silent" });

async function run(command: string, args: readonly string[], env?: Record<string, string>): Promise<string> {
  return (await execFileAsync(command, args, env === undefined ? {} : { env })).stdout;
}

async function codeOf(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (error) {
    const connectError = ConnectError.from(error);
    return { code: connectError.code, message: connectError.rawMessage };
  }
  throw new Error("the call succeeded");
}

const mountCapability = (fsType: string, mountFlags: string[] = []): MessageInitShape<typeof csi.VolumeCapabilitySchema> => ({
  accessType: { case: "mount", value: { fsType, mountFlags } },
  accessMode: { mode: Mode.SINGLE_NODE_WRITER },
});
const blockCapability: MessageInitShape<typeof csi.VolumeCapabilitySchema> = { accessType: { case: "block", value: {} }, accessMode: { mode: Mode.SINGLE_NODE_WRITER } };

// A TCG VM on a loaded 2-core host runs these many times slower than a real node: each test gets 15 minutes.
describe("topolvm-node's CSI node service on a kernel with device-mapper", { timeout: 900_000 }, () => {
  let sandbox: Sandbox;
  let lvmdServer: LvmdServer;
  let csiServer: CsiServer;
  let lv: Client<typeof lvmd.LVService>;
  let node: Client<typeof csi.Node>;
  let identity: Client<typeof csi.Identity>;
  let dir: string;
  let targets = 0;

  beforeAll(async () => {
    expect(process.env.TOPOLVM_IN_VM).toBe("1");
    sandbox = await createSandbox({ activation: true, volumeGroups: [{ name: VG, sizes: ["3G"] }] });
    dir = mkdtempSync(join(tmpdir(), "csi-node-vm-"));
    const lvmdSocket = join(dir, "lvmd.sock");
    lvmdServer = await startLvmdServer({
      config: parseConfig(`socket-name: ${lvmdSocket}\nlvm-command-prefix: [lvm]\ndevice-classes:\n  - { name: ssd, volume-group: ${VG}, default: true, spare-gb: 0 }\n`),
      logger,
      env: sandbox.env,
    });
    const lvmdClient = createLvmdClient(unixSocketTransport(lvmdSocket));
    const csiSocket = join(dir, "plugins", "topolvm.cybozu.com", "node", "csi-topolvm.sock");
    csiServer = await startNodeCsiServer({ socketPath: csiSocket, nodeName: "vm-node", version: "0.0.0-vm", lvmd: lvmdClient, readiness: () => ({ ready: true }), logger });
    lv = createClient(lvmd.LVService, unixSocketTransport(lvmdSocket));
    const transport = unixSocketTransport(csiSocket);
    node = createClient(csi.Node, transport);
    identity = createClient(csi.Identity, transport);
  });

  afterAll(async () => {
    await csiServer.close();
    await lvmdServer.close();
    for (const entry of (await readMountTable()).filter((mount) => mount.mountPoint.startsWith(dir)).reverse()) {
      await run("umount", [entry.mountPoint]).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
    await sandbox.destroy();
  });

  /** A target path as kubelet makes it: its parent exists, the path itself does not. */
  function newTarget(leaf = "mount"): string {
    targets += 1;
    const parent = join(dir, "pods", String(targets));
    mkdirSync(parent, { recursive: true });
    return join(parent, leaf);
  }

  async function createVolume(name: string, sizeMiB: number): Promise<lvmd.LogicalVolume> {
    const response = await lv.createLV({ name, sizeBytes: BigInt(sizeMiB * MiB) });
    if (response.volume === undefined) throw new Error("CreateLV answered no volume");
    return response.volume;
  }

  const publish = (volumeId: string, targetPath: string, volumeCapability: MessageInitShape<typeof csi.VolumeCapabilitySchema>, readonly = false) =>
    node.nodePublishVolume({ volumeId, targetPath, volumeCapability, readonly }, { timeoutMs: 180_000 });
  const unpublish = (volumeId: string, targetPath: string) => node.nodeUnpublishVolume({ volumeId, targetPath }, { timeoutMs: 60_000 });
  const stats = (volumeId: string, volumePath: string) => node.nodeGetVolumeStats({ volumeId, volumePath }, { timeoutMs: 60_000 });

  async function mountOf(target: string) {
    return mountAt(await readMountTable(), target);
  }

  function bytesUsage(response: csi.NodeGetVolumeStatsResponse) {
    const bytes = response.usage.find((usage) => usage.unit === csi.VolumeUsage_Unit.BYTES);
    const inodes = response.usage.find((usage) => usage.unit === csi.VolumeUsage_Unit.INODES);
    if (bytes === undefined || inodes === undefined) throw new Error(`no bytes or inodes in ${JSON.stringify(response.usage.map((usage) => usage.unit))}`);
    return { bytes, inodes };
  }

  it("serves Identity on the socket: the driver name, the capabilities and Probe", async () => {
    expect(await identity.getPluginInfo({})).toMatchObject({ name: "topolvm.cybozu.com", vendorVersion: "0.0.0-vm" });
    const { capabilities } = await identity.getPluginCapabilities({});
    expect(capabilities.some((capability) => capability.type.case === "service" && capability.type.value.type === csi.PluginCapability_Service_Type.VOLUME_ACCESSIBILITY_CONSTRAINTS)).toBe(true);
    expect((await identity.probe({})).ready).toBe(true);
    expect((await node.nodeGetInfo({})).nodeId).toBe("vm-node");
  });

  // Sizes: mkfs.xfs refuses filesystems under 300 MiB, mkfs.btrfs under about 114 MiB. An empty fs_type is ext4.
  it.each([
    { fs: "ext4", fsType: "", sizeMiB: 64, grownMiB: 160 },
    { fs: "xfs", fsType: "xfs", sizeMiB: 320, grownMiB: 448 },
    { fs: "btrfs", fsType: "btrfs", sizeMiB: 256, grownMiB: 384 },
  ])(
    "formats a new $fs volume, keeps what is written across unpublish and republish, reports usage, and grows it online",
    async ({ fs, fsType, sizeMiB, grownMiB }) => {
      const volumeId = `fs-${fs}`;
      const created = await createVolume(volumeId, sizeMiB);
      const target = newTarget();
      await publish(volumeId, target, mountCapability(fsType));
      expect((await mountOf(target))?.fsType).toBe(fs);
      expect(await run("blkid", ["-p", "-o", "value", "-s", "TYPE", created.path])).toBe(`${fs}\n`);
      expect((await stat(target)).mode & 0o7777).toBe(0o2777);
      // The same publish again is a no-op.
      await publish(volumeId, target, mountCapability(fsType));
      expect((await readMountTable()).filter((mount) => mount.mountPoint === target)).toHaveLength(1);

      const before = bytesUsage(await stats(volumeId, target));
      expect(Number(before.bytes.total)).toBeGreaterThan(0.5 * sizeMiB * MiB);
      await writeFile(join(target, "data"), Buffer.alloc(16 * MiB, 0x5a));
      await writeFile(join(target, "note"), `written on ${fs}`);
      await run("sync", []);
      const after = await stats(volumeId, target);
      expect(Number(bytesUsage(after).bytes.used - before.bytes.used)).toBeGreaterThan(15 * MiB);
      if (fs !== "btrfs") {
        // btrfs has no inode table to report (total 0); the others count the two new files.
        expect(bytesUsage(after).inodes.used - before.inodes.used).toBeGreaterThanOrEqual(2n);
      }
      expect(after.volumeCondition).toMatchObject({ abnormal: false, message: "volume is healthy and operating normally" });

      await unpublish(volumeId, target);
      expect(existsSync(target)).toBe(false);
      expect(await mountOf(target)).toBeUndefined();

      const again = newTarget();
      await publish(volumeId, again, mountCapability(fsType));
      expect(await readFile(join(again, "note"), "utf8")).toBe(`written on ${fs}`);

      const sizeBefore = (await statfs(again)).blocks * (await statfs(again)).bsize;
      expect((await lv.resizeLV({ name: volumeId, sizeBytes: BigInt(grownMiB * MiB) })).sizeBytes).toBe(BigInt(grownMiB * MiB));
      const expanded = await node.nodeExpandVolume({ volumeId, volumePath: again, capacityRange: { requiredBytes: BigInt(grownMiB * MiB) } }, { timeoutMs: 180_000 });
      expect(expanded.capacityBytes).toBe(BigInt(grownMiB * MiB));
      const sizeAfter = (await statfs(again)).blocks * (await statfs(again)).bsize;
      expect(sizeAfter - sizeBefore).toBeGreaterThan(0.85 * (grownMiB - sizeMiB) * MiB);
      expect(await readFile(join(again, "note"), "utf8")).toBe(`written on ${fs}`);
      await unpublish(volumeId, again);
      await lv.removeLV({ name: volumeId });
    },
  );

  it("publishes read-only: the data is there, writes fail, and a read-write publish at the same target is AlreadyExists", async () => {
    await createVolume("readonly", 64);
    const writer = newTarget();
    await publish("readonly", writer, mountCapability("ext4"));
    await writeFile(join(writer, "kept"), "from the writer");
    await unpublish("readonly", writer);

    const reader = newTarget();
    await publish("readonly", reader, mountCapability("ext4", ["noatime"]), true);
    expect(await readFile(join(reader, "kept"), "utf8")).toBe("from the writer");
    await expect(writeFile(join(reader, "new"), "x")).rejects.toMatchObject({ code: "EROFS" });
    expect((await mountOf(reader))?.options).toEqual(expect.arrayContaining(["ro", "noatime"]));
    expect((await codeOf(publish("readonly", reader, mountCapability("ext4")))).code).toBe(Code.AlreadyExists);
    await unpublish("readonly", reader);
    await lv.removeLV({ name: "readonly" });
  });

  it("publishes a raw block volume on a file: dd writes through it onto the LV, stats give its size, expansion is a no-op", async () => {
    const created = await createVolume("raw", 16);
    const target = newTarget("dev");
    await publish("raw", target, blockCapability);
    const published = await stat(target);
    expect(published.isBlockDevice()).toBe(true);
    expect(published.rdev).toBe((await stat(created.path)).rdev);

    const pattern = join(dir, "pattern");
    await writeFile(pattern, Buffer.alloc(MiB, 0xa5));
    await run("dd", [`if=${pattern}`, `of=${target}`, "bs=1M", "count=1", "oflag=direct", "conv=fsync", "status=none"]);
    expect((await readStart(created.path, MiB)).equals(Buffer.alloc(MiB, 0xa5))).toBe(true);

    const response = await stats("raw", target);
    expect(response.usage.map((usage) => [usage.unit, usage.total])).toEqual([[csi.VolumeUsage_Unit.BYTES, BigInt(16 * MiB)]]);
    expect(response.volumeCondition?.abnormal).toBe(false);
    expect((await node.nodeExpandVolume({ volumeId: "raw", volumePath: target, volumeCapability: blockCapability })).capacityBytes).toBe(BigInt(16 * MiB));

    // A read-only bind mount of a device node does not stop writes to the device (the kernel checks ro only for the
    // filesystem's own files): kubelet enforces it with the container's device permissions. The mount is ro as asked.
    const reader = newTarget("dev");
    await publish("raw", reader, blockCapability, true);
    expect((await mountOf(reader))?.options).toContain("ro");
    expect((await codeOf(publish("raw", reader, blockCapability))).code).toBe(Code.AlreadyExists);
    await unpublish("raw", reader);
    expect(existsSync(reader)).toBe(false);
  });

  it("reports the volume abnormal once its LV is removed behind the driver's back, and still unpublishes it", async () => {
    // The block volume of the previous test is still published at its target.
    const target = join(dir, "pods", String(targets - 1), "dev");
    expect((await stat(target)).isBlockDevice()).toBe(true);
    await run("lvm", ["lvremove", "-f", `${VG}/raw`], sandbox.env);
    // At once the device is gone from the kernel; once lvmd's model has caught up, the LV is gone from lvmd too.
    const first = await stats("raw", target);
    expect(first.volumeCondition).toMatchObject({ abnormal: true, message: expect.stringMatching(/^device \d+:\d+ at .* no longer exists in the kernel$/) as unknown });
    expect(first.usage).toEqual([]);
    // What lvmd's periodic refresh (every minute) does, done now: a refresh every second would keep a TCG VM busy.
    await lvmdServer.store.refreshAll();
    expect((await stats("raw", target)).volumeCondition).toMatchObject({ abnormal: true, message: "LV raw is gone: lvmd lists it in none of its device-classes" });
    await unpublish("raw", target);
    expect(existsSync(target)).toBe(false);
  });

  it("reports a filesystem volume whose mount was lost as abnormal", async () => {
    await createVolume("lost", 64);
    const target = newTarget();
    await publish("lost", target, mountCapability("ext4"));
    await run("umount", [target]);
    const response = await stats("lost", target);
    expect(response.usage).toEqual([]);
    expect(response.volumeCondition).toMatchObject({ abnormal: true, message: `nothing is mounted at ${target}: the mount of volume lost is gone` });
    await unpublish("lost", target);
    expect(existsSync(target)).toBe(false);
    await lv.removeLV({ name: "lost" });
  });

  it("wipes a stale signature off a device before formatting it", async () => {
    const created = await createVolume("stale", 64);
    await run("mkswap", [created.path]);
    expect(await run("blkid", ["-p", "-o", "value", "-s", "TYPE", created.path])).toBe("swap\n");
    const target = newTarget();
    await publish("stale", target, mountCapability("ext4"));
    // Only ext4's own signatures are left: no swap signature beside them.
    const signatures = await run("wipefs", ["--noheadings", "--output", "TYPE", created.path]);
    expect(new Set(signatures.trim().split("\n"))).toEqual(new Set(["ext4"]));
    await unpublish("stale", target);
    await lv.removeLV({ name: "stale" });
  });

  it("refuses to format over another filesystem, naming both", async () => {
    const created = await createVolume("other-fs", 16);
    await run("mkfs.ext4", ["-q", created.path]);
    const failure = await codeOf(publish("other-fs", newTarget(), mountCapability("xfs")));
    expect(failure.code).toBe(Code.FailedPrecondition);
    expect(failure.message).toContain("already holds a ext4 filesystem, but xfs was asked for");
    expect(await run("blkid", ["-p", "-o", "value", "-s", "TYPE", created.path])).toBe("ext4\n");
    await lv.removeLV({ name: "other-fs" });
  });

  it("unpublishes a target that is already gone, and answers NotFound for stats of a path that does not exist", async () => {
    await unpublish("never-published", join(dir, "pods", "gone", "mount"));
    expect((await codeOf(stats("fs-ext4", join(dir, "pods", "gone", "mount")))).code).toBe(Code.NotFound);
    expect((await codeOf(publish("no-such-lv", newTarget(), mountCapability("ext4")))).code).toBe(Code.NotFound);
  });

  it("leaves no mount of a test behind", async () => {
    expect((await readMountTable()).filter((mount) => mount.mountPoint.startsWith(dir))).toEqual([]);
  });
});
