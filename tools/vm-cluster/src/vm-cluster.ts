import { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { down, up } from "../../cluster/src/cluster.js";
import { ensurePki } from "../../cluster/src/pki.js";
import { binDir, cacheDir, isExecutable } from "../../paths.js";
import { runInVm, vmUnavailableReason, type VmRunResult } from "../../vm/index.js";
import { cniConfig, containerdConfig, kubeletConfig, nodeKubeconfig, vmNetwork } from "./node-config.js";

const execFileAsync = promisify(execFile);
const guestScript = join(import.meta.dirname, "..", "guest-node");

/** The binaries tools/deps/47-vm-node.sh builds for the VM node, beside the control plane's. */
const nodeBinaries = ["kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "kubectl"] as const;
const runc = "/usr/sbin/runc";
const cniBinDir = "/usr/lib/cni";

export function pauseArchive(): string {
  return join(cacheDir(), "vm-node", "pause.oci.tar");
}

/** What is missing to run the VM node here (empty when nothing): the VM itself, the node's binaries, the image. */
export function vmClusterPrerequisitesMissing(): string[] {
  const missing: string[] = [];
  const vm = vmUnavailableReason();
  if (vm !== undefined) missing.push(vm);
  for (const name of nodeBinaries) {
    if (!isExecutable(join(binDir(), name))) missing.push(`${name} (run tools/ensure-deps)`);
  }
  if (!isExecutable(runc)) missing.push(`${runc} (run tools/ensure-deps)`);
  if (!existsSync(join(cniBinDir, "bridge"))) missing.push(`${cniBinDir}/bridge (run tools/ensure-deps)`);
  if (!existsSync(pauseArchive())) missing.push(`${pauseArchive()} (run tools/ensure-deps)`);
  return missing;
}

export interface StartVmClusterOptions {
  /** Default "topolvm-vm", the VM's hostname. */
  nodeName?: string;
  /** Guest memory; default 3072 MiB. */
  memMiB?: number;
  /** Limit for the VM's whole life, from boot to stop; default 1 800 000 (30 min). */
  vmTimeoutMs?: number;
  /** Receives one line per step, the control plane's and the node's ("vm-cluster: node topolvm-vm is Ready"). */
  onProgress?: (message: string) => void;
}

export interface VmCluster {
  nodeName: string;
  /** Admin access, from the host. */
  kubeConfig: KubeConfig;
  kubeconfigPath: string;
  /** Where the node's configuration and its logs (containerd, kubelet) are kept until stop(). */
  nodeDir: string;
  /** Settles when the VM has powered off, by stop() or because the node failed. */
  vm: Promise<VmRunResult>;
  /** Asks the node to stop kubelet, its containers and containerd, waits for the VM, then stops the control plane. */
  stop(): Promise<VmRunResult>;
}

async function issueNodeCertificate(caCertFile: string, caKeyFile: string, nodeName: string, dir: string) {
  const certFile = join(dir, "kubelet.crt");
  const keyFile = join(dir, "kubelet.key");
  await execFileAsync("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", keyFile, "-out", certFile, "-days", "30"],
    ...["-subj", `/O=system:nodes/CN=system:node:${nodeName}`, "-CA", caCertFile, "-CAkey", caKeyFile],
    ...["-addext", "basicConstraints=critical,CA:FALSE"],
    ...["-addext", "keyUsage=critical,digitalSignature,keyEncipherment"],
    ...["-addext", "extendedKeyUsage=clientAuth"],
  ]);
  return { certPem: await readFile(certFile, "utf8"), keyPem: await readFile(keyFile, "utf8") };
}

/**
 * Starts the control plane on the host (tools/cluster, no simulated nodes) and one real node in the VM: containerd
 * and kubelet, which registers against the host's kube-apiserver through QEMU's user network. Resolves once the VM
 * has started booting; wait for the Node to be Ready through the API.
 */
export async function startVmCluster(options: StartVmClusterOptions = {}): Promise<VmCluster> {
  const progress = options.onProgress ?? (() => undefined);
  const nodeName = options.nodeName ?? "topolvm-vm";
  const missing = vmClusterPrerequisitesMissing();
  if (missing.length > 0) throw new Error(`the VM node cannot run here: ${missing.join("; ")}`);
  // The VM sees the host's root except /tmp and /run: the node's files live in the cache.
  await mkdir(join(cacheDir(), "vm-cluster"), { recursive: true });
  const nodeDir = await mkdtemp(join(cacheDir(), "vm-cluster", "node-"));
  const stateDir = join(nodeDir, "control-plane");
  const state = await up({ stateDir, nodes: 0, onProgress: progress });
  try {
    const pki = await ensurePki(join(stateDir, "pki"));
    const caCertPem = await readFile(pki.caCertFile, "utf8");
    const serverUrl = `https://${vmNetwork.hostAddress}:${state.ports.apiserver}`;
    const node = await issueNodeCertificate(pki.caCertFile, pki.caKeyFile, nodeName, nodeDir);
    const kubeconfigFor = (userName: string, certPem: string, keyPem: string): string =>
      JSON.stringify(
        nodeKubeconfig({
          serverUrl,
          tlsServerName: "localhost",
          caCertPem,
          clientCertPem: certPem,
          clientKeyPem: keyPem,
          userName,
        }),
        null,
        2,
      );
    const dirs = {
      containerdRoot: "/var/lib/containerd",
      containerdState: "/run/containerd",
      containerdSocket: "/run/containerd/containerd.sock",
      cniConfDir: join(nodeDir, "cni"),
      cniBinDir,
      runc,
    };
    await mkdir(dirs.cniConfDir);
    const files: Record<string, string> = {
      "node-name": nodeName,
      "node-ip": vmNetwork.nodeAddress,
      "bin-dir": binDir(),
      "containerd-socket": dirs.containerdSocket,
      "ca.crt": caCertPem,
      "containerd.toml": containerdConfig(dirs),
      "cni/10-vm-cluster.conflist": JSON.stringify(cniConfig(), null, 2),
      "kubelet-config.json": JSON.stringify(
        kubeletConfig({
          clientCaFile: join(nodeDir, "ca.crt"),
          containerdSocket: dirs.containerdSocket,
          rootDir: "/var/lib/kubelet",
        }),
        null,
        2,
      ),
      "kubelet.kubeconfig": kubeconfigFor(`system:node:${nodeName}`, node.certPem, node.keyPem),
      "admin.kubeconfig": kubeconfigFor(
        "admin",
        await readFile(pki.admin.certFile, "utf8"),
        await readFile(pki.admin.keyFile, "utf8"),
      ),
    };
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(nodeDir, name), `${content}\n`, { mode: 0o600 });
    }
    // A link would point into the host's cache, which the VM sees too; a copy keeps the node dir self-contained.
    await writeFile(join(nodeDir, "pause.oci.tar"), await readFile(pauseArchive()));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(state.kubeconfig);
    progress(`booting the VM for node ${nodeName}`);
    let pending = "";
    const vm = runInVm([guestScript, nodeDir], {
      network: true,
      memMiB: options.memMiB ?? 3072,
      timeoutMs: options.vmTimeoutMs ?? 1_800_000,
      onOutput: (stream, chunk) => {
        if (stream !== "stdout") return;
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) progress(line);
      },
    });
    const stop = async (): Promise<VmRunResult> => {
      try {
        await KubernetesObjectApi.makeApiClient(kubeConfig).create({
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "vm-cluster-stop", namespace: "kube-system" },
        });
        return await vm;
      } finally {
        await down(stateDir);
        await rm(nodeDir, { recursive: true, force: true });
      }
    };
    return { nodeName, kubeConfig, kubeconfigPath: state.kubeconfig, nodeDir, vm, stop };
  } catch (error) {
    await down(stateDir);
    await rm(nodeDir, { recursive: true, force: true });
    throw error;
  }
}
