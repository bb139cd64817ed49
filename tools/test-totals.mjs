// Sums vitest JSON reports into the one closing line CI reads: "N passed, N failed, N skipped".
// Exits 1 when any test failed or a suite did not complete.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] ?? ".reports";
let passed = 0;
let failed = 0;
let skipped = 0;
let incomplete = 0;
let files = [];
try {
  files = readdirSync(dir).filter((f) => f.endsWith(".json"));
} catch {
  files = [];
}
for (const file of files) {
  const report = JSON.parse(readFileSync(join(dir, file), "utf8"));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  if (report.success !== true && report.numFailedTests === 0) {
    incomplete += 1;
    console.error(`suite did not complete: ${file}`);
  }
}
console.log(`${passed} passed, ${failed + incomplete} failed, ${skipped} skipped`);
process.exitCode = failed + incomplete > 0 || files.length === 0 ? 1 : 0;
