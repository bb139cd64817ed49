import { type Admission, type AdmissionRequest, allow } from "./admission-review.js";
import type { ClusterLookup } from "./cluster-lookup.js";
import { jsonPointer } from "./json-patch.js";
import { optionalArray, optionalObject, optionalString, requireObject, requireString } from "./object-shape.js";
import { isTopolvmStorageClass } from "./storage-class.js";
import { pvcFinalizer } from "@topolvm/proto/names";

/**
 * The PVC hook (`pvc-hook.topolvm.cybozu.com`, POST /pvc/mutate): adds the `topolvm.cybozu.com/pvc` finalizer to a
 * PVC of a TopoLVM StorageClass being created. kube-apiserver's DefaultStorageClass plugin runs before webhooks, so a
 * claim without storageClassName here has no class at all and is left alone, as is one whose StorageClass does not
 * exist (yet).
 */
export async function mutatePersistentVolumeClaim(request: AdmissionRequest, lookup: ClusterLookup): Promise<Admission> {
  if (request.operation !== "CREATE") {
    return allow(`operation ${request.operation} is not mutated`);
  }
  const claim = requireObject(request.object, "object");
  const metadata = optionalObject(claim.metadata, "metadata");
  const spec = requireObject(claim.spec, "spec");
  const storageClassName = optionalString(spec.storageClassName, "spec.storageClassName");
  if (storageClassName === undefined || storageClassName === "") {
    return allow("no StorageClass");
  }
  const storageClass = await lookup.storageClass(storageClassName);
  if (storageClass === undefined) {
    return allow(`StorageClass ${storageClassName} not found`);
  }
  if (!isTopolvmStorageClass(storageClass)) {
    return allow(`StorageClass ${storageClassName} is not TopoLVM's`);
  }
  const finalizers = optionalArray(metadata?.finalizers, "metadata.finalizers");
  if (finalizers?.some((finalizer, index) => requireString(finalizer, `metadata.finalizers[${index}]`) === pvcFinalizer)) {
    return allow("finalizer already present");
  }
  const patch =
    metadata === undefined
      ? [{ op: "add" as const, path: "/metadata", value: { finalizers: [pvcFinalizer] } }]
      : finalizers === undefined
        ? [{ op: "add" as const, path: jsonPointer("metadata", "finalizers"), value: [pvcFinalizer] }]
        : [{ op: "add" as const, path: jsonPointer("metadata", "finalizers", "-"), value: pvcFinalizer }];
  return { allowed: true, patch, reason: `adds finalizer ${pvcFinalizer}` };
}
