/** The CSI driver name; a StorageClass with this provisioner is a TopoLVM StorageClass. */
export const provisionerName = "topolvm.cybozu.com";

/** StorageClass parameter naming the device-class of its volumes. */
export const deviceClassParameter = "topolvm.cybozu.com/device-class";

/**
 * Device-class key used when a StorageClass names no device-class: the node side writes the free bytes of lvmd's
 * default class under this key (upstream's `00default`, a name no real device-class can take since it sorts first).
 */
export const defaultDeviceClassKey = "00default";

/** Prefix of the pod (and node) annotations carrying bytes per device-class. */
export const capacityAnnotationPrefix = "capacity.topolvm.cybozu.com/";

/** Extended resource the pod hook requests on the first container so kube-scheduler consults the extender. */
export const capacityResourceName = "topolvm.cybozu.com/capacity";

/** Finalizer the PVC hook adds to PVCs of TopoLVM StorageClasses. */
export const pvcFinalizer = "topolvm.cybozu.com/pvc";

/** Bytes counted for a claim that requests no storage (or zero), as upstream does. */
export const defaultClaimBytes = 1n << 30n;
