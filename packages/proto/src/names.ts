/**
 * The names that are part of TopoLVM's contract (DESIGN.md §1): operators' manifests, upstream tools and every
 * component of this repository use them, so they are written once, here. Hand-written; no generated code behind it.
 */

/** The CSI driver name and the API group of the LogicalVolume resource; a StorageClass with this provisioner is TopoLVM's. */
export const driverName = "topolvm.cybozu.com";

/** The provisioner of TopoLVM StorageClasses (the CSI driver name). */
export const provisionerName = driverName;

/** Topology key on Nodes and in PV node affinity: its value is the node name. */
export const topologyKey = "topology.topolvm.cybozu.com/node";

/** StorageClass parameter naming the device-class of its volumes (absent or empty: lvmd's default class). */
export const deviceClassParameter = "topolvm.cybozu.com/device-class";

/** StorageClass parameter naming one of lvmd's lvcreate-option-classes. */
export const lvcreateOptionClassParameter = "topolvm.cybozu.com/lvcreate-option-class";

/** StorageClass parameter (set by the provisioner from the StorageClass) carrying the filesystem type. */
export const fsTypeParameter = "csi.storage.k8s.io/fstype";

/**
 * Device-class key used when a StorageClass names no device-class: the pod webhook uses it for such claims and
 * `topolvm-node` writes the default class's free bytes under it (upstream's `00default`, a name no real device-class
 * takes since it sorts first), so a divisor for the default class is configured as `divisors["00default"]`.
 */
export const defaultDeviceClassKey = "00default";

/** Prefix of the capacity annotations: on a Node the free bytes of a device-class, on a Pod the bytes it requests. */
export const capacityAnnotationPrefix = "capacity.topolvm.cybozu.com/";

/** Extended resource the pod webhook adds to TopoLVM pods; kube-scheduler calls the extender only for pods with it. */
export const capacityResourceName = "topolvm.cybozu.com/capacity";

/** Finalizer the PVC hook adds to PVCs of TopoLVM StorageClasses. */
export const pvcFinalizer = "topolvm.cybozu.com/pvc";

/** Finalizer `topolvm-node` adds to its Node, so the controller can clean up the node's volumes when it is deleted. */
export const nodeFinalizer = "topolvm.cybozu.com/node";

/** Finalizer `topolvm-node` adds to LogicalVolumes, removed once their LV is gone. */
export const logicalVolumeFinalizer = "topolvm.cybozu.com/logicalvolume";

/** Namespace label whose value `ignore` makes both webhooks skip the namespace. */
export const webhookIgnoreLabel = "topolvm.cybozu.com/webhook";

/** Annotation the controller sets on LogicalVolumes of a deleted Node before it releases them: the node must not act. */
export const pendingDeletionAnnotation = "topolvm.cybozu.com/pendingdeletion";

/** Annotation set on a LogicalVolume when its size is raised, so the node reconciles the resize. */
export const resizeRequestedAtAnnotation = "topolvm.cybozu.com/resize-requested-at";

/** Bytes counted for a claim that requests no storage (or zero), as upstream does. */
export const defaultClaimBytes = 1n << 30n;
