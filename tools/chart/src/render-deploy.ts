// tools/chart/render-deploy: writes deploy/manifests from the chart (see deploy-manifests.ts); --check only reports
// the files that differ and exits 1 if any does.
import { mkdir, readdir, rm, rmdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

import { deployManifestsDir, listFiles, manifestDrift, renderDeployManifests } from "./deploy-manifests.js";

/** Removes dir and its parents up to deploy/manifests while they are empty. */
async function removeEmptyParents(dir: string): Promise<void> {
  for (let current = dir; current.startsWith(`${deployManifestsDir}/`); current = dirname(current)) {
    if ((await readdir(current)).length > 0) {
      return;
    }
    await rmdir(current);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { check: { type: "boolean", default: false }, help: { type: "boolean", short: "h" } } });
  if (values.help === true) {
    process.stdout.write("usage: tools/chart/render-deploy [--check]\n  writes deploy/manifests from charts/topolvm; --check reports drift and exits 1 on any\n");
    return;
  }
  const wanted = await renderDeployManifests();
  const drift = await manifestDrift(wanted);
  if (values.check) {
    if (drift.length > 0) {
      process.stderr.write(`deploy/manifests differs from the chart (run tools/chart/render-deploy):\n${drift.map((line) => `  ${line}`).join("\n")}\n`);
      process.exitCode = 1;
    }
    return;
  }
  for (const file of await listFiles(deployManifestsDir)) {
    if (!wanted.has(file)) {
      await rm(join(deployManifestsDir, file));
      await removeEmptyParents(dirname(join(deployManifestsDir, file)));
    }
  }
  for (const [file, content] of wanted) {
    await mkdir(dirname(join(deployManifestsDir, file)), { recursive: true });
    await writeFile(join(deployManifestsDir, file), content);
  }
  process.stdout.write(drift.length === 0 ? "deploy/manifests is up to date\n" : `deploy/manifests: ${drift.length} files updated\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`render-deploy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
