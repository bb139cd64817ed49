import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLvm, execFileExecutor, isLvmError, maxTagCount, maxTagLength, type Executor, type Lvm } from "../src/index.js";
import { createSandbox, sandboxUnavailableReason, type Sandbox } from "../../../tools/lvm-sandbox/index.js";
import { rejection } from "./support.js";

// Real lvm2 on an LVM sandbox (loop devices, private lvm.conf, activation off: metadata operations only).
const execFileAsync = promisify(execFile);
const unavailable = sandboxUnavailableReason();
const MiB = 2 ** 20;
const extent = 4 * MiB;

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("lvm-exec on real lvm2", () => {
  let sandbox: Sandbox;
  let lvm: Lvm;
  const commands: (readonly string[])[] = [];

  // Raw lvm, to check what the library did from outside it.
  async function rawLvm(args: string[]): Promise<string> {
    return (await execFileAsync("lvm", args, { env: sandbox.env })).stdout.trim();
  }

  beforeAll(async () => {
    sandbox = await createSandbox({
      volumeGroups: [
        { name: "vg1", sizes: ["64M", "64M"] },
        { name: "busy", sizes: ["64M"] },
        { name: "small", sizes: ["16M"] },
      ],
    });
    const recordingExecutor: Executor = (argv, options) => {
      commands.push(argv);
      return execFileExecutor(argv, options);
    };
    lvm = createLvm({ env: sandbox.env, executor: recordingExecutor });
  });

  afterAll(async () => {
    await sandbox.destroy();
  });

  it("lists and gets the sandbox's volume groups", async () => {
    const vgs = await lvm.listVolumeGroups();
    expect(vgs.map((vg) => [vg.name, vg.pvCount, vg.lvCount])).toEqual([
      ["busy", 1, 0],
      ["small", 1, 0],
      ["vg1", 2, 0],
    ]);
    const vg1 = await lvm.getVolumeGroup("vg1");
    expect(vg1.extentSizeBytes).toBe(extent);
    expect(vg1.freeBytes).toBe(vg1.sizeBytes);
    expect(vg1.sizeBytes % extent).toBe(0);
  });

  it("creates, tags, extends, lists and removes a logical volume", async () => {
    const created = await lvm.createLogicalVolume({ vgName: "vg1", name: "data", sizeBytes: 5_000_000, tags: ["topolvm/x=1"] });
    expect(created).toMatchObject({ name: "data", vgName: "vg1", path: "/dev/vg1/data", sizeBytes: 2 * extent, tags: ["topolvm/x=1"], active: false });
    expect(created.attr).toHaveLength(10);
    expect(await rawLvm(["lvs", "--noheadings", "-o", "lv_uuid", "vg1/data"])).toBe(created.uuid);

    await lvm.addTags({ vgName: "vg1", name: "data", tags: ["b", "a"] });
    await lvm.removeTags({ vgName: "vg1", name: "data", tags: ["topolvm/x=1"] });
    expect((await lvm.getLogicalVolume({ vgName: "vg1", name: "data" })).tags).toEqual(["a", "b"]);

    const extended = await lvm.extendLogicalVolume({ vgName: "vg1", name: "data", sizeBytes: 3 * extent + 1 });
    expect(extended.sizeBytes).toBe(4 * extent);
    expect(extended.uuid).toBe(created.uuid);
    const unchanged = await lvm.extendLogicalVolume({ vgName: "vg1", name: "data", sizeBytes: extent });
    expect(unchanged.sizeBytes).toBe(4 * extent);

    expect((await lvm.listLogicalVolumes("vg1")).map((lv) => lv.name)).toEqual(["data"]);
    expect((await lvm.listLogicalVolumes()).map((lv) => `${lv.vgName}/${lv.name}`)).toEqual(["vg1/data"]);
    expect((await lvm.getVolumeGroup("vg1")).lvCount).toBe(1);

    await lvm.removeLogicalVolume({ vgName: "vg1", name: "data" });
    expect(await lvm.listLogicalVolumes("vg1")).toEqual([]);
  });

  it("creates and extends without reading back when asked, and makes an LV read-only", async () => {
    await expect(lvm.createLogicalVolume({ vgName: "vg1", name: "quiet", sizeBytes: extent }, { readBack: false })).resolves.toBeUndefined();
    await expect(lvm.extendLogicalVolume({ vgName: "vg1", name: "quiet", sizeBytes: 2 * extent }, { readBack: false })).resolves.toBeUndefined();
    await lvm.setReadOnly({ vgName: "vg1", name: "quiet" });
    const lv = await lvm.getLogicalVolume({ vgName: "vg1", name: "quiet" });
    expect([lv.sizeBytes, lv.attr[1]]).toEqual([2 * extent, "r"]);
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "quiet" });
  });

  it("creates an LV with the most tags allowed, and refuses one more before running lvcreate", async () => {
    const tags = Array.from({ length: maxTagCount }, (_, i) => `${"t".repeat(maxTagLength - 4)}${String(i).padStart(4, "0")}`);
    const created = await lvm.createLogicalVolume({ vgName: "small", name: "tagged-max", sizeBytes: extent, tags });
    expect([...created.tags].sort()).toEqual(tags);
    const before = commands.length;
    const error = await rejection(lvm.createLogicalVolume({ vgName: "small", name: "tagged-over", sizeBytes: extent, tags: [...tags, "one-more"] }));
    expect(error.code).toBe("InvalidArgument");
    expect(error.message).toContain(`at most ${maxTagCount} tags, got ${maxTagCount + 1}`);
    expect(commands.length).toBe(before);
    await lvm.removeLogicalVolume({ vgName: "small", name: "tagged-max" });
  });

  it("stripes an LV over the two physical volumes of a VG", async () => {
    const lv = await lvm.createLogicalVolume({ vgName: "vg1", name: "striped", sizeBytes: 3 * extent, stripes: 2, stripeSizeBytes: 64 * 1024 });
    // Two stripes allocate whole extents on each PV, so three extents round up to four.
    expect(lv.sizeBytes).toBe(4 * extent);
    expect(await rawLvm(["lvs", "--noheadings", "-o", "stripes,stripe_size", "--units", "b", "--nosuffix", "vg1/striped"])).toMatch(/^2\s+65536$/);
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "striped" });
  });

  it("passes extra arguments to lvcreate", async () => {
    const lv = await lvm.createLogicalVolume({ vgName: "vg1", name: "extra", sizeBytes: extent, extraArgs: ["-an", "-Zn", "--type", "linear", "--setautoactivation", "n"] });
    expect(lv.sizeBytes).toBe(extent);
    expect(await rawLvm(["lvs", "--noheadings", "-o", "autoactivation", "vg1/extra"])).toBe("");
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "extra" });
  });

  it("reads every VG with its LVs in one fullreport command", async () => {
    await lvm.createLogicalVolume({ vgName: "small", name: "one", sizeBytes: extent });
    const before = commands.length;
    const report = await lvm.fullReport(["small", "vg1"]);
    expect(commands.length - before).toBe(1);
    expect(report.map((r) => [r.volumeGroup.name, r.logicalVolumes.map((lv) => lv.name)])).toEqual([
      ["small", ["one"]],
      ["vg1", []],
    ]);
    expect(report[0]?.volumeGroup).toEqual(await lvm.getVolumeGroup("small"));
    expect((await lvm.fullReport()).map((r) => r.volumeGroup.name)).toEqual(["busy", "small", "vg1"]);
    await lvm.removeLogicalVolume({ vgName: "small", name: "one" });
  });

  it("rejects a duplicate name with AlreadyExists", async () => {
    await lvm.createLogicalVolume({ vgName: "vg1", name: "dup", sizeBytes: extent });
    const error = await rejection(lvm.createLogicalVolume({ vgName: "vg1", name: "dup", sizeBytes: 2 * extent }));
    expect(error).toMatchObject({ code: "AlreadyExists", exitCode: 5 });
    expect(error.stderr).toContain('Logical Volume "dup" already exists in volume group "vg1"');
    expect((await lvm.getLogicalVolume({ vgName: "vg1", name: "dup" })).sizeBytes).toBe(extent);
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "dup" });
  });

  it("rejects a request beyond the free space with InsufficientSpace", async () => {
    const free = (await lvm.getVolumeGroup("small")).freeBytes;
    expect((await rejection(lvm.createLogicalVolume({ vgName: "small", name: "big", sizeBytes: free + 1 }))).code).toBe("InsufficientSpace");
    expect((await rejection(lvm.createLogicalVolume({ vgName: "vg1", name: "wide", sizeBytes: 128 * MiB, stripes: 2 }))).code).toBe("InsufficientSpace");
    await lvm.createLogicalVolume({ vgName: "small", name: "fits", sizeBytes: free });
    expect((await rejection(lvm.extendLogicalVolume({ vgName: "small", name: "fits", sizeBytes: free + extent }))).code).toBe("InsufficientSpace");
    await lvm.removeLogicalVolume({ vgName: "small", name: "fits" });
    expect(await lvm.listLogicalVolumes("small")).toEqual([]);
  });

  it("rejects missing volume groups and logical volumes with NotFound", async () => {
    const missing: (() => Promise<unknown>)[] = [
      () => lvm.getVolumeGroup("nosuchvg"),
      () => lvm.listLogicalVolumes("nosuchvg"),
      () => lvm.fullReport(["vg1", "nosuchvg"]),
      () => lvm.createLogicalVolume({ vgName: "nosuchvg", name: "x", sizeBytes: extent }),
      () => lvm.createLogicalVolume({ vgName: "vg1", name: "x", sizeBytes: extent, thinPool: "nosuchpool" }),
      () => lvm.getLogicalVolume({ vgName: "vg1", name: "nosuchlv" }),
      () => lvm.extendLogicalVolume({ vgName: "vg1", name: "nosuchlv", sizeBytes: extent }),
      () => lvm.removeLogicalVolume({ vgName: "vg1", name: "nosuchlv" }),
      () => lvm.removeLogicalVolume({ vgName: "nosuchvg", name: "x" }),
      () => lvm.addTags({ vgName: "vg1", name: "nosuchlv", tags: ["t"] }),
      () => lvm.createSnapshot({ vgName: "vg1", sourceName: "nosuchlv", name: "snap" }),
    ];
    for (const call of missing) {
      expect((await rejection(call())).code).toBe("NotFound");
    }
  });

  it("refuses a hostile name without spawning any process", async () => {
    const before = commands.length;
    const marker = "/tmp/pwned";
    const error = await rejection(lvm.createLogicalVolume({ vgName: "vg1", name: `x; touch ${marker}`, sizeBytes: extent }));
    expect(error.code).toBe("InvalidArgument");
    expect(error.argv).toEqual([]);
    expect((await rejection(lvm.createLogicalVolume({ vgName: "vg1", name: "ok", sizeBytes: extent, extraArgs: ["vg1; touch /tmp/pwned"] }))).code).toBe("InvalidArgument");
    expect(commands.length).toBe(before);
    expect(existsSync(marker)).toBe(false);
  });

  it("runs 20 concurrent creates in one VG that each succeed or fail cleanly, leaving no partial LV", async () => {
    const vg = await lvm.getVolumeGroup("busy");
    const fits = vg.freeBytes / extent;
    expect(fits).toBeLessThan(20);
    const names = Array.from({ length: 20 }, (_, i) => `c${i}`);
    const results = await Promise.allSettled(names.map((name) => lvm.createLogicalVolume({ vgName: "busy", name, sizeBytes: extent, tags: [name] })));

    const created = names.filter((_, i) => results[i]?.status === "fulfilled");
    for (const result of results) {
      if (result.status === "rejected") expect(isLvmError(result.reason, "InsufficientSpace")).toBe(true);
      else expect(result.value).toMatchObject({ sizeBytes: extent, tags: [result.value.name] });
    }
    expect(created).toHaveLength(fits);
    const listed = await lvm.listLogicalVolumes("busy");
    expect(listed.map((lv) => lv.name).sort()).toEqual([...created].sort());
    expect(listed.every((lv) => lv.sizeBytes === extent && lv.tags.length === 1)).toBe(true);
    expect(await lvm.getVolumeGroup("busy")).toMatchObject({ freeBytes: 0, lvCount: fits });

    await Promise.all(created.map((name) => lvm.removeLogicalVolume({ vgName: "busy", name })));
    expect((await lvm.getVolumeGroup("busy")).freeBytes).toBe(vg.freeBytes);
  });
});
