import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createSandbox } from "../../tools/lvm-sandbox/index.js";
import { fullReportArgs, lvsArgs } from "../../packages/lvm-exec/src/commands.js";
import { createLvm } from "../../packages/lvm-exec/src/index.js";
import { median, timed } from "../support/stats.js";

// The library's cost per call against the bare command it runs, measured in the same run on an LVM sandbox:
// `listLogicalVolumes(vg)` against `lvs` with the same argv through execFile, and `fullReport([vg])` against
// `lvm fullreport`. Calls alternate between the two sides (which goes first flips each time) so that load from
// other processes hits both alike; the ratio is of the median call times. Target: <= 1.05x. A last line shows
// the library's own work per call (argv, validation, parsing) with the command's output replayed in-process.
// Run as root: node --import tsx bench/lvm-exec/overhead.ts [callsPerSide] [lvs]

const execFileAsync = promisify(execFile);
const [calls = 150, lvCount = 50] = process.argv.slice(2).map(Number);
const vgName = "bench";

interface Pair {
  name: string;
  bare: () => Promise<unknown>;
  library: () => Promise<unknown>;
}

const sandbox = await createSandbox({ volumeGroups: [{ name: vgName, sizes: ["1G"] }] });
try {
  const env = { ...sandbox.env, LC_ALL: "C" };
  const lvm = createLvm({ env: sandbox.env });
  for (let i = 0; i < lvCount; i++) {
    await lvm.createLogicalVolume({ vgName, name: `lv${i}`, sizeBytes: 4 << 20, tags: [`index=${i}`] });
  }
  const pairs: Pair[] = [
    { name: `listLogicalVolumes vs lvs (${lvCount} LVs)`, bare: () => execFileAsync("lvm", lvsArgs(vgName), { env }), library: () => lvm.listLogicalVolumes(vgName) },
    { name: `fullReport vs lvm fullreport (${lvCount} LVs)`, bare: () => execFileAsync("lvm", fullReportArgs([vgName]), { env }), library: () => lvm.fullReport([vgName]) },
  ];
  for (const pair of pairs) {
    await pair.bare();
    await pair.library();
    const bare: number[] = [];
    const library: number[] = [];
    for (let i = 0; i < calls; i++) {
      if (i % 2 === 0) {
        bare.push(await timed(pair.bare));
        library.push(await timed(pair.library));
      } else {
        library.push(await timed(pair.library));
        bare.push(await timed(pair.bare));
      }
    }
    const ratio = median(library) / median(bare);
    console.log(
      `${pair.name}: bare ${median(bare).toFixed(2)} ms, library ${median(library).toFixed(2)} ms per call ` +
        `(median of ${calls} each): ${ratio.toFixed(3)}x ${ratio <= 1.05 ? "<= 1.05x target" : "ABOVE the 1.05x target"}`,
    );
  }

  const { stdout } = await execFileAsync("lvm", lvsArgs(vgName), { env });
  const replay = createLvm({ executor: () => Promise.resolve({ stdout, stderr: "", exitCode: 0 }) });
  const ownWork: number[] = [];
  for (let i = 0; i < 1000; i++) ownWork.push(await timed(() => replay.listLogicalVolumes(vgName)));
  console.log(`listLogicalVolumes' own work (lvs output of ${lvCount} LVs replayed in-process): ${(median(ownWork) * 1000).toFixed(0)} us per call`);
} finally {
  await sandbox.destroy();
}
