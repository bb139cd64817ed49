// The cluster objects of a TopoLVM deployment, as the chart will write them: the namespace, the CSIDriver, the
// StorageClasses, the VolumeSnapshotClass and the MutatingWebhookConfiguration `topolvm-hook`. The LogicalVolume CRD is the file of
// @topolvm/csi-plugin (logicalVolumeCrdPath).
import {
  deviceClassParameter,
  driverName,
  fsTypeParameter,
  lvcreateOptionClassParameter,
  webhookIgnoreLabel,
} from "@topolvm/proto/names";

import { topolvmNamespace } from "./topolvm-flags.js";

/** An API object as written to the API server (server-side apply). */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; finalizers?: string[] };
  [field: string]: unknown;
}

/** topolvm-system, skipped by the webhooks as the chart's ignoreNamespaces do. */
export function namespaceManifest(): Manifest {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: topolvmNamespace, labels: { [webhookIgnoreLabel]: "ignore" } },
  };
}

/** The CSIDriver: no attach, pod info on mount, and storageCapacity for Storage Capacity Tracking. */
export function csiDriverManifest(storageCapacity: boolean): Manifest {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "CSIDriver",
    metadata: { name: driverName },
    spec: {
      attachRequired: false,
      podInfoOnMount: true,
      storageCapacity,
      volumeLifecycleModes: ["Persistent"],
    },
  };
}

/** A TopoLVM StorageClass. */
export interface StorageClassSpec {
  name: string;
  /** Parameter topolvm.cybozu.com/device-class; absent: the default class. */
  deviceClass?: string;
  /** Parameter topolvm.cybozu.com/lvcreate-option-class. */
  lvcreateOptionClass?: string;
  /** Parameter csi.storage.k8s.io/fstype; default xfs (the chart's). */
  fsType?: string;
  /** Default WaitForFirstConsumer. */
  volumeBindingMode?: "WaitForFirstConsumer" | "Immediate";
  /** Default true. */
  allowVolumeExpansion?: boolean;
  /** Default Delete. */
  reclaimPolicy?: "Delete" | "Retain";
}

/** The chart's default StorageClass: `topolvm-provisioner`, xfs, WaitForFirstConsumer, expansion allowed. */
export const defaultStorageClass: StorageClassSpec = { name: "topolvm-provisioner" };

export function storageClassManifest(spec: StorageClassSpec): Manifest {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name: spec.name },
    provisioner: driverName,
    parameters: {
      [fsTypeParameter]: spec.fsType ?? "xfs",
      ...(spec.deviceClass === undefined ? {} : { [deviceClassParameter]: spec.deviceClass }),
      ...(spec.lvcreateOptionClass === undefined ? {} : { [lvcreateOptionClassParameter]: spec.lvcreateOptionClass }),
    },
    volumeBindingMode: spec.volumeBindingMode ?? "WaitForFirstConsumer",
    allowVolumeExpansion: spec.allowVolumeExpansion ?? true,
    reclaimPolicy: spec.reclaimPolicy ?? "Delete",
  };
}

/** A VolumeSnapshotClass of TopoLVM's driver; a snapshot's LV goes with its VolumeSnapshot (deletionPolicy Delete). */
export function volumeSnapshotClassManifest(name: string): Manifest {
  return {
    apiVersion: "snapshot.storage.k8s.io/v1",
    kind: "VolumeSnapshotClass",
    metadata: { name },
    driver: driverName,
    deletionPolicy: "Delete",
  };
}

/**
 * `topolvm-hook`: the pod hook (failurePolicy Fail, called only for pods with claims) and the PVC hook (Ignore),
 * skipping namespaces labelled `topolvm.cybozu.com/webhook: ignore` and kube-system. `base` is where the webhook
 * serves: the local cluster has no Services, so kube-apiserver calls it by URL (the chart names the Service).
 */
export function webhookConfigurationManifest(base: string, caBundle: string): Manifest {
  const namespaceSelector = {
    matchExpressions: [
      { key: webhookIgnoreLabel, operator: "NotIn", values: ["ignore"] },
      { key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system", topolvmNamespace] },
    ],
  };
  const common = {
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    matchPolicy: "Equivalent",
    timeoutSeconds: 10,
    namespaceSelector,
  };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "topolvm-hook" },
    webhooks: [
      {
        ...common,
        name: `pod-hook.${driverName}`,
        failurePolicy: "Fail",
        clientConfig: { url: `${base}/pod/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
        matchConditions: [
          {
            name: "has-claims",
            expression:
              "has(object.spec.volumes) && object.spec.volumes.exists(v, has(v.persistentVolumeClaim) || has(v.ephemeral))",
          },
        ],
      },
      {
        ...common,
        name: `pvc-hook.${driverName}`,
        failurePolicy: "Ignore",
        clientConfig: { url: `${base}/pvc/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["persistentvolumeclaims"] }],
      },
    ],
  };
}
