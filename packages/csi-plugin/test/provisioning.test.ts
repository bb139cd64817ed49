// End to end on the local cluster, classic scheduling path: the real topolvm-webhook annotates pods, kube-scheduler
// asks the real topolvm-scheduler, csi-provisioner calls topolvm-controller, topolvm-node has lvmd create the LV.
// Every test checks the LVs that really exist in the nodes' volume groups.
import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { capacityAnnotationPrefix, pvcFinalizer, topologyKey } from "@topolvm/proto/names";
import { describe, expect, it } from "vitest";

import { runLvm } from "../../../tools/cluster/src/topolvm-lvm.js";
import {
  affinityNodes,
  boundClaim,
  claimManifest,
  describeEvents,
  elapsedMs,
  eventsOf,
  forceDeletePod,
  gib,
  listLogicalVolumes,
  logicalVolumeOf,
  nodeAnnotationBytes,
  podManifest,
  readClaim,
  readPod,
  scheduledNode,
  skipE2e,
  useE2e,
  waitFor,
} from "./support/e2e.js";

const namespace = "e2e-provisioning";
const thinPoolBytes = 2 * gib;
const thinRatio = 5;

describe.skipIf(skipE2e)("provisioning with the webhook and the extender", () => {
  const env = useE2e(
    [
      // Too small for the 4 GiB claims below.
      { name: "node-1", vgSizeBytes: 3 * gib },
      // The only node with an hdd class.
      { name: "node-2", deviceClasses: [{ name: "ssd" }, { name: "hdd" }] },
      // The only node with a thin class (a pool in its ssd volume group).
      { name: "node-3" },
    ],
    {
      scheduling: "extender",
      deviceClasses: {
        "node-3": [
          { name: "ssd", default: true },
          {
            name: "thin",
            volumeGroupOf: "ssd",
            thinPool: { name: "pool0", sizeBytes: thinPoolBytes, overprovisionRatio: thinRatio },
          },
        ],
      },
      lvcreateOptionClasses: [{ name: "tagged", options: ["--addtag", "e2e-option-class"] }],
      storageClasses: [
        { name: "topolvm-provisioner" },
        { name: "topolvm-hdd", deviceClass: "hdd" },
        { name: "topolvm-thin", deviceClass: "thin" },
        { name: "topolvm-tagged", deviceClass: "ssd", lvcreateOptionClass: "tagged" },
        { name: "topolvm-nosuch", deviceClass: "nosuch" },
      ],
    },
    namespace,
  );

  it("provisions a 1 GiB PVC of topolvm-provisioner for a pod on a node with room: LV, Bound PV, node affinity", async () => {
    const e = env();
    const started = Date.now();
    await e.objects.create(claimManifest(namespace, "basic", "topolvm-provisioner", "1Gi"));
    await e.objects.create(podManifest(namespace, "basic", ["basic"]));
    const pod = await readPod(e, namespace, "basic");
    // The pod hook counted the claim.
    expect(pod.metadata?.annotations?.[`${capacityAnnotationPrefix}00default`]).toBe(String(gib));
    const node = await scheduledNode(e, namespace, "basic");
    const { claim, volume } = await boundClaim(e, namespace, "basic");
    console.log(`1 GiB PVC Bound on ${node} in ${elapsedMs(started)} ms`);
    expect(claim.metadata?.finalizers).toContain(pvcFinalizer);
    expect(volume.spec?.capacity?.storage).toBe("1Gi");
    expect(volume.spec?.csi?.driver).toBe("topolvm.cybozu.com");
    expect(affinityNodes(volume, topologyKey)).toEqual([node]);
    const logicalVolume = await logicalVolumeOf(e, volume);
    expect(logicalVolume?.spec.nodeName).toBe(node);
    const lvName = logicalVolume?.status?.volumeID ?? "";
    expect(volume.spec?.csi?.volumeHandle).toBe(lvName);
    // The LV really exists on that node, in its default class's volume group, and on no other node.
    const lvs = await e.topolvm.node(node).lvs();
    expect(lvs.filter((lv) => lv.name === lvName)).toEqual([
      expect.objectContaining({ volumeGroup: `${node}-ssd`, sizeBytes: gib }),
    ]);
    for (const other of [...e.topolvm.nodes.keys()].filter((name) => name !== node)) {
      expect((await e.topolvm.node(other).lvs()).map((lv) => lv.name)).not.toContain(lvName);
    }
  });

  it("places a pod with PVCs of two device-classes on the only node that has both", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "two-ssd", "topolvm-provisioner", "1Gi"));
    await e.objects.create(claimManifest(namespace, "two-hdd", "topolvm-hdd", "2Gi"));
    await e.objects.create(podManifest(namespace, "two-classes", ["two-ssd", "two-hdd"]));
    expect(await scheduledNode(e, namespace, "two-classes")).toBe("node-2");
    const ssd = await boundClaim(e, namespace, "two-ssd");
    const hdd = await boundClaim(e, namespace, "two-hdd");
    const lvs = await e.topolvm.node("node-2").lvs();
    const ssdLv = (await logicalVolumeOf(e, ssd.volume))?.status?.volumeID;
    const hddLv = (await logicalVolumeOf(e, hdd.volume))?.status?.volumeID;
    expect(lvs.find((lv) => lv.name === ssdLv)).toMatchObject({ volumeGroup: "node-2-ssd", sizeBytes: gib });
    expect(lvs.find((lv) => lv.name === hddLv)).toMatchObject({ volumeGroup: "node-2-hdd", sizeBytes: 2 * gib });
  });

  it("passes the lvcreate-option-class of the StorageClass to lvcreate (its --addtag shows in lvs)", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "tagged", "topolvm-tagged", "1Gi"));
    await e.objects.create(podManifest(namespace, "tagged", ["tagged"]));
    const node = await scheduledNode(e, namespace, "tagged");
    const { volume } = await boundClaim(e, namespace, "tagged");
    const lvName = (await logicalVolumeOf(e, volume))?.status?.volumeID;
    const lv = (await e.topolvm.node(node).lvs()).find((entry) => entry.name === lvName);
    expect(lv?.tags).toContain("e2e-option-class");
  });

  it("reports a thin class's overprovisioned capacity and schedules its PVC onto the node with the pool", async () => {
    const e = env();
    const thin = await waitFor(e, "the thin class's capacity annotation on node-3", () =>
      nodeAnnotationBytes(e, "node-3", `${capacityAnnotationPrefix}thin`),
    );
    expect(thin).toBe(thinPoolBytes * thinRatio);
    await e.objects.create(claimManifest(namespace, "thin", "topolvm-thin", "3Gi"));
    await e.objects.create(podManifest(namespace, "thin", ["thin"]));
    // kube-scheduler binds the pod only once its volume is provisioned: the node it chose is on the claim.
    const selected = await waitFor(
      e,
      "kube-scheduler to select a node for the thin claim",
      async () => (await readClaim(e, namespace, "thin")).metadata?.annotations?.["volume.kubernetes.io/selected-node"],
      { describe: () => describeEvents(e, namespace, "thin") },
    );
    expect(selected).toBe("node-3");
  });

  it("provisions a thin PVC in the class's pool where LVM can activate, and otherwise fails it with LVM's refusal", async () => {
    const e = env();
    if (e.topolvm.node("node-3").thinPools.thin === "active") {
      const { volume } = await boundClaim(e, namespace, "thin");
      const lvName = (await logicalVolumeOf(e, volume))?.status?.volumeID;
      const lv = (await e.topolvm.node("node-3").lvs()).find((entry) => entry.name === lvName);
      expect(lv).toMatchObject({ volumeGroup: "node-3-ssd", pool: "pool0", segmentType: "thin", sizeBytes: 3 * gib });
      return;
    }
    // The host kernel has no device-mapper: the pool exists in the VG's metadata
    // only, and lvcreate refuses thin volumes ("Can't create thin without using device-mapper kernel driver").
    const event = await waitFor(
      e,
      "a ProvisioningFailed event quoting LVM",
      async () =>
        (await eventsOf(e, namespace, "thin")).find(
          (entry) => entry.reason === "ProvisioningFailed" && (entry.message ?? "").includes("device-mapper"),
        ),
      { describe: () => describeEvents(e, namespace, "thin") },
    );
    expect(event.message).toMatch(/Can't create thin without using device-mapper kernel driver/);
    expect((await readClaim(e, namespace, "thin")).status?.phase).toBe("Pending");
    const thinLvs = (await e.topolvm.node("node-3").lvs()).filter((lv) => lv.segmentType === "thin");
    expect(thinLvs).toEqual([]);
  });

  it("resizes a PVC from 1 to 2 GiB (LV and PV), then deletes it (LV and LogicalVolume gone)", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "grow", "topolvm-provisioner", "1Gi"));
    await e.objects.create(podManifest(namespace, "grow", ["grow"]));
    const node = await scheduledNode(e, namespace, "grow");
    const { volume } = await boundClaim(e, namespace, "grow");
    const logicalVolume = await logicalVolumeOf(e, volume);
    const lvName = logicalVolume?.status?.volumeID ?? "";
    const started = Date.now();
    await e.core.patchNamespacedPersistentVolumeClaim(
      { namespace, name: "grow", body: { spec: { resources: { requests: { storage: "2Gi" } } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitFor(
      e,
      "the LV to grow to 2 GiB",
      async () => ((await e.topolvm.node(node).lvs()).find((lv) => lv.name === lvName)?.sizeBytes === 2 * gib ? true : undefined),
      { describe: () => describeEvents(e, namespace, "grow") },
    );
    const grown = await waitFor(e, "the PV to be 2Gi", async () => {
      const current = await e.core.readPersistentVolume({ name: volume.metadata?.name ?? "" });
      return current.spec?.capacity?.storage === "2Gi" ? current : undefined;
    });
    console.log(`resized 1 -> 2 GiB in ${elapsedMs(started)} ms`);
    expect(grown.spec?.capacity?.storage).toBe("2Gi");

    const deleted = Date.now();
    await forceDeletePod(e, namespace, "grow");
    await e.core.deleteNamespacedPersistentVolumeClaim({ namespace, name: "grow" });
    await waitFor(
      e,
      "the PVC, its PV, LogicalVolume and LV to be gone",
      async () => {
        const claims = (await e.core.listNamespacedPersistentVolumeClaim({ namespace })).items;
        const volumes = (await e.core.listPersistentVolume()).items;
        const logicalVolumes = await listLogicalVolumes(e);
        const lvs = await e.topolvm.node(node).lvs();
        const left =
          claims.some((claim) => claim.metadata?.name === "grow") ||
          volumes.some((pv) => pv.metadata?.name === volume.metadata?.name) ||
          logicalVolumes.some((lv) => lv.metadata.uid === logicalVolume?.metadata.uid) ||
          lvs.some((lv) => lv.name === lvName);
        return left ? undefined : true;
      },
      { describe: () => describeEvents(e, namespace, "grow") },
    );
    console.log(`PVC deleted to LV gone in ${elapsedMs(deleted)} ms`);
  });

  it("shows an LV made behind TopoLVM's back in the Node's capacity annotation within the Watch period", async () => {
    const e = env();
    const node = e.topolvm.node("node-1");
    const key = `${capacityAnnotationPrefix}ssd`;
    const before = await nodeAnnotationBytes(e, "node-1", key);
    expect(before).toBeGreaterThanOrEqual(gib);
    const started = Date.now();
    await runLvm(node.state, ["lvcreate", "-an", "-Zn", "--yes", "-L", "512m", "-n", "behind-the-back", "node-1-ssd"]);
    // lvmd re-reads LVM every minute and tells Watch at once; topolvm-node patches the annotation from Watch.
    const after = await waitFor(
      e,
      "the annotation to drop by 512 MiB",
      async () => {
        const value = await nodeAnnotationBytes(e, "node-1", key);
        return value === (before ?? 0) - 512 * 1024 ** 2 ? value : undefined;
      },
      { timeoutMs: 90_000, describe: async () => `annotation ${String(await nodeAnnotationBytes(e, "node-1", key))}, was ${String(before)}` },
    );
    console.log(`hand-made LV seen in the annotation after ${elapsedMs(started)} ms`);
    expect(after).toBe((before ?? 0) - 512 * 1024 ** 2);
  });

  it("leaves a PVC of a device-class no node has Pending, with an event naming the class", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "nosuch", "topolvm-nosuch", "1Gi"));
    await e.objects.create(podManifest(namespace, "nosuch", ["nosuch"]));
    const event = await waitFor(
      e,
      "a FailedScheduling event naming the device-class",
      async () => (await eventsOf(e, namespace, "nosuch")).find((entry) => (entry.message ?? "").includes("nosuch") && entry.reason === "FailedScheduling"),
      { describe: () => describeEvents(e, namespace, "nosuch") },
    );
    expect(event.message).toMatch(/TopoLVM: node has no capacity annotation for device-class "nosuch"/);
    expect((await readPod(e, namespace, "nosuch")).spec?.nodeName).toBeUndefined();
    expect((await readClaim(e, namespace, "nosuch")).status?.phase).toBe("Pending");
  });

  it("leaves a pod whose PVC is bigger than every node Pending with the extender's reason", async () => {
    const e = env();
    await e.objects.create(claimManifest(namespace, "huge", "topolvm-provisioner", "50Gi"));
    await e.objects.create(podManifest(namespace, "huge", ["huge"]));
    const event = await waitFor(
      e,
      "a FailedScheduling event from the extender",
      async () => (await eventsOf(e, namespace, "huge")).find((entry) => entry.reason === "FailedScheduling"),
      { describe: () => describeEvents(e, namespace, "huge") },
    );
    expect(event.message).toMatch(/0\/3 nodes are available: 3 TopoLVM: not enough free space in device-class "00default"/);
    const pod = await readPod(e, namespace, "huge");
    expect(pod.spec?.nodeName).toBeUndefined();
    expect(pod.status?.phase).toBe("Pending");
    expect((await readClaim(e, namespace, "huge")).status?.phase).toBe("Pending");
    // Nothing was provisioned for the claims that fit nowhere.
    const uids = await Promise.all(["huge", "nosuch"].map(async (name) => (await readClaim(e, namespace, name)).metadata?.uid ?? ""));
    const names = (await listLogicalVolumes(e)).map((lv) => lv.metadata.name);
    expect(names.filter((name) => uids.some((uid) => name === `pvc-${uid}`))).toEqual([]);
  });
});
