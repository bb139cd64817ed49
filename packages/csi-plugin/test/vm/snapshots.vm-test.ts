import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { CoreV1Api, CustomObjectsApi, KubernetesObjectApi, StorageV1Api, type V1PersistentVolume } from "@kubernetes/client-node";
import { unixSocketTransport } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import { deviceClassParameter, fsTypeParameter, topologyKey } from "@topolvm/proto/names";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { readFile, rm, statfs, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterPrerequisitesMissing, startCluster, startTopolvm, topolvmPrerequisitesMissing, type LocalCluster, type Topolvm } from "../../../../tools/cluster/src/index.js";
import { runLvm } from "../../../../tools/cluster/src/topolvm-lvm.js";
import type { LogicalVolume } from "../../src/logical-volume/logical-volume.js";
import { mountAt, readMountTable } from "../../src/node/mount-table.js";
import { boundClaim, claimManifest, createNamespace, describeEvents, gib, logicalVolumeOf, waitFor, type E2e } from "../support/e2e.js";

// Runs inside the tools/vm VM (started by ../snapshots.test.ts): the thin pool, snapshots, mkfs and mount need
// device-mapper. One local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with one node
// whose LVM activates, TopoLVM with a thick and a thin device-class, csi-provisioner, csi-resizer, csi-snapshotter
// and snapshot-controller. First the CSI sockets are driven directly (data written, snapshot, data changed,
// restore and clone read back), then the Kubernetes objects (VolumeSnapshot, restored and cloned PVCs).
const execFileAsync = promisify(execFile);
const nodeName = "topolvm-vm";
const namespace = "snapshots";
const snapshotClass = "topolvm-snapshot";
const Mode = csi.VolumeCapability_AccessMode_Mode;
const ext4: MessageInitShape<typeof csi.VolumeCapabilitySchema> = { accessType: { case: "mount", value: { fsType: "ext4" } }, accessMode: { mode: Mode.SINGLE_NODE_WRITER } };
/** The emulated CPUs start kube-apiserver and the Node.js processes slowly (see tools/csi-sanity's timings). */
const startTimeoutMs = 900_000;
const callOptions = { timeoutMs: 600_000 };

/** One LV as lvs reports it, with what it was made from. */
interface LvOrigin {
  name: string;
  origin: string;
  pool: string;
  sizeBytes: number;
}

/** The VolumeSnapshot fields the tests read. */
interface VolumeSnapshot {
  status?: { readyToUse?: boolean; boundVolumeSnapshotContentName?: string; restoreSize?: string; error?: { message?: string } };
}

interface VolumeSnapshotContent {
  status?: { snapshotHandle?: string };
}

describe("snapshots, restores and clones of thin volumes", { timeout: 900_000 }, () => {
  let cluster: LocalCluster | undefined;
  let topolvm: Topolvm | undefined;
  let e2e: E2e;
  let controller: Client<typeof csi.Controller>;
  let node: Client<typeof csi.Node>;
  let custom: CustomObjectsApi;
  let dir: string | undefined;
  let targets = 0;

  beforeAll(async () => {
    expect(process.env.TOPOLVM_IN_VM).toBe("1");
    expect([...clusterPrerequisitesMissing(), ...topolvmPrerequisitesMissing({ snapshots: true })]).toEqual([]);
    const started = Date.now();
    cluster = await startCluster({
      stateDir: mkdtempSync(join(tmpdir(), "snapshots-cluster-")),
      nodes: [{ name: nodeName, activation: true, deviceClasses: [{ name: "thick", sizeBytes: 4 * gib }, { name: "thin", sizeBytes: 6 * gib }] }],
      timeoutMs: startTimeoutMs,
      onProgress: (message) => {
        console.info(`${((Date.now() - started) / 1000).toFixed(0)} s: ${message}`);
      },
    });
    topolvm = await startTopolvm(cluster, {
      // Not "capacity-tracking": csi-provisioner publishes CSIStorageCapacity only for WaitForFirstConsumer classes,
      // and these claims bind at once (Immediate: no pod, and no kubelet, is needed to provision them).
      scheduling: "extender",
      deviceClasses: { [nodeName]: [{ name: "thick", default: true }, { name: "thin", thinPool: { name: "pool0", sizeBytes: 5 * gib, overprovisionRatio: 10 } }] },
      storageClasses: [
        { name: "topolvm-thin", deviceClass: "thin", fsType: "ext4", volumeBindingMode: "Immediate" },
        { name: "topolvm-thick", deviceClass: "thick", fsType: "ext4", volumeBindingMode: "Immediate" },
      ],
      snapshots: { volumeSnapshotClass: snapshotClass },
      readyTimeoutMs: startTimeoutMs,
    });
    console.info(`cluster and TopoLVM with the snapshotter ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const kube = cluster.kubeConfig;
    const running = cluster;
    const deployed = topolvm;
    custom = kube.makeApiClient(CustomObjectsApi);
    e2e = {
      cluster: running,
      topolvm: deployed,
      core: kube.makeApiClient(CoreV1Api),
      storage: kube.makeApiClient(StorageV1Api),
      objects: KubernetesObjectApi.makeApiClient(kube),
      custom,
      stop: async () => {
        await deployed.stop();
        await running.stop();
      },
    };
    await createNamespace(e2e, namespace);
    controller = createClient(csi.Controller, unixSocketTransport(deployed.controllerSocket));
    node = createClient(csi.Node, unixSocketTransport(deployed.node(nodeName).csiSocket));
    dir = mkdtempSync(join(tmpdir(), "snapshots-targets-"));
  }, startTimeoutMs * 2);

  afterAll(async () => {
    const targetsDir = dir;
    if (targetsDir !== undefined) {
      for (const entry of (await readMountTable()).filter((mount) => mount.mountPoint.startsWith(targetsDir)).reverse()) {
        await execFileAsync("umount", [entry.mountPoint]).catch(() => undefined);
      }
      await rm(targetsDir, { recursive: true, force: true });
    }
    try {
      await topolvm?.stop();
    } finally {
      await cluster?.stop();
    }
  }, 300_000);

  /** The LVs of the node's thin and thick volume groups, with their origin and pool. */
  async function lvs(): Promise<LvOrigin[]> {
    const state = e2e.topolvm.node(nodeName).state;
    const stdout = await runLvm(state, [
      ...["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o", "lv_name,origin,pool_lv,lv_size"],
      ...state.lvm.volumeGroups.map((volumeGroup) => volumeGroup.name),
    ]);
    const report = (JSON.parse(stdout) as { report: { lv: Record<string, string>[] }[] }).report.flatMap((entry) => entry.lv);
    return report.map((lv) => ({ name: lv.lv_name ?? "", origin: lv.origin ?? "", pool: lv.pool_lv ?? "", sizeBytes: Number(lv.lv_size ?? "0") }));
  }

  async function lvNamed(name: string): Promise<LvOrigin | undefined> {
    return (await lvs()).find((lv) => lv.name === name);
  }

  /** Publishes a volume at a new target, as kubelet does (the parent exists, the target does not). */
  async function publish(volumeId: string): Promise<string> {
    targets += 1;
    const parent = join(dir ?? tmpdir(), String(targets));
    mkdirSync(parent, { recursive: true });
    const target = join(parent, "mount");
    await node.nodePublishVolume({ volumeId, targetPath: target, volumeCapability: ext4 }, callOptions);
    expect(mountAt(await readMountTable(), target)?.fsType).toBe("ext4");
    return target;
  }

  /** Writes a file and flushes it to the LV, so a snapshot taken next holds it. */
  async function write(target: string, text: string): Promise<void> {
    await writeFile(join(target, "data.txt"), text);
    await execFileAsync("sync", ["-f", join(target, "data.txt")]);
  }

  const thinParameters = { [deviceClassParameter]: "thin", [fsTypeParameter]: "ext4" };
  const accessibility = { preferred: [{ segments: { [topologyKey]: nodeName } }] };

  describe("through the CSI sockets", () => {
    it("restores the data as it was at the snapshot and clones the current data", async () => {
      const source = await controller.createVolume(
        { name: "csi-source", capacityRange: { requiredBytes: BigInt(gib) }, volumeCapabilities: [ext4], parameters: thinParameters, accessibilityRequirements: accessibility },
        callOptions,
      );
      const sourceId = source.volume?.volumeId ?? "";
      const sourceTarget = await publish(sourceId);
      await write(sourceTarget, "at the snapshot");

      const { snapshot } = await controller.createSnapshot({ name: "csi-snapshot", sourceVolumeId: sourceId }, callOptions);
      expect(snapshot).toMatchObject({ sourceVolumeId: sourceId, sizeBytes: BigInt(gib), readyToUse: true });
      const snapshotId = snapshot?.snapshotId ?? "";
      expect(await lvNamed(snapshotId)).toMatchObject({ origin: sourceId, pool: "pool0" });
      await write(sourceTarget, "after the snapshot");

      const restored = await controller.createVolume(
        {
          name: "csi-restored",
          capacityRange: { requiredBytes: BigInt(2 * gib) },
          volumeCapabilities: [ext4],
          parameters: thinParameters,
          accessibilityRequirements: accessibility,
          volumeContentSource: { type: { case: "snapshot", value: { snapshotId } } },
        },
        callOptions,
      );
      expect(restored.volume).toMatchObject({ capacityBytes: BigInt(2 * gib), contentSource: { type: { case: "snapshot", value: { snapshotId } } } });
      const restoredId = restored.volume?.volumeId ?? "";
      expect(await lvNamed(restoredId)).toMatchObject({ origin: snapshotId, pool: "pool0", sizeBytes: 2 * gib });
      const restoredTarget = await publish(restoredId);
      expect(await readFile(join(restoredTarget, "data.txt"), "utf8")).toBe("at the snapshot");
      // Published, the filesystem of the bigger restore is grown to its LV.
      const restoredFs = await statfs(restoredTarget);
      expect(restoredFs.blocks * restoredFs.bsize).toBeGreaterThan(1.5 * gib);

      const clone = await controller.createVolume(
        {
          name: "csi-clone",
          capacityRange: { requiredBytes: BigInt(gib) },
          volumeCapabilities: [ext4],
          parameters: thinParameters,
          volumeContentSource: { type: { case: "volume", value: { volumeId: sourceId } } },
        },
        callOptions,
      );
      const cloneId = clone.volume?.volumeId ?? "";
      expect(await lvNamed(cloneId)).toMatchObject({ origin: sourceId, pool: "pool0" });
      const cloneTarget = await publish(cloneId);
      expect(await readFile(join(cloneTarget, "data.txt"), "utf8")).toBe("after the snapshot");
      expect(await readFile(join(sourceTarget, "data.txt"), "utf8")).toBe("after the snapshot");

      for (const [volumeId, target] of [
        [sourceId, sourceTarget],
        [restoredId, restoredTarget],
        [cloneId, cloneTarget],
      ] as const) {
        await node.nodeUnpublishVolume({ volumeId, targetPath: target }, callOptions);
      }
      await controller.deleteSnapshot({ snapshotId }, callOptions);
      expect(await lvNamed(snapshotId)).toBeUndefined();
      for (const volumeId of [restoredId, cloneId, sourceId]) {
        await controller.deleteVolume({ volumeId }, callOptions);
      }
      const left = (await lvs()).filter((lv) => [sourceId, snapshotId, restoredId, cloneId].includes(lv.name));
      expect(left).toEqual([]);
    });
  });

  describe("through VolumeSnapshot objects", () => {
    const snapshotApi = { group: "snapshot.storage.k8s.io", version: "v1", namespace };
    let sourceVolume: V1PersistentVolume;
    let snapshotHandle = "";

    async function readSnapshot(name: string): Promise<VolumeSnapshot> {
      return (await custom.getNamespacedCustomObject({ ...snapshotApi, plural: "volumesnapshots", name })) as VolumeSnapshot;
    }

    async function createSnapshot(name: string, claim: string): Promise<void> {
      await custom.createNamespacedCustomObject({
        ...snapshotApi,
        plural: "volumesnapshots",
        body: {
          apiVersion: "snapshot.storage.k8s.io/v1",
          kind: "VolumeSnapshot",
          metadata: { name, namespace },
          spec: { volumeSnapshotClassName: snapshotClass, source: { persistentVolumeClaimName: claim } },
        },
      });
    }

    async function createClaim(name: string, storageClass: string, storage: string, dataSource?: { apiGroup?: string; kind: string; name: string }): Promise<void> {
      const manifest = claimManifest(namespace, name, storageClass, storage);
      await e2e.objects.create({ ...manifest, spec: { ...manifest.spec, ...(dataSource === undefined ? {} : { dataSource }) } });
    }

    const describeSnapshot = (name: string) => async () => `${JSON.stringify((await readSnapshot(name)).status)} ${await describeEvents(e2e, namespace, name)}`;

    it("makes a VolumeSnapshot of a thin PVC ReadyToUse, with a snapshot LV of the source in the pool", async () => {
      await createClaim("source", "topolvm-thin", "1Gi");
      sourceVolume = (await boundClaim(e2e, namespace, "source", 600_000)).volume;
      await createSnapshot("snapshot", "source");
      const ready = await waitFor(e2e, "VolumeSnapshot snapshot to be ReadyToUse", async () => {
        const snapshot = await readSnapshot("snapshot");
        return snapshot.status?.readyToUse === true ? snapshot : undefined;
      }, { timeoutMs: 600_000, describe: describeSnapshot("snapshot") });
      expect(ready.status?.restoreSize).toBe("1Gi");
      const content = (await custom.getClusterCustomObject({
        group: "snapshot.storage.k8s.io",
        version: "v1",
        plural: "volumesnapshotcontents",
        name: ready.status?.boundVolumeSnapshotContentName ?? "",
      })) as VolumeSnapshotContent;
      snapshotHandle = content.status?.snapshotHandle ?? "";
      expect(await lvNamed(snapshotHandle)).toMatchObject({ origin: sourceVolume.spec?.csi?.volumeHandle, pool: "pool0", sizeBytes: gib });
    });

    it("binds a restore bigger than the snapshot (grown) and a clone of the PVC on the source's node, with LVs of the right origin", async () => {
      await createClaim("restored", "topolvm-thin", "2Gi", { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: "snapshot" });
      await createClaim("clone", "topolvm-thin", "1Gi", { kind: "PersistentVolumeClaim", name: "source" });
      const restored = (await boundClaim(e2e, namespace, "restored", 600_000)).volume;
      const clone = (await boundClaim(e2e, namespace, "clone", 600_000)).volume;
      for (const volume of [restored, clone]) {
        const terms = volume.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [];
        expect(terms.flatMap((term) => term.matchExpressions ?? []).flatMap((expression) => expression.values ?? [])).toEqual([nodeName]);
      }
      const restoredLv = await logicalVolumeOf(e2e, restored);
      const cloneLv = await logicalVolumeOf(e2e, clone);
      const sourceLv: LogicalVolume | undefined = await logicalVolumeOf(e2e, sourceVolume);
      expect(restoredLv?.spec).toMatchObject({ source: `snapshot-${(await snapshotUid("snapshot")).toLowerCase()}`, accessType: "rw", deviceClass: "thin" });
      expect(cloneLv?.spec).toMatchObject({ source: sourceLv?.spec.name, accessType: "rw" });
      expect(restored.spec?.capacity?.storage).toBe("2Gi");
      expect(await lvNamed(restored.spec?.csi?.volumeHandle ?? "")).toMatchObject({ origin: snapshotHandle, pool: "pool0", sizeBytes: 2 * gib });
      expect(await lvNamed(clone.spec?.csi?.volumeHandle ?? "")).toMatchObject({ origin: sourceVolume.spec?.csi?.volumeHandle, pool: "pool0", sizeBytes: gib });
    });

    /** The uid of a VolumeSnapshot, which csi-snapshotter names the CSI snapshot by (`snapshot-<uid>`). */
    async function snapshotUid(name: string): Promise<string> {
      const object = (await readSnapshot(name)) as VolumeSnapshot & { metadata?: { uid?: string } };
      return object.metadata?.uid ?? "";
    }

    it("removes the snapshot's LV with the VolumeSnapshot and leaves the source", async () => {
      await custom.deleteNamespacedCustomObject({ ...snapshotApi, plural: "volumesnapshots", name: "snapshot" });
      await waitFor(e2e, "the snapshot's LV to be removed", async () => ((await lvNamed(snapshotHandle)) === undefined ? true : undefined), { timeoutMs: 600_000 });
      expect(await lvNamed(sourceVolume.spec?.csi?.volumeHandle ?? "")).toMatchObject({ pool: "pool0" });
    });

    it("fails a VolumeSnapshot of a thick PVC, saying snapshots need a thin device-class", async () => {
      await createClaim("thick", "topolvm-thick", "1Gi");
      await boundClaim(e2e, namespace, "thick", 600_000);
      await createSnapshot("thick-snapshot", "thick");
      const message = await waitFor(e2e, "VolumeSnapshot thick-snapshot to report an error", async () => (await readSnapshot("thick-snapshot")).status?.error?.message, {
        timeoutMs: 600_000,
        describe: describeSnapshot("thick-snapshot"),
      });
      expect(message).toMatch(/Unimplemented/);
      expect(message).toMatch(/need a thin device-class/);
      expect((await readSnapshot("thick-snapshot")).status?.readyToUse).not.toBe(true);
    });
  });
});
