import { type Admission, type AdmissionRequest, allow, deny } from "./admission-review.js";
import type { ClaimInfo, ClusterLookup, StorageClassInfo } from "./cluster-lookup.js";
import { type JsonPatchOperation, type JsonValue, jsonPointer } from "./json-patch.js";
import {
  type JsonObject,
  optionalArray,
  optionalObject,
  optionalString,
  optionalStringMap,
  requireObject,
  requireString,
} from "./object-shape.js";
import { maxQuantityValue, parseQuantity, QuantityError } from "@topolvm/proto/quantity";
import { DeviceClassNameError, deviceClassOf, isTopolvmStorageClass, pickDefaultStorageClass } from "./storage-class.js";
import { capacityAnnotationPrefix, capacityResourceName, defaultClaimBytes } from "@topolvm/proto/names";

/** The value the pod hook gives the capacity resource: a marker for kube-scheduler, the bytes are in annotations. */
const capacityResourceValue = "1";

/** What a pod's volumes ask of TopoLVM: bytes per device-class, or a bound claim that pins the pod to its node. */
type PodClaims = { readonly bound: string } | { readonly bytesByDeviceClass: ReadonlyMap<string, bigint> };

/** A claim of the pod that TopoLVM provisions: its device-class and requested bytes. */
interface TopolvmClaim {
  readonly deviceClass: string;
  readonly bytes: bigint;
}

/**
 * The pod hook (`pod-hook.topolvm.cybozu.com`, POST /pod/mutate). For a pod being created, sums the storage its
 * unbound TopoLVM claims request (PVC volumes and generic ephemeral volumes; 1 GiB for a claim requesting none) per
 * device-class, and patches the pod to carry exactly those sums as `capacity.topolvm.cybozu.com/<device-class>`
 * annotations (stale ones removed, equal ones untouched) plus `topolvm.cybozu.com/capacity: "1"` in the first
 * container's requests and limits. The patch holds only differences, so a pod this hook already mutated gets none.
 * The pod is left as written when it has no unbound TopoLVM claim, or when one of its TopoLVM PVCs is already bound
 * (the pod must go to that PV's node; upstream does the same).
 */
export async function mutatePod(request: AdmissionRequest, lookup: ClusterLookup): Promise<Admission> {
  if (request.operation !== "CREATE") {
    return allow(`operation ${request.operation} is not mutated`);
  }
  const pod = requireObject(request.object, "object");
  const metadata = optionalObject(pod.metadata, "metadata");
  const spec = requireObject(pod.spec, "spec");
  const containers = optionalArray(spec.containers, "spec.containers") ?? [];
  const firstContainer = containers[0];
  if (firstContainer === undefined) {
    return deny(400, "spec.containers: a pod needs at least one container");
  }
  const volumes = optionalArray(spec.volumes, "spec.volumes") ?? [];
  if (volumes.length === 0) {
    return allow("no volumes");
  }
  // Pods created from templates (Deployments, Jobs) may not carry a namespace yet; the request always does.
  const podNamespace = optionalString(metadata?.namespace, "metadata.namespace") ?? "";
  const namespace = podNamespace === "" ? request.namespace : podNamespace;

  let claims: PodClaims;
  try {
    claims = await topolvmClaims(volumes, namespace, lookup);
  } catch (error) {
    if (error instanceof ClaimSizeError || error instanceof DeviceClassNameError) {
      return deny(400, error.message);
    }
    throw error;
  }
  if ("bound" in claims) {
    return allow(`${claims.bound} is already bound`);
  }
  if (claims.bytesByDeviceClass.size === 0) {
    return allow("no unbound TopoLVM claims");
  }
  for (const [deviceClass, bytes] of claims.bytesByDeviceClass) {
    if (bytes > maxQuantityValue) {
      return deny(400, `the pod's claims on device-class ${deviceClass} total ${bytes} bytes, more than ${maxQuantityValue}`);
    }
  }
  const patch = [
    ...annotationPatch(metadata, claims.bytesByDeviceClass),
    ...capacityResourcePatch(requireObject(firstContainer, "spec.containers[0]")),
  ];
  const summary = [...claims.bytesByDeviceClass].map(([deviceClass, bytes]) => `${deviceClass}=${bytes}`).join(", ");
  return { allowed: true, patch, reason: patch.length > 0 ? `requests ${summary}` : `already requests ${summary}` };
}

async function topolvmClaims(volumes: readonly unknown[], namespace: string, lookup: ClusterLookup): Promise<PodClaims> {
  const storageClasses = memoizedStorageClasses(lookup);
  const bytesByDeviceClass = new Map<string, bigint>();
  // One volume after another: a review has at most one API read in flight, and none once it has failed.
  for (const [index, entry] of volumes.entries()) {
    const field = `spec.volumes[${index}]`;
    const volume = requireObject(entry, field);
    const claimSource = optionalObject(volume.persistentVolumeClaim, `${field}.persistentVolumeClaim`);
    const template = optionalObject(
      optionalObject(volume.ephemeral, `${field}.ephemeral`)?.volumeClaimTemplate,
      `${field}.ephemeral.volumeClaimTemplate`,
    );
    let claim: TopolvmClaim | { readonly bound: string } | undefined;
    if (claimSource !== undefined) {
      const claimName = requireString(claimSource.claimName, `${field}.persistentVolumeClaim.claimName`);
      claim = await persistentVolumeClaim(namespace, claimName, lookup, storageClasses);
    } else if (template !== undefined) {
      claim = await ephemeralClaim(template, `${field}.ephemeral.volumeClaimTemplate`, storageClasses);
    }
    if (claim === undefined) {
      continue;
    }
    if ("bound" in claim) {
      return claim;
    }
    bytesByDeviceClass.set(claim.deviceClass, (bytesByDeviceClass.get(claim.deviceClass) ?? 0n) + claim.bytes);
  }
  return { bytesByDeviceClass };
}

interface StorageClassCache {
  /** The TopoLVM StorageClass of that name; undefined when it is missing or another provisioner's. */
  topolvm(name: string): Promise<StorageClassInfo | undefined>;
  /** The cluster default StorageClass when it is TopoLVM's. */
  topolvmDefault(): Promise<StorageClassInfo | undefined>;
}

/** A pod may name one StorageClass many times; each is looked up once per request. */
function memoizedStorageClasses(lookup: ClusterLookup): StorageClassCache {
  const byName = new Map<string, Promise<StorageClassInfo | undefined>>();
  let defaultClass: Promise<StorageClassInfo | undefined> | undefined;
  const onlyTopolvm = (storageClass: StorageClassInfo | undefined) =>
    storageClass !== undefined && isTopolvmStorageClass(storageClass) ? storageClass : undefined;
  return {
    topolvm(name) {
      let found = byName.get(name);
      if (found === undefined) {
        found = lookup.storageClass(name).then(onlyTopolvm);
        byName.set(name, found);
      }
      return found;
    },
    topolvmDefault() {
      defaultClass ??= lookup.storageClasses().then((all) => onlyTopolvm(pickDefaultStorageClass(all)));
      return defaultClass;
    },
  };
}

/**
 * A PVC volume. A PVC that does not exist yet or has no StorageClass is skipped: the pod may be created before its
 * claim, and TopoLVM cannot account for it then.
 */
async function persistentVolumeClaim(
  namespace: string,
  claimName: string,
  lookup: ClusterLookup,
  storageClasses: StorageClassCache,
): Promise<TopolvmClaim | { readonly bound: string } | undefined> {
  const claim: ClaimInfo | undefined = await lookup.persistentVolumeClaim(namespace, claimName);
  const storageClassName = claim?.spec?.storageClassName;
  if (claim === undefined || storageClassName === undefined || storageClassName === "") {
    return undefined;
  }
  const storageClass = await storageClasses.topolvm(storageClassName);
  if (storageClass === undefined) {
    return undefined;
  }
  const name = `PersistentVolumeClaim ${namespace}/${claimName}`;
  // The API server defaults a new claim's phase to Pending; anything else (Bound, Lost) has a PV on some node.
  const phase = claim.status?.phase ?? "Pending";
  if (phase !== "Pending") {
    return { bound: name };
  }
  return {
    deviceClass: deviceClassOf(storageClass),
    bytes: claimBytes(claim.spec?.resources?.requests?.storage, `${name} spec.resources.requests.storage`),
  };
}

/**
 * A generic ephemeral volume: its claim is created with the pod. A template without storageClassName gets the
 * cluster default class, as the DefaultStorageClass admission plugin will give the claim; "" means no class.
 */
async function ephemeralClaim(
  template: JsonObject,
  field: string,
  storageClasses: StorageClassCache,
): Promise<TopolvmClaim | undefined> {
  const spec = requireObject(template.spec, `${field}.spec`);
  const storageClassName = optionalString(spec.storageClassName, `${field}.spec.storageClassName`);
  if (storageClassName === "") {
    return undefined;
  }
  const storageClass =
    storageClassName === undefined
      ? await storageClasses.topolvmDefault()
      : await storageClasses.topolvm(storageClassName);
  if (storageClass === undefined) {
    return undefined;
  }
  const resources = optionalObject(spec.resources, `${field}.spec.resources`);
  const requests = optionalStringMap(resources?.requests, `${field}.spec.resources.requests`);
  return {
    deviceClass: deviceClassOf(storageClass),
    bytes: claimBytes(requests?.storage, `${field}.spec.resources.requests.storage`),
  };
}

/** A claim's storage request cannot be read; the message names the field. */
class ClaimSizeError extends Error {
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = "ClaimSizeError";
  }
}

/** Requested bytes of one claim: 1 GiB when it requests none or zero. */
function claimBytes(storage: string | undefined, field: string): bigint {
  if (storage === undefined) {
    return defaultClaimBytes;
  }
  let bytes: bigint;
  try {
    bytes = parseQuantity(storage);
  } catch (error) {
    throw error instanceof QuantityError ? new ClaimSizeError(field, error.message) : error;
  }
  if (bytes < 0n) {
    throw new ClaimSizeError(field, `must not be negative, got ${JSON.stringify(storage)}`);
  }
  return bytes === 0n ? defaultClaimBytes : bytes;
}

/** Sets the capacity annotations to exactly the computed bytes, removing ones for device-classes no longer asked. */
function annotationPatch(
  metadata: JsonObject | undefined,
  bytesByDeviceClass: ReadonlyMap<string, bigint>,
): JsonPatchOperation[] {
  const wanted = new Map(
    [...bytesByDeviceClass.keys()].sort().map((deviceClass) => [
      capacityAnnotationPrefix + deviceClass,
      String(bytesByDeviceClass.get(deviceClass)),
    ]),
  );
  const annotations = optionalStringMap(metadata?.annotations, "metadata.annotations");
  if (metadata === undefined) {
    return [{ op: "add", path: "/metadata", value: { annotations: Object.fromEntries(wanted) } }];
  }
  if (annotations === undefined) {
    return [{ op: "add", path: jsonPointer("metadata", "annotations"), value: Object.fromEntries(wanted) }];
  }
  const stale: JsonPatchOperation[] = Object.keys(annotations)
    .filter((key) => key.startsWith(capacityAnnotationPrefix) && !wanted.has(key))
    .sort()
    .map((key) => ({ op: "remove", path: jsonPointer("metadata", "annotations", key) }));
  const changed: JsonPatchOperation[] = [...wanted]
    .filter(([key, value]) => annotations[key] !== value)
    .map(([key, value]) => ({ op: "add", path: jsonPointer("metadata", "annotations", key), value }));
  return [...stale, ...changed];
}

/** Puts `topolvm.cybozu.com/capacity: "1"` in the first container's requests and limits. */
function capacityResourcePatch(container: JsonObject): JsonPatchOperation[] {
  const field = "spec.containers[0].resources";
  const resources = optionalObject(container.resources, field);
  const marker: JsonValue = { [capacityResourceName]: capacityResourceValue };
  if (resources === undefined) {
    return [{ op: "add", path: jsonPointer("spec", "containers", 0, "resources"), value: { requests: marker, limits: marker } }];
  }
  return (["requests", "limits"] as const).flatMap((list): JsonPatchOperation[] => {
    const current = optionalStringMap(resources[list], `${field}.${list}`);
    if (current === undefined) {
      return [{ op: "add", path: jsonPointer("spec", "containers", 0, "resources", list), value: marker }];
    }
    if (current[capacityResourceName] === capacityResourceValue) {
      return [];
    }
    return [
      {
        op: "add",
        path: jsonPointer("spec", "containers", 0, "resources", list, capacityResourceName),
        value: capacityResourceValue,
      },
    ];
  });
}
