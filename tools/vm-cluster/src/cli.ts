// `tools/vm-cluster/vm-cluster up`: the control plane on the host and the real node in the VM, until SIGINT or SIGTERM
// (or the node fails); then both stop. Prints each step; see ../README.md.
import { parseArgs } from "node:util";

import { startVmCluster } from "./vm-cluster.js";

const usage = `usage: tools/vm-cluster/vm-cluster up [--mem MIB] [--node NAME]
  Runs until interrupted, printing where the node stands; the admin kubeconfig's path is printed once it is up.`;

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { mem: { type: "string" }, node: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help === true) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== "up") {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const memMiB = values.mem === undefined ? undefined : Number(values.mem);
  if (memMiB !== undefined && !(Number.isInteger(memMiB) && memMiB >= 1024)) {
    process.stderr.write(`--mem ${values.mem ?? ""}: want a whole number of MiB, at least 1024\n`);
    return 2;
  }
  const started = Date.now();
  const progress = (line: string): void => {
    process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}\n`);
  };
  const cluster = await startVmCluster({
    onProgress: progress,
    ...(memMiB === undefined ? {} : { memMiB }),
    ...(values.node === undefined ? {} : { nodeName: values.node }),
  });
  progress(`kubeconfig: ${cluster.kubeconfigPath}; interrupt to stop`);
  const interrupted = new Promise<string>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => {
        resolve(signal);
      });
  });
  const reason = await Promise.race([interrupted, cluster.vm.then((result) => `the VM stopped (exit ${result.exitCode})`)]);
  progress(`${reason}; stopping`);
  const result = await cluster.stop();
  if (result.exitCode !== 0) process.stderr.write(result.stderr);
  progress("stopped");
  return result.exitCode;
}

process.exitCode = await main(process.argv.slice(2));
