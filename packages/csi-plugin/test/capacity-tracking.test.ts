// End to end on the local cluster, Storage Capacity Tracking: no webhook and no extender. csi-provisioner publishes
// CSIStorageCapacity objects from topolvm-controller's GetCapacity and kube-scheduler places pods by them alone.
import { capacityAnnotationPrefix, topologyKey } from "@topolvm/proto/names";
import { describe, expect, it } from "vitest";

import {
  affinityNodes,
  boundClaim,
  claimManifest,
  elapsedMs,
  gib,
  logicalVolumeOf,
  podManifest,
  readPod,
  scheduledNode,
  skipE2e,
  useE2e,
  waitFor,
} from "./support/e2e.js";

const namespace = "e2e-capacity";

/** A quantity as the provisioner writes capacities (bytes, or with a binary suffix), in bytes. */
function quantityBytes(quantity: string | undefined): number {
  const match = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(quantity ?? "");
  if (match?.[1] === undefined) {
    throw new Error(`unexpected capacity quantity ${String(quantity)}`);
  }
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 }[match[2] ?? ""] ?? 1;
  return Number(match[1]) * unit;
}

describe.skipIf(skipE2e)("provisioning with Storage Capacity Tracking", () => {
  const env = useE2e(
    [
      { name: "node-1", vgSizeBytes: 2 * gib },
      { name: "node-2", vgSizeBytes: 10 * gib },
    ],
    { scheduling: "capacity-tracking", capacityPollInterval: "3s" },
    namespace,
  );

  it("publishes a CSIStorageCapacity per node for topolvm-provisioner, equal to the node's free bytes", async () => {
    const e = env();
    const driver = await e.storage.readCSIDriver({ name: "topolvm.cybozu.com" });
    expect(driver.spec.storageCapacity).toBe(true);
    for (const node of ["node-1", "node-2"]) {
      const annotation = (await e.core.readNode({ name: node })).metadata?.annotations?.[`${capacityAnnotationPrefix}ssd`];
      const capacity = await waitFor(e, `the CSIStorageCapacity of ${node}`, async () =>
        (await e.storage.listNamespacedCSIStorageCapacity({ namespace: e.topolvm.namespace })).items.find(
          (item) => item.storageClassName === "topolvm-provisioner" && item.nodeTopology?.matchLabels?.[topologyKey] === node,
        ),
      );
      expect(quantityBytes(capacity.capacity)).toBe(Number(annotation));
    }
  });

  it("provisions a 1 GiB PVC for a pod without the webhook or extender: LV, Bound PV, node affinity", async () => {
    const e = env();
    const started = Date.now();
    await e.objects.create(claimManifest(namespace, "basic", "topolvm-provisioner", "1Gi"));
    await e.objects.create(podManifest(namespace, "basic", ["basic"]));
    const node = await scheduledNode(e, namespace, "basic");
    const { volume } = await boundClaim(e, namespace, "basic");
    console.log(`1 GiB PVC Bound on ${node} in ${elapsedMs(started)} ms`);
    // No pod hook ran: the pod carries no capacity request.
    expect(Object.keys((await readPod(e, namespace, "basic")).metadata?.annotations ?? {})).toEqual([]);
    expect(affinityNodes(volume, topologyKey)).toEqual([node]);
    const lvName = (await logicalVolumeOf(e, volume))?.status?.volumeID;
    expect((await e.topolvm.node(node).lvs()).filter((lv) => lv.name === lvName)).toEqual([
      expect.objectContaining({ volumeGroup: `${node}-ssd`, sizeBytes: gib }),
    ]);
  });

  it("places a 3 GiB PVC on the only node whose published capacity has room", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "big", "topolvm-provisioner", "3Gi"));
    await e.objects.create(podManifest(namespace, "big", ["big"]));
    expect(await scheduledNode(e, namespace, "big")).toBe("node-2");
    const { volume } = await boundClaim(e, namespace, "big");
    const lvName = (await logicalVolumeOf(e, volume))?.status?.volumeID;
    expect((await e.topolvm.node("node-2").lvs()).find((lv) => lv.name === lvName)).toMatchObject({
      volumeGroup: "node-2-ssd",
      sizeBytes: 3 * gib,
    });
  });
});
