import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { binaryPath } from "../src/binaries.js";
import { clusterPrerequisitesMissing } from "../src/index.js";
import { processStartTime } from "../src/processes.js";
import { readState } from "../src/state.js";

const execFileAsync = promisify(execFile);
const clusterCommand = join(import.meta.dirname, "..", "cluster");
const missing = clusterPrerequisitesMissing();

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(command: string, args: string[]): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

describe.skipIf(missing.length > 0 && process.env.CI !== "true")("the cluster command", () => {
  let stateDir: string;
  const cluster = (...args: string[]): Promise<CommandResult> =>
    run(clusterCommand, [...args, "--state-dir", stateDir]);

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`cannot start a cluster, missing: ${missing.join(", ")}`);
    }
    stateDir = await mkdtemp(join(tmpdir(), "topolvm-cluster-cli-"));
  });

  afterAll(async () => {
    await cluster("down");
    await rm(stateDir, { recursive: true, force: true });
  });

  it("brings a cluster up with two Ready nodes and prints its start-up time", async () => {
    const result = await cluster("up", "--nodes", "2");
    expect(result.stderr).toMatch(/cluster up in \d+\.\d s: Kubernetes v1\.\d+\.\d+, 2 nodes/);
    expect(result.code).toBe(0);
    const kubeconfig = (await cluster("kubeconfig")).stdout.trim();
    expect(kubeconfig).toBe(join(stateDir, "kubeconfig"));
    const nodes = await run(binaryPath("kubectl"), [`--kubeconfig=${kubeconfig}`, "get", "nodes", "--no-headers"]);
    expect(nodes.stdout.trim().split("\n").map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
      ["node-1", "Ready"],
      ["node-2", "Ready"],
    ]);
  });

  it("refuses a second up while the cluster runs", async () => {
    const result = await cluster("up");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`a cluster is already running in ${stateDir}`);
  });

  it("reports the processes and nodes in status", async () => {
    const result = await cluster("status");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("healthy");
    expect(result.stdout).toMatch(/^process kube-apiserver pid \d+ running/m);
    expect(result.stdout).toContain("node node-1: ssd*=node-1-ssd(10G)");
  });

  it("adds a node with its device-classes and removes it again", async () => {
    const added = await cluster("add-node", "node-3", "--vg-size", "2G", "--device-classes", "ssd,hdd=3G");
    expect(added.code).toBe(0);
    expect((await cluster("status")).stdout).toContain("node node-3: ssd*=node-3-ssd(2G) hdd=node-3-hdd(3G)");
    expect((await cluster("remove-node", "node-3")).code).toBe(0);
    expect((await cluster("status")).stdout).not.toContain("node-3");
  });

  it("rejects a bad node name and a bad size, naming them", async () => {
    const badName = await cluster("add-node", "Node_3");
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain('node name "Node_3" must be a DNS-1123 label');
    const badSize = await cluster("add-node", "node-4", "--vg-size", "10X");
    expect(badSize.code).toBe(1);
    expect(badSize.stderr).toContain('--vg-size: "10X" is not a size');
  });

  it("leaves no process and no loop device behind after down", async () => {
    const state = await readState(stateDir);
    if (state === undefined) {
      throw new Error(`no state in ${stateDir}`);
    }
    const loopDevices = state.nodes.flatMap((node) => node.lvm.volumeGroups.flatMap((vg) => vg.physicalVolumes));
    expect(loopDevices).toHaveLength(2);
    expect((await cluster("down")).code).toBe(0);
    for (const record of state.processes) {
      expect(processStartTime(record.pid), `${record.name} (pid ${record.pid})`).not.toBe(record.startTime);
    }
    const { stdout } = await execFileAsync("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"]);
    expect(stdout.split("\n").filter((file) => file.startsWith(`${stateDir}/`))).toEqual([]);
    const after = await cluster("status");
    expect(after.code).toBe(1);
    expect(after.stderr).toContain(`no cluster in ${stateDir}`);
  });
});
