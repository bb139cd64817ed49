import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { lvmd } from "@topolvm/proto";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { unixSocketTransport } from "../../packages/lvmd/src/health-client.js";
import { plainGrpcClient } from "../../packages/lvmd/test/grpc-js-client.js";
import { startLvmd, type LvmdProcess } from "../../packages/lvmd/test/lvmd-process.js";
import { fullReportArgs } from "../../packages/lvm-exec/src/commands.js";
import { createSandbox } from "../../tools/lvm-sandbox/index.js";
import { median, timed } from "../support/stats.js";

// lvmd against the LVM commands it replaces or runs, in one run on an LVM sandbox, with the built lvmd process and
// a Connect client (what topolvm-node uses):
//   1. GetLVList + GetFreeBytes from lvmd's model vs spawning `lvm lvs VG` + `lvm vgs VG` (target >= 50x);
//   2. CreateLV end to end vs the bare `lvm lvcreate` argv it runs (target <= 1.10x), and vs that lvcreate followed
//      by the `lvm fullreport` of the VG that lvmd answers from (the LVM commands CreateLV runs), rotating which goes
//      first, each measured on a quiet VG;
//   3. lvmd's RSS idle and after listing 1,000 LVs (target <= 70 MB), started with its shebang's node flags.
// Build first (npx nx run lvmd:build), run as root: node --import tsx bench/lvmd/lvmd.ts [readPairs] [createPairs] [settleMs]

const execFileAsync = promisify(execFile);
const [readPairs = 200, createPairs = 20, settleMs = 400] = process.argv.slice(2).map(Number);
const vgName = "bench";
const MiB = 2 ** 20;
const listedLvs = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) / 1024;
}

// Many lvcreates through one lvm process (its shell reads commands from stdin): seconds instead of minutes.
async function bulkCreate(env: Record<string, string>, names: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("lvm", [], { env, stdio: ["pipe", "ignore", "ignore"] });
    child.once("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`lvm shell exited ${code}`));
    });
    for (const name of names) child.stdin.write(`lvcreate -q -n ${name} -L 4m -W y -y ${vgName}\n`);
    child.stdin.end("exit\n");
  });
}

const sandbox = await createSandbox({ volumeGroups: [{ name: vgName, sizes: ["8G"] }] });
const dir = mkdtempSync(join(tmpdir(), "lvmd-bench-"));
let daemon: LvmdProcess | undefined;
const results: Record<string, string> = {};
try {
  const env = { ...sandbox.env, LC_ALL: "C" };
  const configPath = join(dir, "lvmd.yaml");
  const socketPath = join(dir, "lvmd.sock");
  writeFileSync(configPath, `lvm-command-prefix: [lvm]\ndevice-classes:\n  - { name: ssd, volume-group: ${vgName}, default: true, spare-gb: 0 }\n`);
  await bulkCreate(env, Array.from({ length: 100 }, (_, i) => `pre${i}`));

  daemon = await startLvmd(["--config", configPath, "--socket", socketPath, "--log-level", "info"], sandbox.env, socketPath);
  results["lvmd RSS idle, 100 LVs"] = `${rssMiB(daemon.child.pid ?? 0).toFixed(1)} MiB`;
  const transport = unixSocketTransport(socketPath);
  const lv = createClient(lvmd.LVService, transport);
  const vg = createClient(lvmd.VGService, transport);

  // 1. Reads.
  const modelRead = async (): Promise<void> => {
    await vg.getLVList({ deviceClass: "ssd" });
    await vg.getFreeBytes({ deviceClass: "ssd" });
  };
  const spawnRead = async (): Promise<void> => {
    await execFileAsync("lvm", ["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", vgName], { env });
    await execFileAsync("lvm", ["vgs", "--reportformat", "json", "--units", "b", "--nosuffix", vgName], { env });
  };
  // The same reads from a plain grpc-js client, the way a Go client (upstream's topolvm-node) calls.
  const plainVg = plainGrpcClient(lvmd.VGService, socketPath);
  const plainRead = async (): Promise<void> => {
    await plainVg.unary("getLVList", create(lvmd.GetLVListRequestSchema, { deviceClass: "ssd" }));
    await plainVg.unary("getFreeBytes", create(lvmd.GetFreeBytesRequestSchema, { deviceClass: "ssd" }));
  };
  for (let i = 0; i < 20; i++) {
    await modelRead();
    await plainRead();
  }
  const model: number[] = [];
  const plain: number[] = [];
  const spawned: number[] = [];
  for (let i = 0; i < readPairs; i++) {
    model.push(await timed(modelRead));
    plain.push(await timed(plainRead));
  }
  for (let i = 0; i < Math.min(readPairs, 30); i++) spawned.push(await timed(spawnRead));
  plainVg.close();
  results["reads, 100 LVs: spawn (lvs+vgs)"] = `${median(spawned).toFixed(2)} ms`;
  results["reads, 100 LVs: model, Connect client"] = `${median(model).toFixed(3)} ms = ${(median(spawned) / median(model)).toFixed(0)}x faster (target >= 50x)`;
  results["reads, 100 LVs: model, grpc-js client"] = `${median(plain).toFixed(3)} ms = ${(median(spawned) / median(plain)).toFixed(0)}x faster`;

  // 2. CreateLV end to end vs the bare lvcreate.
  const size = 8 * MiB;
  const lvmdTimes: number[] = [];
  const bareTimes: number[] = [];
  const bareRereadTimes: number[] = [];
  const viaLvmd = (i: number) => timed(() => lv.createLV({ name: `lvmd${i}`, deviceClass: "ssd", sizeBytes: BigInt(size) }));
  const lvcreate = (name: string) => execFileAsync("lvm", ["lvcreate", "-n", name, "-L", `${size}b`, "-W", "y", "-y", vgName], { env });
  const bare = (i: number) => timed(() => lvcreate(`bare${i}`));
  const bareReread = (i: number) =>
    timed(async () => {
      await lvcreate(`reread${i}`);
      await execFileAsync("lvm", fullReportArgs([vgName]), { env });
    });
  await viaLvmd(-1);
  await sleep(settleMs);
  await bare(-1);
  await sleep(settleMs);
  await bareReread(-1);
  const sides = ["lvmd", "bare", "bareReread"] as const;
  for (let i = 0; i < createPairs; i++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(i + k) % sides.length];
      await sleep(settleMs);
      if (side === "lvmd") lvmdTimes.push(await viaLvmd(i));
      else if (side === "bare") bareTimes.push(await bare(i));
      else bareRereadTimes.push(await bareReread(i));
    }
  }
  results["CreateLV end to end (median)"] = `${median(lvmdTimes).toFixed(1)} ms`;
  results["bare lvm lvcreate (median)"] = `${median(bareTimes).toFixed(1)} ms`;
  results["bare lvcreate + fullreport (median)"] = `${median(bareRereadTimes).toFixed(1)} ms`;
  results["CreateLV / lvcreate"] = `${(median(lvmdTimes) / median(bareTimes)).toFixed(3)}x (target <= 1.10x)`;
  results["CreateLV / (lvcreate + fullreport)"] = `${(median(lvmdTimes) / median(bareRereadTimes)).toFixed(3)}x`;
  // LVM's own time varies a lot on a busy machine; the time each call spent beyond the lvcreate it ran (from its
  // mutation log line) is the VG re-read plus lvmd's own work.
  const lvcreateMs = new Map<string, number>();
  for (const line of daemon.output().split("\n")) {
    if (!line.includes('"lvm lvcreate"')) continue;
    const entry = JSON.parse(line) as { lv: string; durationMs: number };
    lvcreateMs.set(entry.lv, entry.durationMs);
  }
  const overhead = lvmdTimes.map((total, i) => total - (lvcreateMs.get(`lvmd${i}`) ?? Number.NaN));
  results["CreateLV beyond its lvcreate, per call (median)"] = `${median(overhead).toFixed(1)} ms`;
  results["CreateLV / its lvcreate, per call (median)"] = `${median(lvmdTimes.map((total, i) => total / (lvcreateMs.get(`lvmd${i}`) ?? Number.NaN))).toFixed(3)}x`;
  // 3. 1,000 LVs: restart lvmd on them, list them, read RSS.
  const existing = (await vg.getLVList({ deviceClass: "ssd" })).volumes.length;
  await bulkCreate(env, Array.from({ length: listedLvs - existing }, (_, i) => `fill${i}`));
  await daemon.stop();
  daemon = await startLvmd(["--config", configPath, "--socket", socketPath, "--log-level", "info"], sandbox.env, socketPath);
  const vg2 = createClient(lvmd.VGService, unixSocketTransport(socketPath));
  results[`lvmd RSS idle, ${listedLvs} LVs`] = `${rssMiB(daemon.child.pid ?? 0).toFixed(1)} MiB`;
  const listTimes: number[] = [];
  let listed = 0;
  for (let i = 0; i < 50; i++) {
    listTimes.push(
      await timed(async () => {
        listed = (await vg2.getLVList({ deviceClass: "ssd" })).volumes.length;
      }),
    );
  }
  results[`lvmd RSS after listing ${listed} LVs 50 times`] = `${rssMiB(daemon.child.pid ?? 0).toFixed(1)} MiB (target <= 70 MB)`;
  results[`GetLVList of ${listed} LVs (median)`] = `${median(listTimes).toFixed(2)} ms`;
  const spawned1000: number[] = [];
  for (let i = 0; i < 10; i++) spawned1000.push(await timed(spawnRead));
  const model1000: number[] = [];
  for (let i = 0; i < 50; i++) {
    model1000.push(
      await timed(async () => {
        await vg2.getLVList({ deviceClass: "ssd" });
        await vg2.getFreeBytes({ deviceClass: "ssd" });
      }),
    );
  }
  results[`reads, ${listed} LVs: speed-up`] = `${(median(spawned1000) / median(model1000)).toFixed(0)}x (${median(model1000).toFixed(2)} ms vs ${median(spawned1000).toFixed(1)} ms)`;
} finally {
  await daemon?.stop();
  await sandbox.destroy();
  rmSync(dir, { recursive: true, force: true });
}
console.table(results);
