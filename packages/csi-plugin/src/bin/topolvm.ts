#!/usr/bin/env node
import { connectKube } from "@topolvm/kube-client";
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { checkReport } from "../status/check-report.js";
import { readClusterState } from "../status/cluster-state.js";
import { statusReport } from "../status/status-report.js";
import { checkTable, statusTable } from "../status/status-table.js";

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };

const usage = `Usage: topolvm status [flags]   per node and device-class: capacity, used and free bytes, the LVs, their
                                PVCs and pods
       topolvm check [flags]    LogicalVolumes whose node, PV or PVC is gone or that failed, PVCs stuck Pending or
                                Terminating with the reason, nodes whose capacity annotations are stale;
                                exits 1 when it finds any

Flags:
  --kubeconfig PATH   kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster config)
  --output FORMAT     table (default) or json
  --grace SECONDS     check: how long a PVC may be Pending or Terminating before it is flagged (default 60)
  --version           print the version and exit
  --help              print this help and exit

Exit codes: 0 done (check: nothing found), 1 check found problems, 2 bad command line, 3 the cluster could not be read.
`;

function fail(message: string, code: number): never {
  process.stderr.write(`topolvm: ${message}\n`);
  process.exit(code);
}

interface Command {
  readonly verb: "status" | "check";
  readonly kubeconfig: string | undefined;
  readonly output: "table" | "json";
  readonly graceMs: number;
}

function parseCommand(argv: readonly string[]): Command | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        kubeconfig: { type: "string" },
        output: { type: "string", short: "o", default: "table" },
        grace: { type: "string", default: "60" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    return "help";
  }
  if (values.version === true) {
    return "version";
  }
  const [verb, ...rest] = positionals;
  if (verb !== "status" && verb !== "check") {
    fail(`${verb === undefined ? "no command" : `unknown command ${JSON.stringify(verb)}`}: give status or check\n\n${usage}`, 2);
  }
  if (rest.length > 0) {
    fail(`unexpected argument ${JSON.stringify(rest[0])}`, 2);
  }
  if (values.output !== "table" && values.output !== "json") {
    fail(`--output: ${JSON.stringify(values.output)} is not table or json`, 2);
  }
  const grace = Number(values.grace);
  if (!/^[0-9]+$/.test(values.grace) || !Number.isSafeInteger(grace)) {
    fail(`--grace: ${JSON.stringify(values.grace)} is not a number of seconds`, 2);
  }
  return { verb, kubeconfig: values.kubeconfig, output: values.output, graceMs: grace * 1000 };
}

async function main(): Promise<void> {
  const command = parseCommand(process.argv.slice(2));
  if (command === "help" || command === "version") {
    process.stdout.write(command === "help" ? usage : `topolvm ${version}\n`);
    return;
  }
  let state;
  const kube = await connectKube(command.kubeconfig === undefined ? {} : { kubeconfig: command.kubeconfig }).catch((error: unknown) => fail((error as Error).message, 3));
  try {
    state = await readClusterState(kube);
  } catch (error) {
    fail(`reading the cluster: ${(error as Error).message}`, 3);
  } finally {
    kube.close();
  }
  if (command.verb === "status") {
    const report = statusReport(state);
    process.stdout.write(command.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : statusTable(report));
    return;
  }
  const findings = checkReport(state, { now: new Date(), graceMs: command.graceMs });
  process.stdout.write(command.output === "json" ? `${JSON.stringify({ findings }, null, 2)}\n` : checkTable(findings));
  process.exitCode = findings.length === 0 ? 0 : 1;
}

await main();
