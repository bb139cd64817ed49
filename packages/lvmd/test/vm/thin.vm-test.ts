import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createLvm } from "@topolvm/lvm-exec";
import { lvmd } from "@topolvm/proto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../../../../tools/lvm-sandbox/index.js";
import { readStart, writePattern } from "../../../../tools/vm/block-device.js";
import { unixSocketTransport } from "../../src/health-client.js";
import { lvmdStartHookTimeoutMs, startLvmd, type LvmdProcess } from "../lvmd-process.js";

// Runs inside the tools/vm VM (started by thin.test.ts), where device-mapper exists: the real lvmd process serves a
// thin class and a thick class on one activated volume group; thin volumes and snapshots really allocate.
const MiB = 2 ** 20;
const poolBytes = 256 * MiB;

async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("the call succeeded");
}

describe("lvmd on a kernel with device-mapper", () => {
  let sandbox: Sandbox | undefined;
  let daemon: LvmdProcess | undefined;
  let lv: Client<typeof lvmd.LVService>;
  let vg: Client<typeof lvmd.VGService>;

  beforeAll(async () => {
    expect(process.env.TOPOLVM_IN_VM).toBe("1");
    sandbox = await createSandbox({ activation: true, volumeGroups: [{ name: "vmvg", sizes: ["1G"] }] });
    await createLvm({ env: sandbox.env }).createThinPool({ vgName: "vmvg", name: "pool0", sizeBytes: poolBytes });
    const dir = mkdtempSync(join(tmpdir(), "lvmd-vm-"));
    const socketPath = join(dir, "lvmd.sock");
    const configPath = join(dir, "lvmd.yaml");
    writeFileSync(
      configPath,
      `socket-name: ${socketPath}
lvm-command-prefix: [lvm]
device-classes:
  - { name: thick, volume-group: vmvg, spare-gb: 0 }
  - { name: thin, volume-group: vmvg, default: true, spare-gb: 0, type: thin, thin-pool: { name: pool0, overprovision-ratio: 10 } }
`,
    );
    daemon = await startLvmd(["--config", configPath], sandbox.env, socketPath);
    const transport = unixSocketTransport(socketPath);
    lv = createClient(lvmd.LVService, transport);
    vg = createClient(lvmd.VGService, transport);
  }, lvmdStartHookTimeoutMs);

  // After a failed start, only what was made is undone, so the start's own error (with lvmd's output) is the report.
  afterAll(async () => {
    await daemon?.stop();
    await sandbox?.destroy();
  });

  it("reports the pool's overprovisioned free space and creates active thin volumes in it", async () => {
    expect((await vg.getFreeBytes({})).freeBytes).toBe(BigInt(10 * poolBytes));
    const created = await lv.createLV({ name: "t1", sizeBytes: BigInt(512 * MiB) });
    expect(created.volume?.path).toBe("/dev/vmvg/t1");
    expect((await vg.getFreeBytes({ deviceClass: "thin" })).freeBytes).toBe(BigInt(10 * poolBytes - 512 * MiB));
    const listed = (await vg.getLVList({ deviceClass: "thin" })).volumes;
    expect(listed.map((v) => [v.name, v.attr[0], v.attr[4], v.devMajor > 0])).toEqual([["t1", "V", "a", true]]);
    // The answer is LVM's own report of the active LV, device numbers and attributes included, as upstream's is.
    expect(created.volume).toMatchObject({ attr: listed[0]?.attr, devMajor: listed[0]?.devMajor, devMinor: listed[0]?.devMinor });
    expect((await vg.getLVList({ deviceClass: "thick" })).volumes).toEqual([]);
    expect(await codeOf(lv.createLV({ name: "t2", sizeBytes: BigInt(10 * poolBytes) }))).toBe(Code.ResourceExhausted);
  });

  it("makes writable and read-only snapshots that hold the source's data", async () => {
    await writePattern("/dev/vmvg/t1", MiB, 0x5a);
    const rw = await lv.createLVSnapshot({ name: "snap-rw", sourceVolume: "t1", accessType: "rw" });
    expect(rw.snapshot?.sizeBytes).toBe(BigInt(512 * MiB));
    expect((await readStart("/dev/vmvg/snap-rw", MiB)).equals(Buffer.alloc(MiB, 0x5a))).toBe(true);
    const ro = await lv.createLVSnapshot({ name: "snap-ro", sourceVolume: "t1", accessType: "ro", sizeBytes: BigInt(600 * MiB) });
    expect(ro.snapshot?.sizeBytes).toBe(BigInt(600 * MiB));
    expect(ro.snapshot?.attr[1]).toBe("r");
    expect((await readStart("/dev/vmvg/snap-ro", MiB)).equals(Buffer.alloc(MiB, 0x5a))).toBe(true);
    expect(await codeOf(lv.createLVSnapshot({ name: "snap-small", sourceVolume: "t1", accessType: "rw", sizeBytes: BigInt(MiB) }))).toBe(Code.OutOfRange);
    expect(await codeOf(lv.createLVSnapshot({ name: "snap-thick", sourceVolume: "t1", deviceClass: "thick", accessType: "rw" }))).toBe(Code.Unimplemented);
  });

  it("streams the thin pool's usage on Watch", async () => {
    const controller = new AbortController();
    const stream = vg.watch({}, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = (await stream.next()).value as lvmd.WatchResponse;
    const thin = first.items.find((item) => item.deviceClass === "thin");
    expect(thin?.thinPool?.sizeBytes).toBe(BigInt(poolBytes));
    expect(thin?.thinPool?.dataPercent).toBeGreaterThan(0);
    expect(thin?.thinPool?.overprovisionBytes).toBe(BigInt(10 * poolBytes - (512 + 512 + 600) * MiB));
    expect(first.freeBytes).toBe(thin?.thinPool?.overprovisionBytes);
    controller.abort();
  });

  it("grows and removes thin volumes, and serves a thick class on the same volume group", async () => {
    expect((await lv.resizeLV({ name: "t1", sizeBytes: BigInt(520 * MiB) })).sizeBytes).toBe(BigInt(520 * MiB));
    const thick = await lv.createLV({ name: "k1", deviceClass: "thick", sizeBytes: BigInt(16 * MiB) });
    expect(thick.volume?.path).toBe("/dev/vmvg/k1");
    const thickListed = (await vg.getLVList({ deviceClass: "thick" })).volumes;
    expect(thickListed.map((v) => [v.name, v.attr[4], v.devMajor > 0])).toEqual([["k1", "a", true]]);
    expect(thick.volume).toMatchObject({ attr: thickListed[0]?.attr, devMajor: thickListed[0]?.devMajor, devMinor: thickListed[0]?.devMinor });
    for (const name of ["snap-rw", "snap-ro", "t1"]) await lv.removeLV({ name });
    await lv.removeLV({ name: "k1", deviceClass: "thick" });
    expect((await vg.getLVList({ deviceClass: "thin" })).volumes).toEqual([]);
    expect((await vg.getFreeBytes({})).freeBytes).toBe(BigInt(10 * poolBytes));
  });
});
