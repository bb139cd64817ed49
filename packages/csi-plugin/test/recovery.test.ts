// End to end on the local cluster: what a crash or a lost node leaves behind. topolvm-controller and topolvm-node
// are SIGKILLed in the middle of a CreateVolume and restarted (exactly one LV must come of it), and a Node whose
// topolvm-node is gone is deleted (its LogicalVolumes and PVCs must be cleaned up and the Node go).
import { nodeFinalizer } from "@topolvm/proto/names";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";

import { runLvm } from "../../../tools/cluster/src/topolvm-lvm.js";

import {
  boundClaim,
  claimManifest,
  type E2e,
  elapsedMs,
  gib,
  listLogicalVolumes,
  logicalVolumeOf,
  podManifest,
  readClaim,
  skipE2e,
  useE2e,
  waitFor,
} from "./support/e2e.js";

const namespace = "e2e-recovery";
/** The stated limit for a deleted Node's cleanup (PVCs, LogicalVolumes, the Node itself). */
const nodeCleanupLimitMs = 180_000;

describe.skipIf(skipE2e)("recovery from crashes and lost nodes", () => {
  const env = useE2e([{ name: "node-1" }, { name: "node-2" }, { name: "node-3" }], { scheduling: "extender" }, namespace);

  /** The LogicalVolume made for a claim (named pvc-<claim uid>), once it exists. */
  async function logicalVolumeForClaim(e: E2e, claim: string) {
    const uid = (await readClaim(e, namespace, claim)).metadata?.uid ?? "";
    return (await listLogicalVolumes(e)).find((lv) => lv.metadata.name === `pvc-${uid}`);
  }

  it("ends with exactly one LV and a Bound PVC when topolvm-controller is SIGKILLed in the middle of CreateVolume", async () => {
    const e = env();
    const node = e.topolvm.node("node-1");
    // A paused topolvm-node holds CreateVolume open: the LogicalVolume exists, its status does not.
    node.node.pause();
    try {
      await e.objects.create(claimManifest(namespace, "controller-crash", "topolvm-provisioner", "1Gi"));
      await e.objects.create(podManifest(namespace, "controller-crash", ["controller-crash"], "node-1"));
      await waitFor(e, "the LogicalVolume of the claim", () => logicalVolumeForClaim(e, "controller-crash"));
      await e.topolvm.controller.kill("SIGKILL");
    } finally {
      node.node.resume();
    }
    const restarted = Date.now();
    await e.topolvm.controller.start();
    const { volume } = await boundClaim(e, namespace, "controller-crash");
    console.log(`Bound ${elapsedMs(restarted)} ms after the controller restarted`);
    const logicalVolumes = (await listLogicalVolumes(e)).filter((lv) => lv.metadata.name === volume.metadata?.name);
    expect(logicalVolumes).toHaveLength(1);
    const lvName = logicalVolumes[0]?.status?.volumeID;
    expect((await node.lvs()).filter((lv) => lv.name === lvName)).toEqual([
      expect.objectContaining({ volumeGroup: "node-1-ssd", sizeBytes: gib }),
    ]);
    // No stray LV of another attempt: every LV of the VG belongs to a LogicalVolume.
    const known = new Set((await listLogicalVolumes(e)).map((lv) => lv.status?.volumeID));
    expect((await node.lvs()).filter((lv) => !known.has(lv.name))).toEqual([]);
  });

  it("ends with exactly one LV and a Bound PVC when topolvm-node is SIGKILLed in the middle of CreateLV", async () => {
    const e = env();
    const node = e.topolvm.node("node-2");
    let killedAt = "";
    // A paused lvmd holds topolvm-node inside CreateLV; the kill lands there, and lvmd may still run lvcreate after.
    node.lvmd.pause();
    try {
      await e.objects.create(claimManifest(namespace, "node-crash", "topolvm-provisioner", "1Gi"));
      await e.objects.create(podManifest(namespace, "node-crash", ["node-crash"], "node-2"));
      await waitFor(e, "topolvm-node to take the LogicalVolume (its finalizer)", async () => {
        const lv = await logicalVolumeForClaim(e, "node-crash");
        return (lv?.metadata.finalizers ?? []).length > 0 ? lv : undefined;
      });
      // Give the reconciler time to send CreateLV to the paused lvmd.
      await sleep(2_000);
      await node.node.kill("SIGKILL");
      killedAt = new Date().toISOString();
    } finally {
      node.lvmd.resume();
    }
    // lvmd finishes what it received (or drops it: its client is gone). To land in the worst window for sure, an
    // LV the dead process's lvcreate did not make is made now by hand, under the resource's UID, as if lvcreate had
    // finished just before the crash: LVM has it, lvmd's model and the resource's status do not.
    await sleep(1_000);
    const taken = await logicalVolumeForClaim(e, "node-crash");
    const uid = taken?.metadata.uid ?? "";
    const madeByLvmd = (await node.lvs()).some((lv) => lv.name === uid);
    if (!madeByLvmd) {
      await runLvm(node.state, ["lvcreate", "-an", "-Zn", "--yes", "-L", "1g", "-n", uid, "node-2-ssd"]);
    }
    console.log(`the LV before the restart was made ${madeByLvmd ? "by lvmd from the killed request" : "by hand"}`);
    const restarted = Date.now();
    const restartedAt = new Date(restarted).toISOString();
    await node.node.start();
    const { volume } = await boundClaim(e, namespace, "node-crash");
    console.log(`Bound ${elapsedMs(restarted)} ms after topolvm-node restarted`);
    const logicalVolume = await logicalVolumeOf(e, volume);
    const lvName = logicalVolume?.status?.volumeID;
    expect(lvName).toBe(logicalVolume?.metadata.uid);
    expect((await node.lvs()).filter((lv) => lv.name === lvName)).toEqual([
      expect.objectContaining({ volumeGroup: "node-2-ssd", sizeBytes: gib }),
    ]);
    const known = new Set((await listLogicalVolumes(e)).map((lv) => lv.status?.volumeID));
    expect((await node.lvs()).filter((lv) => !known.has(lv.name))).toEqual([]);
    // What lvmd did with the LV after the kill: the new topolvm-node's create, answered from LVM's LV.
    const lvmdLines = (await node.lvmd.log())
      .split("\n")
      .filter((line) => line.includes(lvName ?? "-") && line.includes('"rpc"'))
      .map((line) => JSON.parse(line) as { time?: string; rpc?: string; msg?: string; result?: string });
    const calls = lvmdLines.map(({ time, rpc, msg, result }) => ({ time, rpc, msg, result }));
    console.log(`killed ${killedAt}, restarted ${restartedAt}; lvmd on node-2 for ${lvName ?? ""}: ${JSON.stringify(calls)}`);
  });

  it(`cleans up the LogicalVolumes and PVCs of a Node deleted after its topolvm-node stopped, within ${nodeCleanupLimitMs / 1000} s`, async () => {
    const e = env();
    const node = e.topolvm.node("node-3");
    const claims = ["lost-a", "lost-b"];
    for (const claim of claims) {
      await e.objects.create(claimManifest(namespace, claim, "topolvm-provisioner", "1Gi"));
    }
    await e.objects.create(podManifest(namespace, "lost", claims, "node-3"));
    for (const claim of claims) {
      await boundClaim(e, namespace, claim);
    }
    const finalizers = (await e.core.readNode({ name: "node-3" })).metadata?.finalizers ?? [];
    expect(finalizers).toContain(nodeFinalizer);
    const volumes = (await listLogicalVolumes(e)).filter((lv) => lv.spec.nodeName === "node-3");
    expect(volumes).toHaveLength(2);

    await node.node.stop();
    await node.lvmd.stop();
    const started = Date.now();
    const milestones: { logicalVolumesGoneMs?: number; nodeGoneMs?: number; claimsGoneMs?: number } = {};
    await e.core.deleteNode({ name: "node-3" });
    await waitFor(
      e,
      "node-3's LogicalVolumes, its PVCs and the Node to be gone",
      async () => {
        const at = elapsedMs(started);
        const left = {
          logicalVolumes: (await listLogicalVolumes(e)).filter((lv) => lv.spec.nodeName === "node-3").length,
          claims: (await e.core.listNamespacedPersistentVolumeClaim({ namespace })).items.filter((claim) =>
            claims.includes(claim.metadata?.name ?? ""),
          ).length,
          node: (await e.core.listNode()).items.some((item) => item.metadata?.name === "node-3"),
        };
        if (left.logicalVolumes === 0) milestones.logicalVolumesGoneMs ??= at;
        if (!left.node) milestones.nodeGoneMs ??= at;
        if (left.claims === 0) milestones.claimsGoneMs ??= at;
        return left.logicalVolumes === 0 && left.claims === 0 && !left.node ? true : undefined;
      },
      {
        timeoutMs: nodeCleanupLimitMs,
        describe: async () => {
          const lvs = (await listLogicalVolumes(e)).filter((lv) => lv.spec.nodeName === "node-3");
          const pvcs = (await e.core.listNamespacedPersistentVolumeClaim({ namespace })).items
            .filter((claim) => claims.includes(claim.metadata?.name ?? ""))
            .map((claim) => {
              const finalizers = JSON.stringify(claim.metadata?.finalizers);
              const deleting = String(claim.metadata?.deletionTimestamp !== undefined);
              return `${claim.metadata?.name ?? ""} finalizers=${finalizers} deleting=${deleting}`;
            });
          const nodeObject = (await e.core.listNode()).items.find((item) => item.metadata?.name === "node-3");
          const nodeState =
            nodeObject === undefined ? "gone" : `finalizers=${JSON.stringify(nodeObject.metadata?.finalizers)}`;
          const lvNames = lvs.map((lv) => lv.metadata.name).join(", ") || "none";
          return `LogicalVolumes ${lvNames}; PVCs ${pvcs.join("; ") || "none"}; Node ${nodeState}`;
        },
      },
    );
    const tookMs = elapsedMs(started);
    console.log(`deleted Node cleaned up in ${tookMs} ms: ${JSON.stringify(milestones)}`);
    expect(tookMs).toBeLessThan(nodeCleanupLimitMs);
  });
});
