import { execFile } from "node:child_process";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** One key pair and certificate signed by the cluster CA. */
export interface CertificatePaths {
  certFile: string;
  keyFile: string;
}

/** File paths of everything the control plane authenticates with; all live under one directory. */
export interface Pki {
  dir: string;
  caCertFile: string;
  caKeyFile: string;
  /** Serving certificate of kube-apiserver, valid for 127.0.0.1 and the in-cluster `kubernetes` Service names. */
  apiserver: CertificatePaths;
  /** Serving and peer certificate of etcd, valid for 127.0.0.1. */
  etcd: CertificatePaths;
  /** Client certificate kube-apiserver presents to etcd. */
  apiserverEtcdClient: CertificatePaths;
  /** Client certificate in group system:masters. */
  admin: CertificatePaths;
  /** Client certificate of kube-controller-manager, also serving its health endpoints on 127.0.0.1. */
  controllerManager: CertificatePaths;
  /** Client certificate of kube-scheduler, also serving its health endpoints on 127.0.0.1. */
  scheduler: CertificatePaths;
  /** Client certificate kube-apiserver presents when it proxies to aggregated API servers (front proxy). */
  frontProxyClient: CertificatePaths;
  /** Signs service-account tokens (kube-apiserver) and the controllers' credentials (kube-controller-manager). */
  serviceAccountKeyFile: string;
  serviceAccountPublicKeyFile: string;
}

/** The Service CIDR kube-apiserver is started with; its first address goes to the `kubernetes` Service. */
export const serviceCidr = "10.96.0.0/16";
const kubernetesServiceIp = "10.96.0.1";

interface LeafSpec {
  name: string;
  subject: string;
  usage: "server" | "client" | "server-and-client";
  altNames?: string[];
}

// ECDSA P-256 keys: generated in milliseconds (RSA takes tens to hundreds), and accepted by every component.
const keyArgs = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed: ${stderr.trim() || String(error)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function paths(dir: string, name: string): CertificatePaths {
  return { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
}

async function createLeaf(dir: string, spec: LeafSpec, days: number): Promise<void> {
  const { certFile, keyFile } = paths(dir, spec.name);
  const extendedUsage = { server: "serverAuth", client: "clientAuth", "server-and-client": "serverAuth,clientAuth" }[
    spec.usage
  ];
  const args = ["req", "-x509", ...keyArgs, "-keyout", keyFile, "-out", certFile, "-days", String(days)];
  args.push("-subj", spec.subject, "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"));
  args.push("-addext", "basicConstraints=critical,CA:FALSE");
  args.push("-addext", "keyUsage=critical,digitalSignature,keyEncipherment");
  args.push("-addext", `extendedKeyUsage=${extendedUsage}`);
  if (spec.altNames !== undefined) {
    args.push("-addext", `subjectAltName=${spec.altNames.join(",")}`);
  }
  await openssl(args);
}

/**
 * Creates the cluster's CA, certificates and service-account keys in `dir`, or reuses them when a previous run left
 * a complete set there (so a restarted cluster keeps trusting the credentials it handed out).
 */
export async function ensurePki(dir: string, validityDays = 365): Promise<Pki> {
  const pki: Pki = {
    dir,
    caCertFile: join(dir, "ca.crt"),
    caKeyFile: join(dir, "ca.key"),
    apiserver: paths(dir, "apiserver"),
    etcd: paths(dir, "etcd"),
    apiserverEtcdClient: paths(dir, "apiserver-etcd-client"),
    admin: paths(dir, "admin"),
    controllerManager: paths(dir, "kube-controller-manager"),
    scheduler: paths(dir, "kube-scheduler"),
    frontProxyClient: paths(dir, "front-proxy-client"),
    serviceAccountKeyFile: join(dir, "sa.key"),
    serviceAccountPublicKeyFile: join(dir, "sa.pub"),
  };
  // sa.pub is written last, so its presence means a previous run finished.
  if (await exists(pki.serviceAccountPublicKeyFile)) {
    return pki;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await openssl([
    ...["req", "-x509", ...keyArgs, "-keyout", pki.caKeyFile, "-out", pki.caCertFile],
    ...["-days", String(validityDays * 10), "-subj", "/CN=topolvm-ts-local-cluster-ca"],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
  ]);
  const loopback = ["IP:127.0.0.1", "DNS:localhost"];
  const leaves: LeafSpec[] = [
    {
      name: "apiserver",
      subject: "/CN=kube-apiserver",
      usage: "server",
      altNames: [
        ...loopback,
        `IP:${kubernetesServiceIp}`,
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
      ],
    },
    { name: "etcd", subject: "/CN=etcd", usage: "server-and-client", altNames: loopback },
    { name: "apiserver-etcd-client", subject: "/CN=kube-apiserver-etcd-client", usage: "client" },
    { name: "admin", subject: "/O=system:masters/CN=kubernetes-admin", usage: "client" },
    // The controller manager and the scheduler also serve their health endpoints with these.
    {
      name: "kube-controller-manager",
      subject: "/CN=system:kube-controller-manager",
      usage: "server-and-client",
      altNames: loopback,
    },
    { name: "kube-scheduler", subject: "/CN=system:kube-scheduler", usage: "server-and-client", altNames: loopback },
    { name: "front-proxy-client", subject: "/CN=front-proxy-client", usage: "client" },
  ];
  await Promise.all([
    ...leaves.map((leaf) => createLeaf(dir, leaf, validityDays)),
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pki.serviceAccountKeyFile]),
  ]);
  await openssl(["pkey", "-in", pki.serviceAccountKeyFile, "-pubout", "-out", pki.serviceAccountPublicKeyFile]);
  return pki;
}
