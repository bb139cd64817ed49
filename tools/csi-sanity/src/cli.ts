// The `run` command (tools/csi-sanity/run): csi-sanity against TopoLVM in one VM, both device-classes, with the
// figures at the end; exits 0 only when every run passed specs and failed none.
import { parseArgs } from "node:util";

import { defaultArtifactsDir, reportSucceeded, runCsiSanity, summaryLine } from "./index.js";
import { parseRunNames, runNames } from "./sanity-run.js";

const usage = `usage: tools/csi-sanity/run [options]

Runs csi-sanity inside one tools/vm VM against topolvm-controller and topolvm-node (with lvmd on loop VGs, etcd
and kube-apiserver started in the same VM from the cached binaries): once on a thick device-class, once on a
thin one. Prints csi-sanity's output live, then per run the passed/failed/skipped/pending figures, the failures
and the skipped specs with the reason.

options:
  --runs LIST          ${runNames.join(",")} (default), or one of them
  --focus REGEX        only specs matching REGEX (-ginkgo.focus)
  --skip REGEX         not the specs matching REGEX (-ginkgo.skip)
  --artifacts DIR      logs, csi-sanity's output and Ginkgo's JSON reports (default ${defaultArtifactsDir()})
  --timeout SECONDS    the VM's limit (default 2400)
  --mem MIB            guest memory (default 4096)
exit status: 0 when every run passed, 1 when a spec failed or the harness did, 2 for a bad option.
`;

function fail(message: string): never {
  process.stderr.write(`csi-sanity: ${message}\n${usage}`);
  process.exit(2);
}

function positiveNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) {
    return undefined;
  }
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    fail(`${flag}: ${JSON.stringify(text)} is not a positive number`);
  }
  return value;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        runs: { type: "string" },
        focus: { type: "string" },
        skip: { type: "string" },
        artifacts: { type: "string" },
        timeout: { type: "string" },
        mem: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  let runs;
  try {
    runs = values.runs === undefined ? undefined : parseRunNames(values.runs);
  } catch (error) {
    fail(`--runs: ${(error as Error).message}`);
  }
  const timeoutS = positiveNumber(values.timeout, "--timeout");
  const memMiB = positiveNumber(values.mem, "--mem");
  const outcome = await runCsiSanity({
    ...(runs === undefined ? {} : { runs }),
    ...(values.focus === undefined ? {} : { focus: values.focus }),
    ...(values.skip === undefined ? {} : { skip: values.skip }),
    ...(values.artifacts === undefined ? {} : { artifactsDir: values.artifacts }),
    ...(timeoutS === undefined ? {} : { timeoutMs: timeoutS * 1000 }),
    ...(memMiB === undefined ? {} : { memMiB }),
    onOutput: (stream, chunk) => {
      (stream === "stdout" ? process.stdout : process.stderr).write(chunk);
    },
  });
  const report = outcome.report;
  process.stderr.write("\n== csi-sanity summary\n");
  if (report === undefined) {
    const why = outcome.timedOut ? "the VM timed out" : `the VM exited ${outcome.exitCode}`;
    process.stderr.write(`no result: ${why} before the harness reported (see the output above and ${outcome.artifactsDir})\n`);
    return 1;
  }
  for (const run of report.runs) {
    process.stderr.write(`${summaryLine(run)}\n`);
  }
  if (report.error !== undefined) {
    // The whole message, with the processes' log tails, was printed above as the VM side logged it.
    process.stderr.write(`harness error: ${report.error.split("\n", 1)[0] ?? ""}\n`);
  }
  const seconds = (ms: number | undefined): string => (ms === undefined ? "?" : (ms / 1000).toFixed(1));
  process.stderr.write(
    `VM boot ${seconds(outcome.bootMs)} s, kube-apiserver ready ${seconds(report.timings.apiserverMs)} s, ` +
      `TopoLVM ready ${seconds(report.timings.topolvmMs)} s, teardown ${seconds(report.timings.teardownMs)} s, ` +
      `whole VM run ${seconds(outcome.durationMs)} s; artifacts in ${outcome.artifactsDir}\n`,
  );
  return reportSucceeded(report) ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // A missing prerequisite or an unusable artifacts directory: the message says which.
  process.stderr.write(`csi-sanity: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
