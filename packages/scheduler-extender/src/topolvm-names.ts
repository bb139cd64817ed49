/** Prefix of the capacity annotations: on a Node the free bytes of a device-class, on a Pod the bytes it requests. */
export const capacityAnnotationPrefix = "capacity.topolvm.cybozu.com/";

/**
 * Device-class key under which the default device-class is annotated (upstream's `00default`): the pod webhook uses it
 * for a StorageClass without a device-class parameter and `topolvm-node` writes the default class's free bytes under
 * it, so a divisor for the default class is configured as `divisors["00default"]`.
 */
export const defaultDeviceClassKey = "00default";

/** Extended resource the pod webhook adds to TopoLVM pods; kube-scheduler calls the extender only for pods with it. */
export const capacityResourceName = "topolvm.cybozu.com/capacity";
