// A one-node Kubernetes with a real kubelet: the control plane on the host, containerd and kubelet in the tools/vm VM.
// Tests import this file by relative path. See tools/vm-cluster/README.md.
export { startVmCluster, vmClusterPrerequisitesMissing, pauseArchive } from "./vm-cluster.js";
export type { StartVmClusterOptions, VmCluster } from "./vm-cluster.js";
export { pauseImage, podCidr, vmNetwork } from "./node-config.js";
