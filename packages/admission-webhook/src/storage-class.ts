import type { StorageClassInfo } from "./cluster-lookup.js";
import { defaultDeviceClassKey, deviceClassParameter, provisionerName } from "@topolvm/proto/names";

/** The annotations that make a StorageClass the cluster default (the beta one is still honoured). */
export const defaultClassAnnotations = [
  "storageclass.kubernetes.io/is-default-class",
  "storageclass.beta.kubernetes.io/is-default-class",
] as const;

/** The name segment of an annotation key (`capacity.topolvm.cybozu.com/<name>`): Kubernetes' qualified-name rule. */
const annotationNamePattern = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const maxAnnotationNameLength = 63;

/** A StorageClass parameter cannot become part of a pod annotation key. */
export class DeviceClassNameError extends Error {
  constructor(storageClassName: string, deviceClass: string) {
    super(
      `StorageClass ${JSON.stringify(storageClassName)} parameter ${deviceClassParameter}=${JSON.stringify(deviceClass)} ` +
        `is not a valid device-class name (at most ${maxAnnotationNameLength} letters, digits, '-', '_' or '.', ` +
        "starting and ending with a letter or digit)",
    );
    this.name = "DeviceClassNameError";
  }
}

/** Whether volumes of this StorageClass are provisioned by TopoLVM. */
export function isTopolvmStorageClass(storageClass: StorageClassInfo): boolean {
  return storageClass.provisioner === provisionerName;
}

/**
 * The device-class key of a TopoLVM StorageClass: its device-class parameter, or `00default` when the parameter is
 * absent or empty (an empty name would make the annotation key `capacity.topolvm.cybozu.com/`, which Kubernetes
 * rejects, so it means the default class as lvmd treats it).
 */
export function deviceClassOf(storageClass: StorageClassInfo): string {
  const deviceClass = storageClass.parameters?.[deviceClassParameter];
  if (deviceClass === undefined || deviceClass === "") {
    return defaultDeviceClassKey;
  }
  if (deviceClass.length > maxAnnotationNameLength || !annotationNamePattern.test(deviceClass)) {
    throw new DeviceClassNameError(storageClass.metadata?.name ?? "", deviceClass);
  }
  return deviceClass;
}

/**
 * The StorageClass Kubernetes' DefaultStorageClass admission plugin would give a claim without one: among the
 * classes annotated as default, the newest, ties broken by name (as kube-apiserver does since 1.26).
 */
export function pickDefaultStorageClass(storageClasses: readonly StorageClassInfo[]): StorageClassInfo | undefined {
  const defaults = storageClasses.filter((storageClass) =>
    defaultClassAnnotations.some((key) => storageClass.metadata?.annotations?.[key] === "true"),
  );
  return defaults.sort(newestFirstThenByName)[0];
}

function newestFirstThenByName(a: StorageClassInfo, b: StorageClassInfo): number {
  const byAge = creationTimeMs(b) - creationTimeMs(a);
  return byAge !== 0 ? byAge : (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "");
}

/** The creation time (RFC 3339, as the API sends it); 0 when absent or unreadable, so such classes sort last. */
function creationTimeMs(storageClass: StorageClassInfo): number {
  const timestamp = storageClass.metadata?.creationTimestamp;
  if (timestamp === undefined) {
    return 0;
  }
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? 0 : ms;
}
