import { describe, expect, it } from "vitest";

import { cniConfig, containerdConfig, kubeletConfig, nodeKubeconfig, pauseImage, podCidr } from "../src/node-config.js";

const dirs = {
  containerdRoot: "/var/lib/containerd",
  containerdState: "/run/containerd",
  containerdSocket: "/run/containerd/containerd.sock",
  cniConfDir: "/cache/vm-cluster/node-x/cni",
  cniBinDir: "/usr/lib/cni",
  runc: "/usr/sbin/runc",
};

describe("containerdConfig", () => {
  it("writes a version 3 configuration with runc on cgroupfs, the local pause image and the CNI directories", () => {
    const toml = containerdConfig(dirs);
    expect(toml.split("\n")[0]).toBe("version = 3");
    expect(toml).toContain(`sandbox = "${pauseImage}"`);
    expect(toml).toContain('BinaryName = "/usr/sbin/runc"');
    expect(toml).toContain("SystemdCgroup = false");
    expect(toml).toContain('bin_dirs = ["/usr/lib/cni"]');
    expect(toml).toContain('conf_dir = "/cache/vm-cluster/node-x/cni"');
    expect(toml).toContain('address = "/run/containerd/containerd.sock"');
  });

  it("quotes paths as TOML basic strings", () => {
    expect(containerdConfig({ ...dirs, cniConfDir: '/odd "dir"\\x' })).toContain('conf_dir = "/odd \\"dir\\"\\\\x"');
  });
});

describe("cniConfig", () => {
  it("is a bridge with host-local addresses from the pod CIDR and no masquerading", () => {
    const config = cniConfig();
    const plugins = config.plugins as Record<string, unknown>[];
    expect(plugins[0]).toMatchObject({ type: "bridge", isGateway: true, ipMasq: false });
    expect(plugins[0]?.ipam).toMatchObject({ type: "host-local", ranges: [[{ subnet: podCidr }]] });
  });
});

describe("kubeletConfig", () => {
  it("uses cgroupfs, the containerd socket and x509 client authentication", () => {
    const config = kubeletConfig({ clientCaFile: "/x/ca.crt", containerdSocket: "/run/c.sock", rootDir: "/var/lib/kubelet" });
    expect(config).toMatchObject({
      kind: "KubeletConfiguration",
      cgroupDriver: "cgroupfs",
      containerRuntimeEndpoint: "unix:///run/c.sock",
      authentication: { anonymous: { enabled: false }, x509: { clientCAFile: "/x/ca.crt" } },
      volumePluginDir: "/var/lib/kubelet/volume-plugins",
    });
  });
});

describe("nodeKubeconfig", () => {
  it("embeds the certificates and names the server's TLS name apart from its address", () => {
    const config = nodeKubeconfig({
      serverUrl: "https://10.0.2.2:6443",
      tlsServerName: "localhost",
      caCertPem: "CA",
      clientCertPem: "CERT",
      clientKeyPem: "KEY",
      userName: "system:node:n",
    });
    expect(config).toMatchObject({
      clusters: [
        {
          cluster: {
            server: "https://10.0.2.2:6443",
            "tls-server-name": "localhost",
            "certificate-authority-data": Buffer.from("CA").toString("base64"),
          },
        },
      ],
      users: [{ name: "system:node:n", user: { "client-key-data": Buffer.from("KEY").toString("base64") } }],
      "current-context": "system:node:n",
    });
  });
});
