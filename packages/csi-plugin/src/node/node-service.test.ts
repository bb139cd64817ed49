import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { csi, lvmd } from "@topolvm/proto";
import { topologyKey } from "@topolvm/proto/names";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { DeviceNodes } from "./device-node.js";
import { CommandError, FilesystemMismatchError, type Mounter } from "./mounter.js";
import type { MountEntry } from "./mount-table.js";
import { createNodeService } from "./node-service.js";
import type { NodeVolume, VolumeLookup } from "./volume-lookup.js";

const logger = pino({ level: "silent" });
const Mode = csi.VolumeCapability_AccessMode_Mode;
const root = mkdtempSync(join(tmpdir(), "node-service-"));
let targets = 0;
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A fresh target path whose parent exists, as kubelet gives it. */
function newTarget(): string {
  targets += 1;
  const parent = join(root, `pod-${targets}`);
  mkdirSync(parent);
  return join(parent, "mount");
}

const lvOf = (name: string, minor: number, attr = "-wi-a-----"): NodeVolume => ({
  deviceClass: "ssd",
  lv: create(lvmd.LogicalVolumeSchema, { name, devMajor: 253, devMinor: minor, attr, sizeBytes: 1n << 30n }),
});

/**
 * A node in memory: LVs that lvmd lists, a mount table that the fake mounter edits as mount(8) would, device nodes
 * under /fake/dev. `calls` records what the service asked for.
 */
function fakeNode(options: { filesystem?: "none" | "same" | { other: string }; hang?: keyof Mounter; fail?: keyof Mounter; formatMs?: number } = {}) {
  const volumes = new Map<string, NodeVolume>([
    ["v1", lvOf("v1", 1)],
    ["v2", lvOf("v2", 2)],
    ["inactive", lvOf("inactive", 3, "-wi-------")],
  ]);
  const table: MountEntry[] = [];
  const calls: string[] = [];
  const minorOf = (device: string): number => volumes.get(device.replace("/fake/dev/", ""))?.lv.devMinor ?? 99;
  const entry = (device: string, target: string, fsType: string, options: readonly string[]): MountEntry => ({
    mountId: table.length + 100,
    parentId: 1,
    major: fsType === "devtmpfs" ? 0 : 253,
    minor: fsType === "devtmpfs" ? 5 : minorOf(device),
    root: "/",
    mountPoint: target,
    options: options.includes("ro") ? ["ro"] : ["rw"],
    fsType,
    source: fsType === "devtmpfs" ? "udev" : device,
    superOptions: [],
  });
  const step = async (name: keyof Mounter, line: string, signal: AbortSignal): Promise<void> => {
    calls.push(line);
    if (options.hang === name) {
      await new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          reject(new CommandError([name], "aborted", {}));
        });
      });
    }
    if (options.fail === name) {
      throw new CommandError([name, "/fake"], "exit", { exitCode: 1, stderr: `${name} broke` });
    }
  };
  const mounter: Mounter = {
    detectFilesystem: () => Promise.resolve(undefined),
    async ensureFilesystem(device, fs, signal) {
      await step("ensureFilesystem", `ensureFilesystem ${device} ${fs}`, signal);
      if (options.formatMs !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, options.formatMs));
        calls.push(`formatted${signal.aborted ? " (aborted)" : ""}`);
      }
      const found = options.filesystem ?? "none";
      if (typeof found === "object") {
        throw new FilesystemMismatchError(device, found.other, fs);
      }
      return found === "none";
    },
    async mount(device, target, fs, mountOptions, signal) {
      await step("mount", `mount ${device} ${target} ${fs} [${mountOptions.join(",")}]`, signal);
      table.push(entry(device, target, fs, mountOptions));
    },
    async bindMount(device, target, readonly, signal) {
      await step("bindMount", `bindMount ${device} ${target}${readonly ? " ro" : ""}`, signal);
      table.push(entry(device, target, "devtmpfs", readonly ? ["ro"] : []));
    },
    async unmount(target, signal) {
      await step("unmount", `unmount ${target}`, signal);
      table.splice(table.findLastIndex((mount) => mount.mountPoint === target), 1);
    },
    async grow(fs, device, mountPoint, signal) {
      await step("grow", `grow ${fs} ${device} ${mountPoint}`, signal);
    },
    makeDeviceNode: () => Promise.reject(new Error("not used: the device nodes are fake")),
  };
  const deviceNodes: DeviceNodes = {
    pathOf: (volumeId) => `/fake/dev/${volumeId}`,
    ensure(volumeId, device) {
      calls.push(`ensure node ${volumeId} ${device.major}:${device.minor}`);
      return Promise.resolve(`/fake/dev/${volumeId}`);
    },
    remove(volumeId) {
      calls.push(`remove node ${volumeId}`);
      return Promise.resolve();
    },
  };
  const lookup: VolumeLookup = { find: (volumeId) => Promise.resolve(volumes.get(volumeId)) };
  const service = createNodeService({
    nodeName: "node-1",
    volumes: lookup,
    mounter,
    deviceNodes,
    logger,
    mountTable: () => Promise.resolve(table),
    blockDeviceBytes: (device) => Promise.resolve(device.minor === 99 ? undefined : 1n << 30n),
  });
  return { service, calls, table, volumes };
}

const context = (method: keyof typeof csi.Node.method, timeoutMs?: number) =>
  createHandlerContext({
    service: csi.Node,
    method: csi.Node.method[method],
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/csi.v1.Node/${method}`,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });

const mountCapability = (fsType = "", mountFlags: string[] = [], mode = Mode.SINGLE_NODE_WRITER): MessageInitShape<typeof csi.VolumeCapabilitySchema> => ({
  accessType: { case: "mount", value: { fsType, mountFlags } },
  accessMode: { mode },
});
const blockCapability: MessageInitShape<typeof csi.VolumeCapabilitySchema> = { accessType: { case: "block", value: {} }, accessMode: { mode: Mode.SINGLE_NODE_WRITER } };

type Node = ReturnType<typeof fakeNode>;
const publish = async (node: Node, init: MessageInitShape<typeof csi.NodePublishVolumeRequestSchema>, timeoutMs?: number) =>
  node.service.nodePublishVolume(create(csi.NodePublishVolumeRequestSchema, init), context("nodePublishVolume", timeoutMs));
const unpublish = async (node: Node, volumeId: string, targetPath: string) =>
  node.service.nodeUnpublishVolume(create(csi.NodeUnpublishVolumeRequestSchema, { volumeId, targetPath }), context("nodeUnpublishVolume"));
const stats = async (node: Node, volumeId: string, volumePath: string) =>
  node.service.nodeGetVolumeStats(create(csi.NodeGetVolumeStatsRequestSchema, { volumeId, volumePath }), context("nodeGetVolumeStats"));
const expand = async (node: Node, init: MessageInitShape<typeof csi.NodeExpandVolumeRequestSchema>) =>
  node.service.nodeExpandVolume(create(csi.NodeExpandVolumeRequestSchema, init), context("nodeExpandVolume"));

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("NodeGetInfo and NodeGetCapabilities", () => {
  it("names the node and its topology, without a volume limit", async () => {
    const { service } = fakeNode();
    expect(await service.nodeGetInfo(create(csi.NodeGetInfoRequestSchema), context("nodeGetInfo"))).toEqual({
      nodeId: "node-1",
      maxVolumesPerNode: 0n,
      accessibleTopology: { segments: { [topologyKey]: "node-1" } },
    });
  });

  it("advertises stats, expansion and volume conditions, and no staging", async () => {
    const { service } = fakeNode();
    const { capabilities } = await service.nodeGetCapabilities(create(csi.NodeGetCapabilitiesRequestSchema), context("nodeGetCapabilities"));
    const Type = csi.NodeServiceCapability_RPC_Type;
    expect(capabilities?.map((capability) => capability.type?.value?.type)).toEqual([Type.GET_VOLUME_STATS, Type.EXPAND_VOLUME, Type.VOLUME_CONDITION]);
    expect((await failure((async () => service.nodeStageVolume(create(csi.NodeStageVolumeRequestSchema), context("nodeStageVolume")))())).code).toBe(Code.Unimplemented);
  });
});

describe("NodePublishVolume", () => {
  it.each<[string, MessageInitShape<typeof csi.NodePublishVolumeRequestSchema>, RegExp]>([
    ["no volume id", { targetPath: "/t" }, /^\[invalid_argument\] volume_id: required/],
    ["a volume id that is no LV name", { volumeId: "../etc", targetPath: "/t", volumeCapability: mountCapability() }, /volume_id: "\.\.\/etc" is not a TopoLVM volume id/],
    ["no target path (checked before the capability)", { volumeId: "v1" }, /target_path: required/],
    ["a relative target path", { volumeId: "v1", targetPath: "pods/t", volumeCapability: mountCapability() }, /target_path: "pods\/t" is not an absolute path/],
    ["no capability", { volumeId: "v1", targetPath: "/t" }, /volume_capability: required/],
    ["an unsupported filesystem", { volumeId: "v1", targetPath: "/t", volumeCapability: mountCapability("ntfs") }, /volume_capability\.mount\.fs_type: "ntfs" is not supported/],
    ["a multi-node access mode", { volumeId: "v1", targetPath: "/t", volumeCapability: mountCapability("", [], Mode.MULTI_NODE_MULTI_WRITER) }, /volume_capability\.access_mode/],
    ["rw in the flags of a read-only publish", { volumeId: "v1", targetPath: "/t", readonly: true, volumeCapability: mountCapability("", ["rw"]) }, /volume_capability\.mount\.mount_flags\[0\]/],
  ])("rejects %s with InvalidArgument naming the field", async (_name, init, message) => {
    const node = fakeNode();
    const error = await failure(publish(node, init));
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.message).toMatch(message);
    expect(node.calls).toEqual([]);
  });

  it("answers NotFound for a volume lvmd does not list, and FailedPrecondition for an inactive LV", async () => {
    const node = fakeNode();
    const missing = await failure(publish(node, { volumeId: "v9", targetPath: newTarget(), volumeCapability: mountCapability() }));
    expect(missing.code).toBe(Code.NotFound);
    expect(missing.rawMessage).toBe("volume v9: lvmd lists no LV of this name in any device-class of node node-1");
    const inactive = await failure(publish(node, { volumeId: "inactive", targetPath: newTarget(), volumeCapability: mountCapability() }));
    expect(inactive.code).toBe(Code.FailedPrecondition);
    expect(inactive.rawMessage).toContain("is inactive");
  });

  it("formats a new volume as ext4 by default, mounts it on a new directory open to every pod user, and repeats as a no-op", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    expect(node.calls).toEqual(["ensure node v1 253:1", "ensureFilesystem /fake/dev/v1 ext4", `mount /fake/dev/v1 ${target} ext4 []`]);
    expect(statSync(target).mode & 0o7777).toBe(0o2777);
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    expect(node.calls).toHaveLength(3);
  });

  it("grows an existing filesystem after mounting it, since the LV may have grown meanwhile", async () => {
    const node = fakeNode({ filesystem: "same" });
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability("btrfs", ["compress=zstd"]) });
    expect(node.calls.slice(2)).toEqual([`mount /fake/dev/v1 ${target} btrfs [compress=zstd]`, `grow btrfs /fake/dev/v1 ${target}`]);
  });

  it("mounts read-only with ro and xfs with nouuid, and neither opens the root nor grows a read-only volume", async () => {
    const node = fakeNode({ filesystem: "same" });
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, readonly: true, volumeCapability: mountCapability("xfs", ["noatime"]) });
    expect(node.calls.slice(2)).toEqual([`mount /fake/dev/v1 ${target} xfs [ro,noatime,nouuid]`]);
    expect(statSync(target).mode & 0o7777).toBe(0o755);
  });

  it("treats an ro mount flag as a read-only publish", async () => {
    const node = fakeNode({ filesystem: "same" });
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability("ext4", ["ro"]) });
    expect(node.calls.slice(2)).toEqual([`mount /fake/dev/v1 ${target} ext4 [ro]`]);
    await publish(node, { volumeId: "v1", targetPath: target, readonly: true, volumeCapability: mountCapability("ext4") });
    expect(node.calls).toHaveLength(3);
  });

  it("refuses a device that holds another filesystem with FailedPrecondition naming both", async () => {
    const node = fakeNode({ filesystem: { other: "xfs" } });
    const error = await failure(publish(node, { volumeId: "v1", targetPath: newTarget(), volumeCapability: mountCapability("ext4") }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("/fake/dev/v1 already holds a xfs filesystem, but ext4 was asked for");
    expect(node.calls.some((call) => call.startsWith("mount"))).toBe(false);
  });

  it("answers AlreadyExists when the target holds the volume read-only, another filesystem type or another volume", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability("ext4") });
    for (const init of [
      { volumeId: "v1", targetPath: target, readonly: true, volumeCapability: mountCapability("ext4") },
      { volumeId: "v1", targetPath: target, volumeCapability: mountCapability("xfs") },
      { volumeId: "v2", targetPath: target, volumeCapability: mountCapability("ext4") },
      { volumeId: "v1", targetPath: target, volumeCapability: blockCapability },
    ]) {
      const error = await failure(publish(node, init));
      expect(error.code).toBe(Code.AlreadyExists);
      expect(error.rawMessage).toContain(`target_path ${target}: /fake/dev/v1 (ext4, read-write, device 253:1) is mounted there already`);
    }
  });

  it("bind-mounts a block volume on a file it creates, and refuses a directory there", async () => {
    const node = fakeNode();
    const target = join(newTarget(), "dev");
    await publish(node, { volumeId: "v1", targetPath: target, readonly: true, volumeCapability: blockCapability });
    expect(statSync(target).isFile()).toBe(true);
    expect(node.calls).toEqual(["ensure node v1 253:1", `bindMount /fake/dev/v1 ${target} ro`]);
    const directory = newTarget();
    mkdirSync(directory);
    const error = await failure(publish(node, { volumeId: "v2", targetPath: directory, volumeCapability: blockCapability }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("is not a regular file");
  });

  it("passes a command's failure on as Internal with its stderr", async () => {
    const node = fakeNode({ fail: "mount" });
    const error = await failure(publish(node, { volumeId: "v1", targetPath: newTarget(), volumeCapability: mountCapability() }));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toMatch(/^publishing volume v1 at .*: mount \/fake exited with status 1: mount broke$/);
  });

  it("stops at the caller's deadline, killing the running command, and frees the volume for the retry", async () => {
    const node = fakeNode({ hang: "mount" });
    const target = newTarget();
    const started = Date.now();
    const error = await failure(publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() }, 500));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(error.rawMessage).toContain("the call ended (DeadlineExceeded)");
    const retry = await failure(publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() }, 500));
    expect(retry.code).toBe(Code.DeadlineExceeded);
    expect(node.calls.filter((call) => call.startsWith("mount"))).toHaveLength(2);
  });

  it("answers at the deadline but lets mkfs finish, holding the volume, so the retry mounts what it made", async () => {
    const node = fakeNode({ formatMs: 2000 });
    const target = newTarget();
    const started = Date.now();
    const error = await failure(publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() }, 300));
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(1500);
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() }, 8000);
    expect(node.calls.filter((call) => !call.startsWith("ensure node"))).toEqual([
      "ensureFilesystem /fake/dev/v1 ext4",
      "formatted",
      "ensureFilesystem /fake/dev/v1 ext4",
      "formatted",
      `mount /fake/dev/v1 ${target} ext4 []`,
    ]);
  });

  it("runs one call per volume at a time: a second call waits and leaves at its own deadline", async () => {
    const node = fakeNode({ hang: "mount" });
    const first = failure(publish(node, { volumeId: "v1", targetPath: newTarget(), volumeCapability: mountCapability() }, 2000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await failure(publish(node, { volumeId: "v1", targetPath: newTarget(), volumeCapability: mountCapability() }, 200));
    expect(second.code).toBe(Code.DeadlineExceeded);
    expect((await first).code).toBe(Code.DeadlineExceeded);
    // The second call never got past the lock: only the first mounted.
    expect(node.calls.filter((call) => call.startsWith("mount"))).toHaveLength(1);
  });
});

describe("NodeUnpublishVolume", () => {
  it("validates the volume id and the target path", async () => {
    const node = fakeNode();
    expect((await failure(unpublish(node, "", "/t"))).rawMessage).toMatch(/^volume_id: required/);
    expect((await failure(unpublish(node, "v1", ""))).rawMessage).toMatch(/^target_path: required/);
  });

  it("unmounts the target, removes the directory and the unused device node", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    await unpublish(node, "v1", target);
    expect(node.calls.slice(3)).toEqual([`unmount ${target}`, "remove node v1"]);
    expect(existsSync(target)).toBe(false);
    expect(node.table).toEqual([]);
  });

  it("removes the file of a block target and keeps a device node that another mount still uses", async () => {
    const node = fakeNode();
    const block = join(newTarget(), "dev");
    const other = newTarget();
    await publish(node, { volumeId: "v1", targetPath: block, volumeCapability: blockCapability });
    await publish(node, { volumeId: "v1", targetPath: other, volumeCapability: mountCapability() });
    await unpublish(node, "v1", block);
    expect(existsSync(block)).toBe(false);
    expect(node.calls).not.toContain("remove node v1");
  });

  it("succeeds for a target that is already gone", async () => {
    const node = fakeNode();
    await unpublish(node, "v1", join(root, "never-published", "mount"));
    expect(node.calls).toEqual(["remove node v1"]);
  });

  it("takes off every mount stacked on the target", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    node.table.push({ ...node.table[0] } as MountEntry);
    await unpublish(node, "v1", target);
    expect(node.calls.filter((call) => call.startsWith("unmount"))).toHaveLength(2);
  });
});

describe("NodeGetVolumeStats", () => {
  it("answers NotFound for a path that does not exist or is not absolute", async () => {
    const node = fakeNode();
    expect((await failure(stats(node, "v1", join(root, "nothing")))).code).toBe(Code.NotFound);
    expect((await failure(stats(node, "v1", "some/path"))).code).toBe(Code.NotFound);
    expect((await failure(stats(node, "", "/t"))).code).toBe(Code.InvalidArgument);
    expect((await failure(stats(node, "v1", ""))).code).toBe(Code.InvalidArgument);
  });

  it("reports bytes and inodes of a mounted filesystem, and a healthy condition", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    const response = await stats(node, "v1", target);
    const Unit = csi.VolumeUsage_Unit;
    const [bytes, inodes] = response.usage ?? [];
    expect(bytes?.unit).toBe(Unit.BYTES);
    expect(inodes?.unit).toBe(Unit.INODES);
    expect(Number(bytes?.total)).toBeGreaterThan(0);
    expect(Number(bytes?.used) + Number(bytes?.available)).toBeLessThanOrEqual(Number(bytes?.total));
    expect(response.volumeCondition).toEqual({ abnormal: false, message: "volume is healthy and operating normally" });
  });

  it("reports abnormal conditions: the LV gone, the mount gone, or another device mounted there", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability() });
    node.volumes.delete("v1");
    const gone = await stats(node, "v1", target);
    expect(gone.volumeCondition).toEqual({ abnormal: true, message: "LV v1 is gone: lvmd lists it in none of its device-classes" });
    expect(gone.usage).toHaveLength(2);
    expect((await stats(node, "v2", target)).volumeCondition?.message).toContain("not LV v2 (device 253:2)");
    node.table.splice(0);
    expect((await stats(node, "v2", target)).volumeCondition).toEqual({ abnormal: true, message: `nothing is mounted at ${target}: the mount of volume v2 is gone` });
  });

  it("calls a block target whose bind mount is gone abnormal", async () => {
    const node = fakeNode();
    const file = join(newTarget(), "dev");
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, "");
    expect((await stats(node, "v1", file)).volumeCondition).toEqual({ abnormal: true, message: `${file} is neither a mounted directory nor a block device: the bind mount of volume v1 is gone` });
  });
});

describe("NodeExpandVolume", () => {
  it("answers NotFound for an unknown volume or path, InvalidArgument for missing fields", async () => {
    const node = fakeNode();
    expect((await failure(expand(node, { volumeId: "v9", volumePath: "some/path" }))).code).toBe(Code.NotFound);
    expect((await failure(expand(node, { volumeId: "v9", volumePath: root }))).code).toBe(Code.NotFound);
    expect((await failure(expand(node, { volumeId: "v1", volumePath: join(root, "nothing") }))).code).toBe(Code.NotFound);
    expect((await failure(expand(node, { volumePath: root }))).code).toBe(Code.InvalidArgument);
    expect((await failure(expand(node, { volumeId: "v1" }))).code).toBe(Code.InvalidArgument);
  });

  it("grows the mounted filesystem online through the volume's device node and answers the LV's size", async () => {
    const node = fakeNode();
    const target = newTarget();
    await publish(node, { volumeId: "v1", targetPath: target, volumeCapability: mountCapability("xfs") });
    expect(await expand(node, { volumeId: "v1", volumePath: target, capacityRange: { requiredBytes: 1n << 30n } })).toEqual({ capacityBytes: 1n << 30n });
    expect(node.calls.slice(-2)).toEqual(["ensure node v1 253:1", `grow xfs /fake/dev/v1 ${target}`]);
  });

  it("does nothing for a block volume, and refuses a path where the volume is not mounted", async () => {
    const node = fakeNode();
    expect(await expand(node, { volumeId: "v1", volumePath: root, volumeCapability: blockCapability })).toEqual({ capacityBytes: 1n << 30n });
    const error = await failure(expand(node, { volumeId: "v1", volumePath: root }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toContain("the filesystem of volume v1 is not mounted there");
    expect(node.calls.filter((call) => call.startsWith("grow"))).toEqual([]);
  });
});
