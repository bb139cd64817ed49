// The files the VM node's containerd, CNI and kubelet read, as pure functions of where things live. The guest script
// (guest-node) only starts the processes with them.

/** Where QEMU's user network puts the guest and the host: a connection to hostAddress reaches the host's loopback. */
export const vmNetwork = { nodeAddress: "10.0.2.15", hostAddress: "10.0.2.2" } as const;

/** The name the locally built sandbox image is imported under (tools/deps/47-vm-node.sh). */
export const pauseImage = "localhost/topolvm-ts/pause:v1";

/** The pod network of the one node: the CNI bridge plugin hands out addresses from it with host-local IPAM. */
export const podCidr = "10.88.0.0/16";

export interface NodeDirs {
  /** Where containerd keeps images and snapshots (a tmpfs in the VM: overlayfs cannot sit on 9p). */
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  cniConfDir: string;
  cniBinDir: string;
  runc: string;
}

/** containerd's configuration (version 3, containerd 2.x): CRI with runc and cgroupfs, the local pause image. */
export function containerdConfig(dirs: NodeDirs): string {
  const quote = (value: string): string => JSON.stringify(value);
  return [
    "version = 3",
    `root = ${quote(dirs.containerdRoot)}`,
    `state = ${quote(dirs.containerdState)}`,
    "",
    "[grpc]",
    `  address = ${quote(dirs.containerdSocket)}`,
    "",
    "[plugins.'io.containerd.cri.v1.images']",
    "  snapshotter = 'overlayfs'",
    "  [plugins.'io.containerd.cri.v1.images'.pinned_images]",
    `    sandbox = ${quote(pauseImage)}`,
    "",
    "[plugins.'io.containerd.cri.v1.runtime']",
    // No AppArmor profiles or parser exist in the VM.
    "  disable_apparmor = true",
    "  [plugins.'io.containerd.cri.v1.runtime'.containerd]",
    "    default_runtime_name = 'runc'",
    "    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]",
    "      runtime_type = 'io.containerd.runc.v2'",
    "      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
    `        BinaryName = ${quote(dirs.runc)}`,
    "        SystemdCgroup = false",
    "  [plugins.'io.containerd.cri.v1.runtime'.cni]",
    `    bin_dirs = [${quote(dirs.cniBinDir)}]`,
    `    conf_dir = ${quote(dirs.cniConfDir)}`,
    "",
  ].join("\n");
}

/** The CNI network: a bridge with host-local addresses from podCidr, no masquerading (the VM has no outside). */
export function cniConfig(): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: "vm-cluster",
    plugins: [
      {
        type: "bridge",
        bridge: "cni0",
        isGateway: true,
        ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet: podCidr }]], routes: [{ dst: "0.0.0.0/0" }] },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
}

export interface KubeletConfigOptions {
  clientCaFile: string;
  containerdSocket: string;
  /** The kubelet's root directory (a tmpfs in the VM) and where its volume plugins would be looked for. */
  rootDir: string;
}

/** KubeletConfiguration v1beta1 for a cgroup v2 node on cgroupfs, with evictions that a small VM does not trigger. */
export function kubeletConfig(options: KubeletConfigOptions): Record<string, unknown> {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: options.clientCaFile },
    },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    containerRuntimeEndpoint: `unix://${options.containerdSocket}`,
    volumePluginDir: `${options.rootDir}/volume-plugins`,
    resolvConf: "/etc/resolv.conf",
    failSwapOn: false,
    // The VM's tmpfs filesystems are small and its memory is what the test gave it: only evict when nearly gone.
    evictionHard: { "memory.available": "32Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Status every few seconds so that Ready shows soon after start-up.
    nodeStatusUpdateFrequency: "4s",
    syncFrequency: "10s",
  };
}

export interface NodeKubeconfigOptions {
  /** The API server as the VM reaches it (the host's loopback through QEMU's user network). */
  serverUrl: string;
  /** The name the server's certificate carries (it is issued for loopback, not for the address the VM uses). */
  tlsServerName: string;
  caCertPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  userName: string;
}

/** A self-contained kubeconfig (certificates embedded), as JSON. */
export function nodeKubeconfig(options: NodeKubeconfigOptions): Record<string, unknown> {
  const base64 = (pem: string): string => Buffer.from(pem).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "vm-cluster",
        cluster: {
          server: options.serverUrl,
          "tls-server-name": options.tlsServerName,
          "certificate-authority-data": base64(options.caCertPem),
        },
      },
    ],
    users: [
      {
        name: options.userName,
        user: {
          "client-certificate-data": base64(options.clientCertPem),
          "client-key-data": base64(options.clientKeyPem),
        },
      },
    ],
    contexts: [{ name: options.userName, context: { cluster: "vm-cluster", user: options.userName } }],
    "current-context": options.userName,
  };
}
