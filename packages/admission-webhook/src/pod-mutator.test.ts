import { describe, expect, it } from "vitest";
import { applyJsonPatch } from "../test/support/apply-json-patch.js";
import { claim, fixedLookup, storageClass } from "../test/support/cluster-fixtures.js";
import type { Admission, AdmissionRequest } from "./admission-review.js";
import { ObjectShapeError } from "./object-shape.js";
import { mutatePod } from "./pod-mutator.js";

const gi = 1n << 30n;
const lookup = fixedLookup(
  [
    storageClass("ssd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "ssd" }),
    storageClass("hdd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "hdd" }),
    storageClass("topolvm-default", "topolvm.cybozu.com"),
    storageClass("empty-class", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "" }),
    storageClass("bad-class", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "a/b" }),
    storageClass("nfs", "example.com/nfs"),
  ],
  [
    claim("app", "data", "ssd", "10Gi"),
    claim("app", "logs", "ssd", "5Gi"),
    claim("app", "archive", "hdd", "1G"),
    claim("app", "no-request", "ssd", undefined),
    claim("app", "zero", "ssd", "0"),
    claim("app", "plain", "topolvm-default", "2Gi"),
    claim("app", "empty-dc", "empty-class", "3Gi"),
    claim("app", "bound", "ssd", "1Gi", "Bound"),
    claim("app", "lost", "ssd", "1Gi", "Lost"),
    claim("app", "nfs-bound", "nfs", "1Gi", "Bound"),
    claim("app", "nfs", "nfs", "1Gi"),
    claim("app", "no-class", undefined, "1Gi"),
    claim("app", "missing-class", "gone", "1Gi"),
    claim("app", "bad-dc", "bad-class", "1Gi"),
    claim("other", "data", "ssd", "7Gi"),
  ],
);

type Volume = Record<string, unknown>;

const pvcVolume = (claimName: string): Volume => ({ name: claimName, persistentVolumeClaim: { claimName } });
const ephemeralVolume = (name: string, spec: Record<string, unknown>): Volume => ({
  name,
  ephemeral: { volumeClaimTemplate: { spec: { accessModes: ["ReadWriteOnce"], ...spec } } },
});

function pod(volumes: Volume[], extra: { annotations?: Record<string, string>; resources?: unknown } = {}) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "app", ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      containers: [
        { name: "main", image: "nginx", ...(extra.resources === undefined ? {} : { resources: extra.resources }) },
        { name: "sidecar", image: "busybox" },
      ],
      volumes,
    },
  };
}

function request(object: unknown, operation = "CREATE", namespace = "app"): AdmissionRequest {
  return { uid: "u1", kind: { group: "", version: "v1", kind: "Pod" }, operation, namespace, object };
}

function patchOf(admission: Admission) {
  if (!admission.allowed) {
    throw new Error(`expected an allowed admission, got denied: ${admission.message}`);
  }
  return admission.patch;
}

/** Runs the hook and applies its patch, as kube-apiserver would. */
async function admit(object: unknown, namespace = "app") {
  const admission = await mutatePod(request(object, "CREATE", namespace), lookup);
  return applyJsonPatch(object, patchOf(admission)) as ReturnType<typeof pod>;
}

const capacityMarker = { "topolvm.cybozu.com/capacity": "1" };

describe("mutatePod", () => {
  it("annotates the pod with the bytes of an unbound TopoLVM PVC and requests the capacity resource", async () => {
    const mutated = await admit(pod([pvcVolume("data")]));
    expect(mutated.metadata).toEqual({
      name: "web",
      namespace: "app",
      annotations: { "capacity.topolvm.cybozu.com/ssd": String(10n * gi) },
    });
    expect(mutated.spec.containers[0]).toEqual({
      name: "main",
      image: "nginx",
      resources: { requests: capacityMarker, limits: capacityMarker },
    });
    expect(mutated.spec.containers[1]).toEqual({ name: "sidecar", image: "busybox" });
  });

  it("escapes the slash of annotation and resource keys in patch paths", async () => {
    const admission = await mutatePod(
      request(pod([pvcVolume("data")], { annotations: { team: "a" }, resources: { requests: {}, limits: {} } })),
      lookup,
    );
    expect(patchOf(admission)).toEqual([
      { op: "add", path: "/metadata/annotations/capacity.topolvm.cybozu.com~1ssd", value: "10737418240" },
      { op: "add", path: "/spec/containers/0/resources/requests/topolvm.cybozu.com~1capacity", value: "1" },
      { op: "add", path: "/spec/containers/0/resources/limits/topolvm.cybozu.com~1capacity", value: "1" },
    ]);
  });

  it("sums claims per device-class across PVC and ephemeral volumes", async () => {
    const mutated = await admit(
      pod([
        pvcVolume("data"),
        pvcVolume("logs"),
        pvcVolume("archive"),
        ephemeralVolume("scratch", { storageClassName: "hdd", resources: { requests: { storage: "1.5Gi" } } }),
        pvcVolume("plain"),
        { name: "config", configMap: { name: "cfg" } },
        { name: "tmp", emptyDir: {} },
      ]),
    );
    expect(mutated.metadata).toMatchObject({
      annotations: {
        "capacity.topolvm.cybozu.com/ssd": String(15n * gi),
        "capacity.topolvm.cybozu.com/hdd": String(1_000_000_000n + 3n * (gi / 2n)),
        "capacity.topolvm.cybozu.com/00default": String(2n * gi),
      },
    });
  });

  it("counts 1 GiB for a claim that requests no storage or zero", async () => {
    const mutated = await admit(
      pod([pvcVolume("no-request"), pvcVolume("zero"), ephemeralVolume("e", { storageClassName: "hdd" })]),
    );
    expect(mutated.metadata).toMatchObject({
      annotations: { "capacity.topolvm.cybozu.com/ssd": String(2n * gi), "capacity.topolvm.cybozu.com/hdd": String(gi) },
    });
  });

  it("rounds fractional bytes up", async () => {
    const mutated = await admit(
      pod([ephemeralVolume("e", { storageClassName: "hdd", resources: { requests: { storage: "1500m" } } })]),
    );
    expect(mutated.metadata).toMatchObject({ annotations: { "capacity.topolvm.cybozu.com/hdd": "2" } });
  });

  it("uses the 00default key when the StorageClass names no device-class or an empty one", async () => {
    const mutated = await admit(pod([pvcVolume("plain"), pvcVolume("empty-dc")]));
    expect(mutated.metadata).toMatchObject({
      annotations: { "capacity.topolvm.cybozu.com/00default": String(5n * gi) },
    });
  });

  it("leaves the whole pod unchanged when one of its TopoLVM PVCs is already bound", async () => {
    for (const bound of ["bound", "lost"]) {
      const admission = await mutatePod(request(pod([pvcVolume("data"), pvcVolume(bound)])), lookup);
      expect(admission).toEqual({ allowed: true, patch: [], reason: `PersistentVolumeClaim app/${bound} is already bound` });
    }
  });

  it("ignores bound claims of other provisioners", async () => {
    const mutated = await admit(pod([pvcVolume("nfs-bound"), pvcVolume("data")]));
    expect(mutated.metadata).toMatchObject({ annotations: { "capacity.topolvm.cybozu.com/ssd": String(10n * gi) } });
  });

  it.each([
    ["another provisioner", [pvcVolume("nfs")]],
    ["a PVC that does not exist yet", [pvcVolume("later")]],
    ["a PVC without a StorageClass", [pvcVolume("no-class")]],
    ["a PVC whose StorageClass is missing", [pvcVolume("missing-class")]],
    ["an ephemeral volume of another provisioner", [ephemeralVolume("e", { storageClassName: "nfs" })]],
    ["an ephemeral volume of a missing StorageClass", [ephemeralVolume("e", { storageClassName: "gone" })]],
    ["an ephemeral volume with the empty class", [ephemeralVolume("e", { storageClassName: "" })]],
    ["an ephemeral volume without a class and no default class", [ephemeralVolume("e", {})]],
    ["only other volume kinds", [{ name: "tmp", emptyDir: {} }]],
  ])("allows a pod with %s without a patch", async (_, volumes) => {
    const admission = await mutatePod(request(pod(volumes)), lookup);
    expect(admission).toMatchObject({ allowed: true, patch: [] });
  });

  it("allows a pod without volumes without a patch", async () => {
    const object = pod([]);
    delete (object.spec as { volumes?: unknown }).volumes;
    expect(await mutatePod(request(object), lookup)).toEqual({ allowed: true, patch: [], reason: "no volumes" });
  });

  it("gives an ephemeral volume without a class the cluster default class, newest default first", async () => {
    const defaults = fixedLookup([
      storageClass("old-default", "example.com/nfs", {}, { "storageclass.kubernetes.io/is-default-class": "true" }),
      storageClass(
        "new-default",
        "topolvm.cybozu.com",
        { "topolvm.cybozu.com/device-class": "nvme" },
        { "storageclass.kubernetes.io/is-default-class": "true" },
        "2026-06-01T00:00:00Z",
      ),
    ]);
    const object = pod([ephemeralVolume("a", {}), ephemeralVolume("b", { resources: { requests: { storage: "2Gi" } } })]);
    const admission = await mutatePod(request(object), defaults);
    const mutated = applyJsonPatch(object, patchOf(admission));
    expect(mutated).toMatchObject({ metadata: { annotations: { "capacity.topolvm.cybozu.com/nvme": String(3n * gi) } } });
    expect(defaults.calls.storageClasses).toBe(1);
  });

  it("looks up each StorageClass once per pod", async () => {
    const counting = fixedLookup(
      [storageClass("ssd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "ssd" })],
      [claim("app", "a", "ssd", "1Gi"), claim("app", "b", "ssd", "1Gi")],
    );
    await mutatePod(request(pod([pvcVolume("a"), pvcVolume("b"), ephemeralVolume("c", { storageClassName: "ssd" })])), counting);
    expect(counting.calls).toEqual({ storageClass: 1, storageClasses: 0, claim: 2 });
  });

  it("looks PVCs up in the request's namespace when the pod has none", async () => {
    const object = pod([pvcVolume("data")]);
    delete (object.metadata as { namespace?: string }).namespace;
    const mutated = await admit(object, "other");
    expect(mutated.metadata).toMatchObject({ annotations: { "capacity.topolvm.cybozu.com/ssd": String(7n * gi) } });
  });

  describe("pods that already carry the annotations", () => {
    it("produces no patch for a pod this hook already mutated", async () => {
      const once = await admit(pod([pvcVolume("data"), pvcVolume("archive")]));
      const again = await mutatePod(request(once), lookup);
      expect(again).toMatchObject({ allowed: true, patch: [] });
      expect(again.allowed && again.reason).toMatch(/^already requests/);
    });

    it("recomputes the annotations, replacing wrong values and removing stale device-classes", async () => {
      const object = pod([pvcVolume("data")], {
        annotations: {
          "capacity.topolvm.cybozu.com/ssd": "1",
          "capacity.topolvm.cybozu.com/hdd": "999",
          "example.com/keep": "yes",
        },
        resources: { requests: { cpu: "1", "topolvm.cybozu.com/capacity": "5" }, limits: { memory: "1Gi" } },
      });
      const admission = await mutatePod(request(object), lookup);
      expect(patchOf(admission)).toEqual([
        { op: "remove", path: "/metadata/annotations/capacity.topolvm.cybozu.com~1hdd" },
        { op: "add", path: "/metadata/annotations/capacity.topolvm.cybozu.com~1ssd", value: "10737418240" },
        { op: "add", path: "/spec/containers/0/resources/requests/topolvm.cybozu.com~1capacity", value: "1" },
        { op: "add", path: "/spec/containers/0/resources/limits/topolvm.cybozu.com~1capacity", value: "1" },
      ]);
      const mutated = applyJsonPatch(object, patchOf(admission)) as ReturnType<typeof pod>;
      expect(mutated.metadata.annotations).toEqual({
        "capacity.topolvm.cybozu.com/ssd": "10737418240",
        "example.com/keep": "yes",
      });
      expect(mutated.spec.containers[0]).toMatchObject({
        resources: { requests: { cpu: "1", ...capacityMarker }, limits: { memory: "1Gi", ...capacityMarker } },
      });
    });

    it("keeps the annotations as written when the pod has no unbound TopoLVM claim", async () => {
      const object = pod([pvcVolume("nfs")], { annotations: { "capacity.topolvm.cybozu.com/ssd": "1" } });
      expect(await mutatePod(request(object), lookup)).toMatchObject({ allowed: true, patch: [] });
    });
  });

  it("adds the missing list when only requests or only limits exist", async () => {
    const mutated = await admit(pod([pvcVolume("data")], { resources: { requests: { cpu: "100m" } } }));
    expect(mutated.spec.containers[0]).toMatchObject({
      resources: { requests: { cpu: "100m", ...capacityMarker }, limits: capacityMarker },
    });
  });

  it("does not mutate other operations", async () => {
    expect(await mutatePod(request(pod([pvcVolume("data")]), "UPDATE"), lookup)).toMatchObject({ allowed: true, patch: [] });
  });

  it("denies a pod without containers", async () => {
    const object = pod([pvcVolume("data")]);
    object.spec.containers = [];
    expect(await mutatePod(request(object), lookup)).toEqual({
      allowed: false,
      code: 400,
      message: "spec.containers: a pod needs at least one container",
    });
  });

  it.each([
    ["abc", /spec\.volumes\[0\]\.ephemeral\.volumeClaimTemplate\.spec\.resources\.requests\.storage: invalid quantity "abc"/],
    ["-1Gi", /requests\.storage: must not be negative, got "-1Gi"/],
  ])("denies an ephemeral volume requesting %j, naming the field", async (storage, message) => {
    const admission = await mutatePod(
      request(pod([ephemeralVolume("e", { storageClassName: "ssd", resources: { requests: { storage } } })])),
      lookup,
    );
    expect(admission).toMatchObject({ allowed: false, code: 400, message: expect.stringMatching(message) as unknown });
  });

  it("denies a pod whose StorageClass names a device-class unfit for an annotation key", async () => {
    const admission = await mutatePod(request(pod([pvcVolume("bad-dc")])), lookup);
    expect(admission).toMatchObject({
      allowed: false,
      code: 400,
      message: expect.stringContaining('StorageClass "bad-class" parameter topolvm.cybozu.com/device-class="a/b"') as unknown,
    });
  });

  it("denies claims whose sum leaves the int64 range", async () => {
    const huge = { storageClassName: "ssd", resources: { requests: { storage: "7Ei" } } };
    const admission = await mutatePod(request(pod([ephemeralVolume("a", huge), ephemeralVolume("b", huge)])), lookup);
    expect(admission).toMatchObject({ allowed: false, code: 400, message: expect.stringContaining("device-class ssd total") as unknown });
  });

  it.each([
    [{ spec: { containers: [{}], volumes: {} } }, "spec.volumes: expected an array, got an object"],
    [{ spec: { containers: [{}], volumes: [{ persistentVolumeClaim: { claimName: 3 } }] } }, "spec.volumes[0].persistentVolumeClaim.claimName: expected a string, got number 3"],
    [{ spec: "x" }, 'spec: expected an object, got string "x"'],
    [{ metadata: [], spec: { containers: [{}], volumes: [pvcVolume("data")] } }, "metadata: expected an object, got an array"],
  ])("rejects a malformed pod naming the field: %j", async (object, message) => {
    const rejection = mutatePod(request(object), lookup);
    await expect(rejection).rejects.toBeInstanceOf(ObjectShapeError);
    await expect(rejection).rejects.toThrow(message);
  });
});
