import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { lvmd } from "@topolvm/proto";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, until } from "../../../tools/eventually.js";
import { createSandbox, sandboxUnavailableReason, type Sandbox } from "../../../tools/lvm-sandbox/index.js";
import { unixSocketTransport } from "../src/health-client.js";
import { grpcCode, plainGrpcClient, type PlainGrpcClient } from "./grpc-js-client.js";
import { lvmdBin, lvmdStartHookTimeoutMs, startLvmd, type LvmdProcess } from "./lvmd-process.js";

// The real lvmd process on an LVM sandbox (loop devices, private lvm.conf, activation off), spoken to by a Connect
// client and by a plain grpc-js client.
const execFileAsync = promisify(execFile);
const unavailable = sandboxUnavailableReason();
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const extentBytes = 4 * MiB;

async function connectCode(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("the call succeeded");
}

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("lvmd on real lvm2", () => {
  let sandbox: Sandbox;
  let dir: string;
  let configPath: string;
  let socketPath: string;
  let daemon: LvmdProcess;
  let lv: Client<typeof lvmd.LVService>;
  let vg: Client<typeof lvmd.VGService>;
  let plainLv: PlainGrpcClient;
  let plainVg: PlainGrpcClient;

  async function rawLvm(args: string[]): Promise<string> {
    return (await execFileAsync("lvm", args, { env: sandbox.env })).stdout.trim();
  }

  async function vgFreeBytes(name: string): Promise<number> {
    return Number(await rawLvm(["vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_free", name]));
  }

  async function lvNames(vgName: string): Promise<string[]> {
    const out = await rawLvm(["lvs", "--noheadings", "-o", "lv_name", vgName]);
    return out === "" ? [] : out.split("\n").map((line) => line.trim()).sort();
  }

  function connectClients(): void {
    const transport = unixSocketTransport(socketPath);
    lv = createClient(lvmd.LVService, transport);
    vg = createClient(lvmd.VGService, transport);
    plainLv = plainGrpcClient(lvmd.LVService, socketPath);
    plainVg = plainGrpcClient(lvmd.VGService, socketPath);
  }

  function closeClients(): void {
    plainLv.close();
    plainVg.close();
  }

  beforeAll(async () => {
    sandbox = await createSandbox({
      volumeGroups: [
        { name: "fast", sizes: ["2G"] },
        { name: "slow", sizes: ["64M"] },
        { name: "hang", sizes: ["64M"] },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), "lvmd-it-"));
    configPath = join(dir, "lvmd.yaml");
    socketPath = join(dir, "run", "lvmd.sock");
    writeFileSync(
      configPath,
      `socket-name: ${socketPath}
lvm-command-prefix: [lvm]
device-classes:
  - name: ssd
    volume-group: fast
    default: true
    spare-gb: 1
  - name: hdd
    volume-group: slow
    spare-gb: 0
`,
    );
    daemon = await startLvmd(["--config", configPath], sandbox.env, socketPath);
    connectClients();
  }, lvmdStartHookTimeoutMs);

  afterAll(async () => {
    closeClients();
    await daemon.stop("SIGKILL");
    await sandbox.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates its socket with mode 0600 and answers lvmd health", async () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    const { stdout } = await execFileAsync(process.execPath, [lvmdBin, "health", "--config", configPath]);
    expect(stdout).toBe("SERVING\n");
  });

  it("reports free bytes minus the spare of each class", async () => {
    const fast = await vgFreeBytes("fast");
    const slow = await vgFreeBytes("slow");
    expect((await vg.getFreeBytes({ deviceClass: "" })).freeBytes).toBe(BigInt(fast - GiB));
    expect((await vg.getFreeBytes({ deviceClass: "ssd" })).freeBytes).toBe(BigInt(fast - GiB));
    expect((await vg.getFreeBytes({ deviceClass: "hdd" })).freeBytes).toBe(BigInt(slow));
    const plain = (await plainVg.unary("getFreeBytes", create(lvmd.GetFreeBytesRequestSchema, { deviceClass: "hdd" }))) as lvmd.GetFreeBytesResponse;
    expect(plain.freeBytes).toBe(BigInt(slow));
  });

  it("creates, lists, resizes and removes an LV, as LVM confirms", async () => {
    const created = await lv.createLV({ name: "vol1", deviceClass: "ssd", sizeBytes: BigInt(10 * MiB + 4096), tags: ["owner=test"] });
    expect(created.volume).toMatchObject({ name: "vol1", sizeBytes: BigInt(12 * MiB), path: "/dev/fast/vol1", tags: ["owner=test"] });
    expect(await lvNames("fast")).toEqual(["vol1"]);

    const listed = (await plainVg.unary("getLVList", create(lvmd.GetLVListRequestSchema, { deviceClass: "ssd" }))) as lvmd.GetLVListResponse;
    expect(listed.volumes.map((v) => [v.name, v.sizeBytes, v.path, v.tags, v.attr.length])).toEqual([["vol1", BigInt(12 * MiB), "/dev/fast/vol1", ["owner=test"], 10]]);
    expect((await vg.getLVList({ deviceClass: "hdd" })).volumes).toEqual([]);

    const resized = await lv.resizeLV({ name: "vol1", deviceClass: "ssd", sizeBytes: BigInt(20 * MiB) });
    expect(resized.sizeBytes).toBe(BigInt(20 * MiB));
    expect(await rawLvm(["lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "lv_size", "fast/vol1"])).toBe(String(20 * MiB));
    expect((await lv.resizeLV({ name: "vol1", deviceClass: "ssd", sizeBytes: BigInt(8 * MiB) })).sizeBytes).toBe(BigInt(20 * MiB));
    expect((await lv.resizeLV({ name: "vol1", deviceClass: "ssd", sizeBytes: BigInt(20 * MiB) })).sizeBytes).toBe(BigInt(20 * MiB));

    await plainLv.unary("removeLV", create(lvmd.RemoveLVRequestSchema, { name: "vol1", deviceClass: "ssd" }));
    expect(await lvNames("fast")).toEqual([]);
    expect((await vg.getLVList({ deviceClass: "ssd" })).volumes).toEqual([]);
  });

  it("is idempotent by name: same size returns the LV, another size is AlreadyExists, removing twice succeeds", async () => {
    const first = await lv.createLV({ name: "again", deviceClass: "hdd", sizeBytes: BigInt(8 * MiB) });
    const second = await lv.createLV({ name: "again", deviceClass: "hdd", sizeBytes: BigInt(8 * MiB) });
    expect(second.volume?.sizeBytes).toBe(first.volume?.sizeBytes);
    expect(await lvNames("slow")).toEqual(["again"]);
    expect(await connectCode(lv.createLV({ name: "again", deviceClass: "hdd", sizeBytes: BigInt(16 * MiB) }))).toBe(Code.AlreadyExists);
    await lv.removeLV({ name: "again", deviceClass: "hdd" });
    await lv.removeLV({ name: "again", deviceClass: "hdd" });
    expect(await lvNames("slow")).toEqual([]);
  });

  it("answers for LVs made by hand behind its back at once, without waiting for the periodic re-read", async () => {
    const byHand = (name: string, sizeBytes: number) => rawLvm(["lvcreate", "-an", "-Zn", "-n", name, "-L", `${sizeBytes}b`, "slow"]);

    await byHand("adopted", 8 * MiB);
    const adopted = await lv.createLV({ name: "adopted", deviceClass: "hdd", sizeBytes: BigInt(8 * MiB) });
    expect(adopted.volume).toMatchObject({ name: "adopted", sizeBytes: BigInt(8 * MiB), path: "/dev/slow/adopted" });

    await byHand("other", 8 * MiB);
    expect(await connectCode(lv.createLV({ name: "other", deviceClass: "hdd", sizeBytes: BigInt(16 * MiB) }))).toBe(Code.AlreadyExists);

    await byHand("larger", 16 * MiB);
    expect((await lv.resizeLV({ name: "larger", deviceClass: "hdd", sizeBytes: BigInt(8 * MiB) })).sizeBytes).toBe(BigInt(16 * MiB));

    await byHand("unwanted", 8 * MiB);
    await lv.removeLV({ name: "unwanted", deviceClass: "hdd" });
    expect(await lvNames("slow")).toEqual(["adopted", "larger", "other"]);

    await Promise.all(["adopted", "larger", "other"].map((name) => lv.removeLV({ name, deviceClass: "hdd" })));
    expect(await lvNames("slow")).toEqual([]);
  });

  it("honours a v0.5-era request that sends only size_gb, and answers its size_gb", async () => {
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- a v0.5-era client sends exactly this
    const created = await lv.createLV({ name: "legacy", sizeGb: 1n });
    expect(created.volume).toMatchObject({ sizeBytes: BigInt(GiB), sizeGb: 1n });
    expect(await lvNames("fast")).toEqual(["legacy"]);
    await lv.removeLV({ name: "legacy" });
  });

  it("answers bad requests with the right codes", async () => {
    expect(await connectCode(lv.createLV({ name: "", sizeBytes: BigInt(extentBytes) }))).toBe(Code.InvalidArgument);
    expect(await connectCode(lv.createLV({ name: "x", deviceClass: "nvme", sizeBytes: BigInt(extentBytes) }))).toBe(Code.NotFound);
    expect(await connectCode(lv.createLV({ name: "x", sizeBytes: -1n }))).toBe(Code.InvalidArgument);
    expect(await connectCode(lv.createLV({ name: "x", sizeBytes: 1000n }))).toBe(Code.InvalidArgument);
    expect(await connectCode(lv.createLV({ name: "x", deviceClass: "hdd", sizeBytes: BigInt(GiB) }))).toBe(Code.ResourceExhausted);
    expect(await connectCode(lv.resizeLV({ name: "missing", sizeBytes: BigInt(extentBytes) }))).toBe(Code.NotFound);
    expect(await connectCode(vg.getFreeBytes({ deviceClass: "nvme" }))).toBe(Code.NotFound);
    expect(await grpcCode(plainLv.unary("createLV", create(lvmd.CreateLVRequestSchema, { sizeBytes: BigInt(extentBytes) })))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await grpcCode(plainLv.unary("createLV", create(lvmd.CreateLVRequestSchema, { name: "x", deviceClass: "nvme", sizeBytes: 4096n })))).toBe(
      grpc.status.NOT_FOUND,
    );
    expect(await grpcCode(plainLv.unary("createLV", create(lvmd.CreateLVRequestSchema, { name: "x", sizeBytes: -4096n })))).toBe(grpc.status.INVALID_ARGUMENT);
    expect(await lvNames("fast")).toEqual([]);
  });

  it("lets exactly the creates that fit win a race for the last free extents", async () => {
    const free = await vgFreeBytes("slow");
    const size = 2 * extentBytes;
    const fit = Math.floor(free / size);
    const names = Array.from({ length: fit + 4 }, (_, i) => `race${String(i).padStart(2, "0")}`);
    const results = await Promise.allSettled(names.map((name) => lv.createLV({ name, deviceClass: "hdd", sizeBytes: BigInt(size) })));
    const won = names.filter((_, i) => results[i]?.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(fit);
    expect(lost.map((r) => ConnectError.from(r.reason).code)).toEqual(Array.from({ length: 4 }, () => Code.ResourceExhausted));
    expect(await lvNames("slow")).toEqual(won.sort());
    expect((await vg.getFreeBytes({ deviceClass: "hdd" })).freeBytes).toBe(BigInt(await vgFreeBytes("slow")));
    await Promise.all(won.map((name) => lv.removeLV({ name, deviceClass: "hdd" })));
    expect(await lvNames("slow")).toEqual([]);
  });

  it("streams every class's free bytes on Watch, at once and after each change", async () => {
    const controller = new AbortController();
    const stream = vg.watch({}, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = (await stream.next()).value as lvmd.WatchResponse;
    expect(first.items.map((item) => item.deviceClass)).toEqual(["ssd", "hdd"]);
    const ssdBefore = first.items[0]?.freeBytes ?? 0n;
    expect(first.freeBytes).toBe(ssdBefore);
    const slowSize = Number(await rawLvm(["vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_size", "slow"]));
    expect(first.items[1]).toMatchObject({ freeBytes: BigInt(await vgFreeBytes("slow")), sizeBytes: BigInt(slowSize) });

    const plain = plainVg.stream("watch", create(lvmd.EmptySchema));
    const plainMessages: lvmd.WatchResponse[] = [];
    plain.on("data", (message: lvmd.WatchResponse) => plainMessages.push(message));
    plain.on("error", () => undefined);

    await lv.createLV({ name: "watched", sizeBytes: BigInt(8 * MiB) });
    const next = (await stream.next()).value as lvmd.WatchResponse;
    expect(next.items[0]?.freeBytes).toBe(ssdBefore - BigInt(8 * MiB));
    await until("the plain client's Watch to see the new free bytes", () => Promise.resolve(plainMessages.at(-1)?.items[0]?.freeBytes === ssdBefore - BigInt(8 * MiB)));
    controller.abort();
    plain.cancel();
    await lv.removeLV({ name: "watched" });
  });

  it("stops the lvcreate of a CreateLV whose deadline passes or whose caller cancels, and serves the VG on", async () => {
    // A second lvmd whose lvm hangs in lvcreate while the hang file exists: a real command that outlives the call.
    const hangFile = join(dir, "hang");
    const pidFile = join(dir, "lvcreate.pid");
    const hangingConfig = join(dir, "hanging.yaml");
    const hangingSocket = join(dir, "hanging.sock");
    const hangingLvm = fileURLToPath(new URL("hanging-lvm.mjs", import.meta.url));
    writeFileSync(hangingConfig, `lvm-command-prefix: [${process.execPath}, ${hangingLvm}]\ndevice-classes:\n  - { name: hang, volume-group: hang, default: true, spare-gb: 0 }\n`);
    const env = { ...sandbox.env, HANGING_LVM_HANG: hangFile, HANGING_LVM_PID_FILE: pidFile };
    const hanging = await startLvmd(["--config", hangingConfig, "--socket", hangingSocket], env, hangingSocket);
    const client = createClient(lvmd.LVService, unixSocketTransport(hangingSocket));
    try {
      const hungLvcreate = async (): Promise<number> => {
        const written = (): number => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : 0);
        const pid = await eventually("the hanging lvcreate to start", () => Promise.resolve(written() > 0 ? written() : undefined));
        unlinkSync(pidFile);
        return pid;
      };
      const gone = (pid: number) => until(`lvcreate ${pid} to be stopped`, () => Promise.resolve(!existsSync(`/proc/${pid}`)), 30_000);
      writeFileSync(hangFile, "");

      const startedAt = Date.now();
      const timedOut = client.createLV({ name: "late", sizeBytes: BigInt(8 * MiB) }, { timeoutMs: 3_000 });
      const timedOutPid = await hungLvcreate();
      expect(await connectCode(timedOut)).toBe(Code.DeadlineExceeded);
      await gone(timedOutPid);
      // lvm's own limit is 60 s: only the call's deadline can have stopped it this soon.
      expect(Date.now() - startedAt).toBeLessThan(30_000);

      const controller = new AbortController();
      const cancelled = client.createLV({ name: "cancelled", sizeBytes: BigInt(8 * MiB) }, { signal: controller.signal });
      const cancelledPid = await hungLvcreate();
      controller.abort();
      expect(await connectCode(cancelled)).toBe(Code.Canceled);
      await gone(cancelledPid);

      expect(await lvNames("hang")).toEqual([]);
      unlinkSync(hangFile);
      const after = await client.createLV({ name: "after", sizeBytes: BigInt(8 * MiB) });
      expect(after.volume).toMatchObject({ name: "after", sizeBytes: BigInt(8 * MiB) });
      expect(await lvNames("hang")).toEqual(["after"]);
    } finally {
      await hanging.stop("SIGKILL");
    }
  });

  it("drains on SIGTERM, replaces a stale socket and serves existing LVs after a restart", async () => {
    await lv.createLV({ name: "survivor", deviceClass: "hdd", sizeBytes: BigInt(extentBytes) });
    closeClients();
    expect(await daemon.stop("SIGTERM")).toBe(0);
    expect(() => statSync(socketPath)).toThrow();

    daemon = await startLvmd(["--config", configPath], sandbox.env, socketPath);
    // A killed lvmd leaves its socket file behind; the next one must replace it.
    expect(await daemon.stop("SIGKILL")).toBeNull();
    expect(statSync(socketPath).isSocket()).toBe(true);
    daemon = await startLvmd(["--config", configPath], sandbox.env, socketPath);
    connectClients();

    const listed = await vg.getLVList({ deviceClass: "hdd" });
    expect(listed.volumes.map((v) => [v.name, v.sizeBytes])).toEqual([["survivor", BigInt(extentBytes)]]);
    await lv.removeLV({ name: "survivor", deviceClass: "hdd" });
  });

  it("refuses to start on a config whose volume group does not exist, naming it", async () => {
    const badConfig = join(dir, "bad.yaml");
    writeFileSync(badConfig, `lvm-command-prefix: [lvm]\ndevice-classes:\n  - { name: x, volume-group: nosuchvg }\n`);
    const result = await execFileAsync(process.execPath, [lvmdBin, "--config", badConfig, "--socket", join(dir, "bad.sock")], { env: sandbox.env }).then(
      () => undefined,
      (err: unknown) => err as { code: number; stdout: string },
    );
    expect(result?.code).toBe(1);
    expect(result?.stdout).toContain('device-classes[0].volume-group: volume group \\"nosuchvg\\" not found');
  });

  it("logs one JSON line per mutation with argv, duration and result", () => {
    const lines = daemon
      .output()
      .split("\n")
      .filter((line) => line.includes('"lvm lvremove"'))
      .map((line) => JSON.parse(line) as { rpc: string; argv: string[]; durationMs: number; result: string });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ rpc: "RemoveLV", argv: ["lvm", "lvremove", "-f", "slow/survivor"], result: "ok" });
    expect(typeof lines[0]?.durationMs).toBe("number");
  });
});
