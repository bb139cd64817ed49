// `topolvm status` and `topolvm check` against the local cluster with TopoLVM running: the figures of the JSON
// output are the cluster's (annotations, LV sizes, claims, pods) and the table shows the same ones; check flags a
// claim the scheduler cannot place and a LogicalVolume whose node was removed by hand.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import { formatBytes, type Finding, type StatusReport } from "../src/index.js";
import { boundClaim, claimManifest, gib, nodeAnnotationBytes, podManifest, scheduledNode, skipE2e, useE2e, waitFor, type E2e } from "./support/e2e.js";

const namespace = "e2e-status";
const bin = fileURLToPath(new URL("../src/bin/topolvm.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function topolvm(e2e: E2e, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@topolvm/source", "--import", "tsx", bin, ...args, "--kubeconfig", e2e.cluster.kubeconfigPath],
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr });
      },
    );
  });
}

describe.skipIf(skipE2e)("topolvm status and topolvm check", () => {
  const env = useE2e(
    [
      { name: "node-1", vgSizeBytes: 4 * gib },
      { name: "node-2", vgSizeBytes: 6 * gib, deviceClasses: [{ name: "ssd" }, { name: "hdd", sizeBytes: 8 * gib }] },
    ],
    { scheduling: "extender", storageClasses: [{ name: "topolvm-provisioner" }, { name: "topolvm-hdd", deviceClass: "hdd" }] },
    namespace,
  );

  it("reports each node's classes with the cluster's figures, as JSON and as the same table", async () => {
    const e2e = env();
    await e2e.objects.create(claimManifest(namespace, "small", "topolvm-provisioner", "1Gi"));
    await e2e.objects.create(claimManifest(namespace, "archive", "topolvm-hdd", "2Gi"));
    await e2e.objects.create(podManifest(namespace, "app", ["small", "archive"]));
    expect(await scheduledNode(e2e, namespace, "app")).toBe("node-2");
    const { volume } = await boundClaim(e2e, namespace, "archive");
    await boundClaim(e2e, namespace, "small");
    // The annotations follow the new LVs; read them once they have.
    const hddFree = await waitFor(e2e, "node-2's hdd annotation to count the new LV", async () => {
      const free = await nodeAnnotationBytes(e2e, "node-2", "capacity.topolvm.cybozu.com/hdd");
      return free !== undefined && free <= 6 * gib ? free : undefined;
    });

    const json = await topolvm(e2e, "status", "--output", "json");
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport;
    const node2 = report.nodes.find((node) => node.name === "node-2");
    const hdd = node2?.deviceClasses.find((deviceClass) => deviceClass.name === "hdd");
    expect(hdd).toMatchObject({ default: false, usedBytes: 2 * gib, freeBytes: hddFree, capacityBytes: hddFree + 2 * gib });
    expect(hdd?.volumes).toEqual([
      expect.objectContaining({ sizeBytes: 2 * gib, persistentVolume: volume.metadata?.name, claim: `${namespace}/archive`, claimPhase: "Bound", pods: [`${namespace}/app`] }) as unknown,
    ]);
    expect(node2?.deviceClasses.find((deviceClass) => deviceClass.name === "ssd")).toMatchObject({ default: true, usedBytes: gib });
    expect(report.nodes.find((node) => node.name === "node-1")?.deviceClasses).toEqual([
      expect.objectContaining({ name: "ssd", default: true, usedBytes: 0, volumes: [] }) as unknown,
    ]);

    const table = await topolvm(e2e, "status");
    expect(table.code, table.stderr).toBe(0);
    for (const node of report.nodes) {
      for (const deviceClass of node.deviceClasses) {
        const figures = [deviceClass.capacityBytes, deviceClass.usedBytes, deviceClass.freeBytes].map(formatBytes).join(" +");
        expect(table.stdout).toMatch(new RegExp(`\\n${node.name} +${deviceClass.name}${deviceClass.default ? " \\(default\\)" : ""} +${figures.replaceAll(".", "\\.")} +${String(deviceClass.volumes.length)}\\n`));
      }
    }
    expect(table.stdout).toMatch(new RegExp(`node-2 +hdd +\\S+ +2\\.0 GiB +${namespace}/archive \\(Bound\\) +${namespace}/app`));
  });

  it("finds nothing wrong in a healthy cluster, then the pod the scheduler cannot place, with its reason", async () => {
    const e2e = env();
    const healthy = await topolvm(e2e, "check");
    expect(healthy, healthy.stderr).toMatchObject({ code: 0, stdout: "No problems found.\n" });

    await e2e.objects.create(claimManifest(namespace, "huge", "topolvm-provisioner", "50Gi"));
    await e2e.objects.create(podManifest(namespace, "huge", ["huge"]));
    const pending = await waitFor(e2e, "check to report the claim of the unschedulable pod", async () => {
      const run = await topolvm(e2e, "check", "--grace", "0", "--output", "json");
      const findings = (JSON.parse(run.stdout) as { findings: Finding[] }).findings;
      const found = findings.find((finding) => finding.object === `PersistentVolumeClaim/${namespace}/huge` && finding.message.includes("Unschedulable"));
      return found === undefined ? undefined : { run, found };
    });
    expect(pending.run.code).toBe(1);
    expect(pending.found.kind).toBe("claim-pending");
    expect(pending.found.message).toMatch(/pod e2e-status\/huge: Unschedulable: 0\/2 nodes are available/);
  });

  it("flags the LogicalVolume of a node removed by hand (its finalizer taken off, the controller stopped)", async () => {
    const e2e = env();
    await e2e.objects.create(claimManifest(namespace, "pinned", "topolvm-provisioner", "1Gi"));
    await e2e.objects.create(podManifest(namespace, "pinned", ["pinned"], "node-1"));
    await boundClaim(e2e, namespace, "pinned");
    // The controller's Node finalizer would clean up after the node: stop it, as a broken install would have.
    await e2e.topolvm.controller.stop();
    await e2e.core.deleteNode({ name: "node-1" });
    await e2e.core.patchNode({ name: "node-1", body: [{ op: "remove", path: "/metadata/finalizers" }] });
    await waitFor(e2e, "node-1 to be gone", async () => ((await e2e.core.listNode()).items.some((node) => node.metadata?.name === "node-1") ? undefined : true));

    const run = await topolvm(e2e, "check", "--output", "json");
    expect(run.code, run.stderr).toBe(1);
    const findings = (JSON.parse(run.stdout) as { findings: Finding[] }).findings;
    expect(findings).toContainEqual(expect.objectContaining({ kind: "logicalvolume-node-gone", message: expect.stringContaining("node node-1 is gone") as unknown }) as unknown);
    const table = await topolvm(e2e, "check");
    expect(table.stdout).toMatch(/^KIND +OBJECT +PROBLEM\n/);
    expect(table.stdout).toMatch(/logicalvolume-node-gone +LogicalVolume\/\S+ +node node-1 is gone/);
    const status = JSON.parse((await topolvm(e2e, "status", "--output", "json")).stdout) as StatusReport;
    expect(status.nodes.find((node) => node.name === "node-1")).toMatchObject({ exists: false });
  });
});
