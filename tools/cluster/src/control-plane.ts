import { join } from "node:path";

import { binaryPath } from "./binaries.js";
import { serviceCidr, type Pki } from "./pki.js";

/** Loopback ports of one cluster; picked free at start so several clusters can run side by side. */
export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

/**
 * A kube-scheduler extender, as in KubeSchedulerConfiguration v1 (kubescheduler.config.k8s.io/v1 `Extender`).
 * Field names are the API's, so the object is written to the configuration as it is.
 */
export interface SchedulerExtender {
  urlPrefix: string;
  filterVerb?: string;
  prioritizeVerb?: string;
  preemptVerb?: string;
  bindVerb?: string;
  weight?: number;
  enableHTTPS?: boolean;
  tlsConfig?: {
    insecure?: boolean;
    serverName?: string;
    certFile?: string;
    keyFile?: string;
    caFile?: string;
  };
  /** A Go duration such as "5s". */
  httpTimeout?: string;
  nodeCacheCapable?: boolean;
  managedResources?: { name: string; ignoredByScheduler?: boolean }[];
  ignorable?: boolean;
}

/** Where the control plane keeps its files inside the cluster's state directory. */
export interface ControlPlaneLayout {
  stateDir: string;
  pki: Pki;
  ports: ControlPlanePorts;
  etcdDataDir: string;
  adminKubeconfig: string;
  controllerManagerKubeconfig: string;
  schedulerKubeconfig: string;
  schedulerConfigFile: string;
}

export function controlPlaneLayout(stateDir: string, pki: Pki, ports: ControlPlanePorts): ControlPlaneLayout {
  return {
    stateDir,
    pki,
    ports,
    etcdDataDir: join(stateDir, "etcd"),
    adminKubeconfig: join(stateDir, "kubeconfig"),
    controllerManagerKubeconfig: join(stateDir, "kube-controller-manager.kubeconfig"),
    schedulerKubeconfig: join(stateDir, "kube-scheduler.kubeconfig"),
    schedulerConfigFile: join(stateDir, "kube-scheduler-config.json"),
  };
}

export function apiserverUrl(ports: ControlPlanePorts): string {
  return `https://127.0.0.1:${ports.apiserver}`;
}

export function etcdUrl(ports: ControlPlanePorts): string {
  return `https://127.0.0.1:${ports.etcdClient}`;
}

export function etcdArgv(layout: ControlPlaneLayout): string[] {
  const { pki, ports } = layout;
  const peerUrl = `https://127.0.0.1:${ports.etcdPeer}`;
  return [
    binaryPath("etcd"),
    "--name=local",
    `--data-dir=${layout.etcdDataDir}`,
    `--listen-client-urls=${etcdUrl(ports)}`,
    `--advertise-client-urls=${etcdUrl(ports)}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=local=${peerUrl}`,
    `--cert-file=${pki.etcd.certFile}`,
    `--key-file=${pki.etcd.keyFile}`,
    `--trusted-ca-file=${pki.caCertFile}`,
    "--client-cert-auth=true",
    `--peer-cert-file=${pki.etcd.certFile}`,
    `--peer-key-file=${pki.etcd.keyFile}`,
    `--peer-trusted-ca-file=${pki.caCertFile}`,
    "--peer-client-cert-auth=true",
    // A test cluster's data is thrown away with it; skipping fsync makes every API write several times faster.
    "--unsafe-no-fsync=true",
    "--log-level=warn",
  ];
}

export function apiserverArgv(layout: ControlPlaneLayout): string[] {
  const { pki, ports } = layout;
  return [
    binaryPath("kube-apiserver"),
    "--advertise-address=127.0.0.1",
    // Endpoint reconcilers refuse a loopback advertise address; nothing runs in pods that could use the endpoints.
    "--endpoint-reconciler-type=none",
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.apiserver}`,
    `--etcd-servers=${etcdUrl(ports)}`,
    `--etcd-cafile=${pki.caCertFile}`,
    `--etcd-certfile=${pki.apiserverEtcdClient.certFile}`,
    `--etcd-keyfile=${pki.apiserverEtcdClient.keyFile}`,
    `--client-ca-file=${pki.caCertFile}`,
    `--tls-cert-file=${pki.apiserver.certFile}`,
    `--tls-private-key-file=${pki.apiserver.keyFile}`,
    `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
    `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
    `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
    `--service-cluster-ip-range=${serviceCidr}`,
    "--authorization-mode=Node,RBAC",
    // The front-proxy settings are published in kube-system/extension-apiserver-authentication, which the
    // controller manager and the scheduler read to authenticate requests to their own endpoints; without them
    // both log a missing CA bundle error every few seconds.
    `--requestheader-client-ca-file=${pki.caCertFile}`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--proxy-client-cert-file=${pki.frontProxyClient.certFile}`,
    `--proxy-client-key-file=${pki.frontProxyClient.keyFile}`,
    "--allow-privileged=true",
    "--profiling=false",
    `--cert-dir=${join(layout.stateDir, "kube-apiserver-certs")}`,
  ];
}

export function controllerManagerArgv(layout: ControlPlaneLayout): string[] {
  const { pki, ports } = layout;
  const kubeconfig = layout.controllerManagerKubeconfig;
  return [
    binaryPath("kube-controller-manager"),
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.controllerManager}`,
    `--tls-cert-file=${pki.controllerManager.certFile}`,
    `--tls-private-key-file=${pki.controllerManager.keyFile}`,
    `--client-ca-file=${pki.caCertFile}`,
    // One instance per cluster: leader election would only delay the start by a lease acquisition.
    "--leader-elect=false",
    "--controllers=*",
    "--use-service-account-credentials=true",
    `--service-account-private-key-file=${pki.serviceAccountKeyFile}`,
    `--root-ca-file=${pki.caCertFile}`,
    `--cluster-signing-cert-file=${pki.caCertFile}`,
    `--cluster-signing-key-file=${pki.caKeyFile}`,
    "--profiling=false",
  ];
}

export function schedulerArgv(layout: ControlPlaneLayout): string[] {
  const { pki, ports } = layout;
  const kubeconfig = layout.schedulerKubeconfig;
  return [
    binaryPath("kube-scheduler"),
    `--config=${layout.schedulerConfigFile}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.scheduler}`,
    `--tls-cert-file=${pki.scheduler.certFile}`,
    `--tls-private-key-file=${pki.scheduler.keyFile}`,
    `--client-ca-file=${pki.caCertFile}`,
  ];
}

/** The KubeSchedulerConfiguration (v1) kube-scheduler is started with, including the caller's extenders. */
export function schedulerConfiguration(layout: ControlPlaneLayout, extenders: readonly SchedulerExtender[]): object {
  return {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    clientConnection: { kubeconfig: layout.schedulerKubeconfig },
    leaderElection: { leaderElect: false },
    profiles: [{ schedulerName: "default-scheduler" }],
    extenders,
  };
}
