import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { createSandbox } from "../../tools/lvm-sandbox/index.js";
import { fullReportArgs, lvsArgs } from "../../packages/lvm-exec/src/commands.js";
import { createLvm } from "../../packages/lvm-exec/src/index.js";

// The library's cost per call against the bare command it runs, measured in the same run on an LVM sandbox:
// `listLogicalVolumes(vg)` against `lvs` with the same argv through execFile, and `fullReport([vg])` against
// `lvm fullreport`. Rounds alternate which side goes first; the ratio is of the medians. Target: <= 1.05x.
// Run as root: node --import tsx bench/lvm-exec/overhead.ts [rounds] [callsPerRound] [lvs]

const execFileAsync = promisify(execFile);
const [rounds = 15, callsPerRound = 10, lvCount = 50] = process.argv.slice(2).map(Number);
const vgName = "bench";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

async function timePerCall(calls: number, fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  return (performance.now() - start) / calls;
}

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
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        bare.push(await timePerCall(callsPerRound, pair.bare));
        library.push(await timePerCall(callsPerRound, pair.library));
      } else {
        library.push(await timePerCall(callsPerRound, pair.library));
        bare.push(await timePerCall(callsPerRound, pair.bare));
      }
    }
    const ratio = median(library) / median(bare);
    console.log(
      `${pair.name}: bare ${median(bare).toFixed(2)} ms, library ${median(library).toFixed(2)} ms per call ` +
        `(median of ${rounds} rounds x ${callsPerRound} calls): ${ratio.toFixed(3)}x ${ratio <= 1.05 ? "<= 1.05x target" : "ABOVE the 1.05x target"}`,
    );
  }
} finally {
  await sandbox.destroy();
}
