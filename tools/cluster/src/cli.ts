// The `cluster` command (tools/cluster/cluster): a local Kubernetes control plane with simulated nodes.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { cacheDir } from "./binaries.js";
import { addNode, down, removeNode, status, up, type DeviceClassSpec } from "./cluster.js";
import type { SchedulerExtender } from "./control-plane.js";
import { formatSize, parseSize } from "./sizes.js";
import { readState, type DeviceClassState } from "./state.js";

const usage = `usage: cluster COMMAND [options]

commands:
  up [--nodes N] [--scheduler-extenders FILE]   start the control plane and N simulated nodes (default 1)
  down                                          stop every process the cluster started, remove its loop devices
  status                                        show the processes and nodes; exit 1 unless all are healthy
  add-node NAME [--vg-size SIZE] [--device-classes CLASS[=SIZE],...]
                                                add a simulated node with one loop volume group per device-class
                                                (default: ssd, 10G); the first class is the default one
  remove-node NAME                              delete a node and its volume groups
  kubeconfig                                    print the path of the admin kubeconfig

options:
  --state-dir DIR   where the cluster keeps its state, certificates and logs
                    (default: $TOPOLVM_CLUSTER_DIR, else $TOPOLVM_CACHE/cluster)
`;

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(2);
}

function parseDeviceClasses(text: string): DeviceClassSpec[] {
  return text.split(",").map((entry) => {
    const [name = "", size] = entry.split("=", 2);
    return size === undefined ? { name } : { name, sizeBytes: parseSize(size, `--device-classes ${name}`) };
  });
}

async function readExtenders(file: string): Promise<SchedulerExtender[]> {
  const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
  if (!Array.isArray(parsed)) {
    throw new Error(`--scheduler-extenders ${file}: expected a JSON array of KubeSchedulerConfiguration extenders`);
  }
  return parsed as SchedulerExtender[];
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "state-dir": { type: "string" },
      nodes: { type: "string" },
      "scheduler-extenders": { type: "string" },
      "vg-size": { type: "string" },
      "device-classes": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined) {
    process.stdout.write(usage);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  const stateDir = values["state-dir"] ?? process.env.TOPOLVM_CLUSTER_DIR ?? join(cacheDir(), "cluster");
  const log = (message: string): void => {
    process.stderr.write(`[cluster] ${message}\n`);
  };
  switch (command) {
    case "up": {
      const nodes = values.nodes === undefined ? 1 : Number(values.nodes);
      if (!Number.isInteger(nodes) || nodes < 0) {
        fail(`--nodes ${values.nodes ?? ""} is not a node count`);
      }
      const extendersFile = values["scheduler-extenders"];
      const started = Date.now();
      const state = await up({
        stateDir,
        nodes,
        ...(extendersFile === undefined ? {} : { schedulerExtenders: await readExtenders(extendersFile) }),
        onProgress: log,
      });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      log(`cluster up in ${seconds} s: Kubernetes ${state.kubernetesVersion}, ${state.nodes.length} nodes`);
      log(`kubeconfig: ${state.kubeconfig}`);
      return 0;
    }
    case "down": {
      if (!(await down(stateDir))) {
        log(`no cluster in ${stateDir}`);
      }
      return 0;
    }
    case "status": {
      const current = await status(stateDir);
      if (current === undefined) {
        log(`no cluster in ${stateDir}`);
        return 1;
      }
      const health = current.healthy ? "healthy" : "NOT healthy";
      const deviceClass = (entry: DeviceClassState): string =>
        `${entry.name}${entry.default ? "*" : ""}=${entry.volumeGroup}(${formatSize(entry.sizeBytes)})`;
      const lines = [
        `server ${current.serverUrl} (Kubernetes ${current.kubernetesVersion}), ${health}`,
        `kubeconfig ${current.kubeconfig}`,
        ...current.processes.map((entry) => {
          const running = entry.running ? "running" : "EXITED";
          return `process ${entry.name} pid ${entry.pid} ${running} log ${entry.logFile}`;
        }),
        ...current.nodes.map((node) => `node ${node.name}: ${node.deviceClasses.map(deviceClass).join(" ")}`),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      return current.healthy ? 0 : 1;
    }
    case "add-node": {
      const [name] = rest;
      if (name === undefined) {
        fail("add-node needs a node name");
      }
      const vgSize = values["vg-size"];
      const deviceClasses = values["device-classes"];
      await addNode(stateDir, {
        name,
        ...(vgSize === undefined ? {} : { vgSizeBytes: parseSize(vgSize, "--vg-size") }),
        ...(deviceClasses === undefined ? {} : { deviceClasses: parseDeviceClasses(deviceClasses) }),
      });
      log(`added node ${name}`);
      return 0;
    }
    case "remove-node": {
      const [name] = rest;
      if (name === undefined) {
        fail("remove-node needs a node name");
      }
      await removeNode(stateDir, name);
      log(`removed node ${name}`);
      return 0;
    }
    case "kubeconfig": {
      const state = await readState(stateDir);
      if (state === undefined) {
        log(`no cluster in ${stateDir}`);
        return 1;
      }
      process.stdout.write(`${state.kubeconfig}\n`);
      return 0;
    }
    default:
      fail(`unknown command "${command}"\n${usage}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`cluster: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
