// Every change made to what the chart renders before its containers run as processes of the local cluster, in one
// place. The local cluster has no kubelet, no container runtime, no Service routing and one network namespace, so:
// (a) a container path under a volumeMount is the volume's directory on this host: an emptyDir, configMap or secret
//     volume is a directory per pod, a hostPath a directory per simulated node (under the chart's run directory).
//     Any argument or environment value that starts with a mountPath, and any string in a mounted YAML config file
//     (lvmd.yaml's socket-name), is rewritten; a component default that lies under a mountPath (the chart relies on
//     it) is passed as its flag with the rewritten path.
// (b) every process shares the host's ports, so a listen address (a flag of componentFlags, scheduler-options.yaml's
//     `listen`) becomes 127.0.0.1:<free port>; a listener the chart leaves at its default port gets its flag too.
// (c) in-cluster credentials (a token file at a fixed path) do not exist: the components that read $KUBECONFIG get
//     it set to a kubeconfig of their pod's ServiceAccount (a TokenRequest token, so the chart's RBAC is what they
//     can do); topolvm-scheduler's --in-cluster becomes --kubeconfig; the sidecars, which have no other way, get
//     --kubeconfig.
// (d) lvmd gets the node sandbox's LVM environment (LVM_SYSTEM_DIR...), as the host's /etc/lvm would be; its
//     lvm-command-prefix is the chart's value (the test sets ["lvm"]).
// (e) there is no Service routing here: the MutatingWebhookConfiguration's clientConfig.service becomes the url of
//     the webhook process the Service would route to, and kube-scheduler's extender urlPrefix (the Service of the
//     Deployment type; the DaemonSet type's host-network 127.0.0.1) that of the extender process (chart-pods.ts
//     serviceAddress: the Service's targetPort, by number or container port name, on the pods its selector picks).
// The rest of a container's command line, environment and files is the chart's, so a flag the chart gets wrong
// fails the component as it would in a pod.
import type { V1Container, V1EnvVar } from "@kubernetes/client-node";
import { basename } from "node:path";
import { parseDocument, isScalar, visit } from "yaml";

/** What runs a container here: TopoLVM's own bins by container name, the CSI sidecars by image. */
export type ContainerKind =
  | "lvmd"
  | "topolvm-controller"
  | "topolvm-node"
  | "topolvm-webhook"
  | "topolvm-scheduler"
  | "csi-provisioner"
  | "csi-resizer";

/** Sidecars no binary is built for here, so their containers are not run (they serve only kubelet). */
export const skippedSidecars = ["csi-node-driver-registrar", "livenessprobe"] as const;

const topolvmContainers = new Set<string>(["lvmd", "topolvm-controller", "topolvm-node", "topolvm-webhook", "topolvm-scheduler"]);

/** The image's name without registry and tag: registry.k8s.io/sig-storage/csi-provisioner:v6.4.0 → csi-provisioner. */
export function imageName(image: string | undefined): string {
  const last = (image ?? "").split("/").pop() ?? "";
  return last.split("@")[0]?.split(":")[0] ?? "";
}

/** The kind of a container, "skip" for a sidecar not built here, or undefined for one this harness cannot run. */
export function containerKind(container: V1Container): ContainerKind | "skip" | undefined {
  if (topolvmContainers.has(container.name)) {
    return container.name as ContainerKind;
  }
  const image = imageName(container.image);
  if (image === "csi-provisioner" || image === "csi-resizer") {
    return image;
  }
  return (skippedSidecars as readonly string[]).includes(image) ? "skip" : undefined;
}

/** The container's command and args after its executable, which this host runs itself (the built bin, the cached sidecar). */
export function executableArgs(kind: ContainerKind, container: V1Container): string[] {
  const command = container.command ?? [];
  const args = container.args ?? [];
  if (command.length === 0) {
    return [...args];
  }
  const at = command.findIndex((word) => basename(word).replace(/\.js$/, "") === kind);
  if (at === -1) {
    throw new Error(`container ${container.name}: its command ${JSON.stringify(command)} does not run ${kind}`);
  }
  return [...command.slice(at + 1), ...args];
}

/** A flag whose value is a listen address (b) or a path (a), with the component's default when it is left out. */
export interface ComponentFlag {
  flag: string;
  kind: "listen" | "path";
  default?: string;
}

/** The flags of each component that (a) and (b) concern, with the defaults their --help states. */
export const componentFlags: Record<ContainerKind, readonly ComponentFlag[]> = {
  lvmd: [{ flag: "--config", kind: "path", default: "/etc/topolvm/lvmd.yaml" }],
  "topolvm-controller": [
    { flag: "--csi-socket", kind: "path", default: "/run/topolvm/csi-topolvm.sock" },
    { flag: "--health-addr", kind: "listen", default: ":8081" },
    { flag: "--metrics-addr", kind: "listen", default: ":8080" },
  ],
  "topolvm-node": [
    { flag: "--lvmd-socket", kind: "path", default: "/run/topolvm/lvmd.sock" },
    { flag: "--csi-socket", kind: "path", default: "/var/lib/kubelet/plugins/topolvm.cybozu.com/node/csi-topolvm.sock" },
    { flag: "--device-dir", kind: "path", default: "/dev/topolvm" },
    { flag: "--health-addr", kind: "listen", default: ":8081" },
    { flag: "--metrics-addr", kind: "listen", default: ":8080" },
  ],
  "topolvm-webhook": [
    { flag: "--cert-dir", kind: "path", default: "/certs" },
    { flag: "--listen", kind: "listen", default: ":9443" },
    { flag: "--metrics-listen", kind: "listen", default: ":9444" },
  ],
  // Its listen address is scheduler-options.yaml's `listen` (default :9251).
  "topolvm-scheduler": [{ flag: "--config", kind: "path" }],
  "csi-provisioner": [
    { flag: "--csi-address", kind: "path", default: "/run/csi/socket" },
    { flag: "--http-endpoint", kind: "listen" },
    { flag: "--metrics-address", kind: "listen" },
  ],
  "csi-resizer": [
    { flag: "--csi-address", kind: "path", default: "/run/csi/socket" },
    { flag: "--http-endpoint", kind: "listen" },
    { flag: "--metrics-address", kind: "listen" },
  ],
};

/** A container path and the host directory or file it is here. */
export interface Mount {
  mountPath: string;
  hostPath: string;
}

/** The container's mounts, longest mountPath first; volumeDirs maps a volume name to its directory here. */
export function containerMounts(container: V1Container, volumeDirs: ReadonlyMap<string, string>): Mount[] {
  return (container.volumeMounts ?? [])
    .map((mount) => {
      const dir = volumeDirs.get(mount.name);
      if (dir === undefined) {
        throw new Error(`container ${container.name} mounts volume ${mount.name}, which its pod does not have`);
      }
      const subPath = mount.subPath ?? "";
      return { mountPath: mount.mountPath.replace(/\/+$/, "") || "/", hostPath: subPath === "" ? dir : `${dir}/${subPath}` };
    })
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
}

/** (a) The host path of a container path (also behind `unix://`), or undefined when no mount covers it. */
export function rewritePath(value: string, mounts: readonly Mount[]): string | undefined {
  const scheme = value.startsWith("unix://") ? "unix://" : "";
  const path = value.slice(scheme.length);
  for (const mount of mounts) {
    if (path === mount.mountPath || path.startsWith(mount.mountPath === "/" ? "/" : `${mount.mountPath}/`)) {
      return scheme + mount.hostPath + path.slice(mount.mountPath === "/" ? 0 : mount.mountPath.length);
    }
  }
  return undefined;
}

/** kubelet's $(VAR) expansion of command, args and env values: defined names only, `$$` is a literal `$`. */
export function expandVariables(text: string, variables: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    match === "$$" ? "$" : name === undefined ? match : (variables.get(name) ?? match),
  );
}

/** The pod facts the downward API gives a container. */
export interface PodFacts {
  name: string;
  namespace: string;
  nodeName: string;
  serviceAccountName: string;
  /** Memory and CPU of the node, for resourceFieldRef limits a container does not set. */
  nodeAllocatable: { cpu: string; memory: string };
}

/** Reads a key of a ConfigMap or Secret of the pod's namespace (env valueFrom). */
export type KeyLookup = (kind: "ConfigMap" | "Secret", name: string, key: string) => Promise<string | undefined>;

const quantitySuffixes: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** A Kubernetes quantity as a number (cores, bytes). */
export function parseQuantity(text: string): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(text.trim());
  const factor = match === null ? undefined : quantitySuffixes[match[2] ?? ""];
  if (match === null || factor === undefined) {
    throw new Error(`not a quantity: ${JSON.stringify(text)}`);
  }
  return Number(match[1]) * factor;
}

async function envValue(entry: V1EnvVar, container: V1Container, pod: PodFacts, lookup: KeyLookup): Promise<string | undefined> {
  const from = entry.valueFrom;
  if (from === undefined) {
    return entry.value ?? "";
  }
  if (from.fieldRef !== undefined) {
    const fields: Record<string, string> = {
      "metadata.name": pod.name,
      "metadata.namespace": pod.namespace,
      "spec.nodeName": pod.nodeName,
      "spec.serviceAccountName": pod.serviceAccountName,
      // One network namespace: the pod's and the host's address are loopback.
      "status.podIP": "127.0.0.1",
      "status.hostIP": "127.0.0.1",
    };
    const value = fields[from.fieldRef.fieldPath];
    if (value === undefined) {
      throw new Error(`env ${entry.name} of ${container.name}: fieldRef ${from.fieldRef.fieldPath} is not supported here`);
    }
    return value;
  }
  if (from.resourceFieldRef !== undefined) {
    const [bound = "", resource = ""] = from.resourceFieldRef.resource.split(".");
    const set = (bound === "limits" ? container.resources?.limits : container.resources?.requests)?.[resource];
    const fallback = resource === "cpu" ? pod.nodeAllocatable.cpu : resource === "memory" ? pod.nodeAllocatable.memory : undefined;
    const quantity = set ?? (bound === "limits" ? fallback : "0");
    if (quantity === undefined) {
      throw new Error(`env ${entry.name} of ${container.name}: resourceFieldRef ${from.resourceFieldRef.resource} is not supported`);
    }
    const divisor = parseQuantity(from.resourceFieldRef.divisor ?? "1");
    // kubelet rounds up to whole divisors (at least 1 for a CPU limit).
    return String(Math.max(resource === "cpu" ? 1 : 0, Math.ceil(parseQuantity(quantity) / divisor)));
  }
  const ref: { name?: string; key: string; optional?: boolean } | undefined = from.configMapKeyRef ?? from.secretKeyRef;
  if (ref !== undefined) {
    const kind = from.configMapKeyRef === undefined ? "Secret" : "ConfigMap";
    const value = await lookup(kind, ref.name ?? "", ref.key);
    if (value === undefined && ref.optional !== true) {
      throw new Error(`env ${entry.name} of ${container.name}: ${kind} ${ref.name ?? ""} has no key ${ref.key}`);
    }
    return value;
  }
  throw new Error(`env ${entry.name} of ${container.name}: a valueFrom this harness does not know`);
}

/** Records one change made to the chart's command line, environment or files, with its rule (a)-(e). */
export type RewriteRecorder = (what: string) => void;

/** The container's environment as kubelet gives it (downward API, $(VAR) expansion), with (a) applied to it. */
export async function containerEnv(
  container: V1Container,
  pod: PodFacts,
  mounts: readonly Mount[],
  lookup: KeyLookup,
  record: RewriteRecorder,
): Promise<Map<string, string>> {
  if ((container.envFrom ?? []).length > 0) {
    throw new Error(`container ${container.name}: envFrom is not supported here`);
  }
  const env = new Map<string, string>();
  for (const entry of container.env ?? []) {
    const raw = await envValue(entry, container, pod, lookup);
    if (raw === undefined) {
      continue;
    }
    const value = expandVariables(raw, env);
    const rewritten = rewritePath(value, mounts);
    if (rewritten !== undefined) {
      record(`(a) env ${entry.name}=${value} → ${rewritten}`);
    }
    env.set(entry.name, rewritten ?? value);
  }
  return env;
}

/** Allocates a free loopback address for a listener whose chart address is `original` (b). */
export type ListenAllocator = (original: string) => Promise<string>;

/** The arguments after kubelet's expansion, with (a) and (b) applied; `listens` receives each flag's new address. */
export async function rewriteArgs(
  kind: ContainerKind,
  args: readonly string[],
  env: ReadonlyMap<string, string>,
  mounts: readonly Mount[],
  allocate: ListenAllocator,
  record: RewriteRecorder,
): Promise<{ args: string[]; listens: Map<string, string>; paths: Map<string, string> }> {
  const flags = componentFlags[kind];
  const listens = new Map<string, string>();
  const paths = new Map<string, string>();
  const out: string[] = [];
  const seen = new Set<string>();
  const rewriteValue = async (flag: ComponentFlag | undefined, value: string): Promise<string> => {
    if (flag?.kind === "listen") {
      const address = await allocate(value);
      record(`(b) ${flag.flag}=${value} → ${address}`);
      listens.set(flag.flag, address);
      return address;
    }
    const rewritten = rewritePath(value, mounts);
    if (rewritten !== undefined) {
      record(`(a) ${flag?.flag ?? "argument"} ${value} → ${rewritten}`);
    }
    if (flag !== undefined) {
      paths.set(flag.flag, rewritten ?? value);
    }
    return rewritten ?? value;
  };
  const expanded = args.map((arg) => expandVariables(arg, env));
  for (let index = 0; index < expanded.length; index += 1) {
    const arg = expanded[index] ?? "";
    const equals = arg.indexOf("=");
    const name = arg.startsWith("--") ? (equals === -1 ? arg : arg.slice(0, equals)) : undefined;
    const flag = flags.find((entry) => entry.flag === name);
    if (flag !== undefined) {
      seen.add(flag.flag);
    }
    if (name !== undefined && equals !== -1) {
      out.push(`${name}=${await rewriteValue(flag, arg.slice(equals + 1))}`);
    } else if (flag !== undefined && index + 1 < expanded.length) {
      index += 1;
      out.push(arg, await rewriteValue(flag, expanded[index] ?? ""));
    } else {
      out.push(await rewriteValue(undefined, arg));
    }
  }
  // Defaults the chart relies on: a listener on a default port would collide with another process's, a default path
  // under a mount is that volume's.
  for (const flag of flags.filter((entry) => !seen.has(entry.flag) && entry.default !== undefined)) {
    const fallback = flag.default ?? "";
    if (flag.kind === "listen") {
      const address = await allocate(fallback);
      record(`(b) ${flag.flag} left at its default ${fallback} → added as ${address}`);
      listens.set(flag.flag, address);
      out.push(`${flag.flag}=${address}`);
    } else {
      const rewritten = rewritePath(fallback, mounts);
      paths.set(flag.flag, rewritten ?? fallback);
      if (rewritten !== undefined) {
        record(`(a) ${flag.flag} left at its default ${fallback} (under a mount) → added as ${rewritten}`);
        out.push(`${flag.flag}=${rewritten}`);
      }
    }
  }
  return { args: out, listens, paths };
}

/**
 * A mounted file with (a) and (b) applied: in a YAML mapping, strings that start with a mountPath and `listen`
 * addresses; any other file as it is.
 */
export async function rewriteConfigFile(
  fileName: string,
  text: string,
  mounts: readonly Mount[],
  allocate: ListenAllocator,
  record: RewriteRecorder,
): Promise<{ text: string; listen?: string }> {
  if (!/\.ya?ml$/.test(fileName)) {
    return { text };
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    return { text };
  }
  const listens: { node: { value: unknown }; original: string }[] = [];
  let changed = false;
  visit(document, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === "listen" && isScalar(pair.value) && typeof pair.value.value === "string") {
        listens.push({ node: pair.value, original: pair.value.value });
      }
    },
    Scalar(_, scalar) {
      if (typeof scalar.value === "string") {
        const rewritten = rewritePath(scalar.value, mounts);
        if (rewritten !== undefined) {
          record(`(a) ${fileName}: ${scalar.value} → ${rewritten}`);
          scalar.value = rewritten;
          changed = true;
        }
      }
    },
  });
  let listen: string | undefined;
  for (const entry of listens) {
    listen = await allocate(entry.original);
    record(`(b) ${fileName}: listen ${entry.original} → ${listen}`);
    entry.node.value = listen;
    changed = true;
  }
  return { text: changed ? document.toString() : text, ...(listen === undefined ? {} : { listen }) };
}

/** The port of a listen address (`:8080`, `localhost:9251`, `0.0.0.0:9443`). */
export function listenPort(address: string): number {
  const match = /:(\d+)$/.exec(address);
  if (match === null) {
    throw new Error(`not a listen address: ${JSON.stringify(address)}`);
  }
  return Number(match[1]);
}
