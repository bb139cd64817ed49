import { describe, expect, it } from "vitest";
import { applyJsonPatch } from "../test/support/apply-json-patch.js";
import { fixedLookup, storageClass } from "../test/support/cluster-fixtures.js";
import type { AdmissionRequest } from "./admission-review.js";
import { ObjectShapeError } from "./object-shape.js";
import { mutatePersistentVolumeClaim } from "./pvc-mutator.js";

const lookup = fixedLookup([
  storageClass("topolvm", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "ssd" }),
  storageClass("nfs", "example.com/nfs"),
]);

function claim(storageClassName: string | undefined, finalizers?: unknown[]) {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data", namespace: "app", ...(finalizers === undefined ? {} : { finalizers }) },
    spec: {
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: "1Gi" } },
      ...(storageClassName === undefined ? {} : { storageClassName }),
    },
  };
}

function request(object: unknown, operation = "CREATE"): AdmissionRequest {
  return { uid: "u1", kind: { group: "", version: "v1", kind: "PersistentVolumeClaim" }, operation, namespace: "app", object };
}

describe("mutatePersistentVolumeClaim", () => {
  it("adds the finalizer list to a TopoLVM claim without finalizers", async () => {
    const object = claim("topolvm");
    const admission = await mutatePersistentVolumeClaim(request(object), lookup);
    expect(admission).toMatchObject({
      allowed: true,
      patch: [{ op: "add", path: "/metadata/finalizers", value: ["topolvm.cybozu.com/pvc"] }],
    });
    expect(admission.allowed && applyJsonPatch(object, admission.patch)).toMatchObject({
      metadata: { finalizers: ["topolvm.cybozu.com/pvc"] },
    });
  });

  it("appends the finalizer after existing ones", async () => {
    const object = claim("topolvm", ["kubernetes.io/pvc-protection"]);
    const admission = await mutatePersistentVolumeClaim(request(object), lookup);
    expect(admission).toMatchObject({
      allowed: true,
      patch: [{ op: "add", path: "/metadata/finalizers/-", value: "topolvm.cybozu.com/pvc" }],
    });
    expect(admission.allowed && applyJsonPatch(object, admission.patch)).toMatchObject({
      metadata: { finalizers: ["kubernetes.io/pvc-protection", "topolvm.cybozu.com/pvc"] },
    });
  });

  it.each([
    ["already carries the finalizer", claim("topolvm", ["topolvm.cybozu.com/pvc"])],
    ["belongs to another provisioner", claim("nfs")],
    ["names a StorageClass that does not exist", claim("gone")],
    ["has no StorageClass", claim(undefined)],
    ["has the empty StorageClass", claim("")],
  ])("allows a claim that %s without a patch", async (_, object) => {
    expect(await mutatePersistentVolumeClaim(request(object), lookup)).toMatchObject({ allowed: true, patch: [] });
  });

  it("does not mutate other operations", async () => {
    expect(await mutatePersistentVolumeClaim(request(claim("topolvm"), "UPDATE"), lookup)).toMatchObject({
      allowed: true,
      patch: [],
    });
  });

  it.each([
    [{ metadata: {}, spec: { storageClassName: 5 } }, "spec.storageClassName: expected a string, got number 5"],
    [{ metadata: { finalizers: [7] }, spec: { storageClassName: "topolvm" } }, "metadata.finalizers[0]: expected a string, got number 7"],
    [{ metadata: {} }, "spec: expected an object, got nothing"],
  ])("rejects a malformed claim naming the field: %j", async (object, message) => {
    const rejection = mutatePersistentVolumeClaim(request(object), lookup);
    await expect(rejection).rejects.toBeInstanceOf(ObjectShapeError);
    await expect(rejection).rejects.toThrow(message);
  });
});
