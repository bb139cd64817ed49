import { isAbsolute } from "node:path";
import { parseArgs } from "node:util";
import type { Level } from "pino";
import { parseListenAddress, type ListenAddress } from "../http-endpoints.js";
import { logLevels } from "../logger.js";
import { DEFAULT_DEVICE_DIR } from "./device-node.js";

/** lvmd's socket by default (DESIGN.md §1). */
export const DEFAULT_LVMD_SOCKET = "/run/topolvm/lvmd.sock";

/** The node's CSI socket in kubelet's plugin directory (DESIGN.md §1), where node-driver-registrar finds it. */
export const DEFAULT_NODE_CSI_SOCKET = "/var/lib/kubelet/plugins/topolvm.cybozu.com/node/csi-topolvm.sock";

/** What topolvm-node runs with. */
export interface NodeFlags {
  readonly nodeName: string;
  readonly lvmdSocket: string;
  /** The unix socket of the CSI Identity and Node services. */
  readonly csiSocket: string;
  /** Where the LVs' device nodes are made (a filesystem mounted without nodev). */
  readonly deviceDir: string;
  /** undefined: KubeConfig.loadFromDefault() ($KUBECONFIG, ~/.kube/config or the in-cluster config). */
  readonly kubeconfig: string | undefined;
  readonly metricsAddress: ListenAddress;
  readonly healthAddress: ListenAddress;
  readonly logLevel: Level;
}

/** What the command line asks for. */
export type NodeCommand = { readonly kind: "run"; readonly flags: NodeFlags } | { readonly kind: "help" } | { readonly kind: "version" };

/** A bad command line; the message names the flag and the value. The bin exits 2 with it. */
export class NodeFlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NodeFlagError";
  }
}

export const nodeUsage = `Usage: topolvm-node [flags]

Runs on every node of TopoLVM (topolvm.cybozu.com): creates, grows and removes the LVs of this node's
LogicalVolumes through lvmd, writes the node's capacity annotations and finalizer, exports metrics, and serves
the CSI Identity and Node services (publish, unpublish, stats, expansion) to kubelet.

Flags:
  --nodename NAME             this node's Node name (default $NODE_NAME; required)
  --lvmd-socket PATH          lvmd's unix socket (default ${DEFAULT_LVMD_SOCKET})
  --csi-socket PATH           unix socket of the CSI services (default ${DEFAULT_NODE_CSI_SOCKET})
  --device-dir DIR            where the LVs' device nodes are made (default ${DEFAULT_DEVICE_DIR})
  --kubeconfig PATH           kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the in-cluster config)
  --metrics-addr HOST:PORT    /metrics for Prometheus (default :8080)
  --health-addr HOST:PORT     /healthz and /readyz (default :8081)
  --log-level LEVEL           ${logLevels.join(", ")} (default info)
  --version                   print the version and exit
  --help                      print this help and exit
`;

/** A Node name: an RFC 1123 subdomain. */
const nodeNamePattern = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses topolvm-node's command line; `env` gives NODE_NAME. Throws NodeFlagError. */
export function parseNodeFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): NodeCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        nodename: { type: "string" },
        "lvmd-socket": { type: "string" },
        "csi-socket": { type: "string" },
        "device-dir": { type: "string" },
        kubeconfig: { type: "string" },
        "metrics-addr": { type: "string" },
        "health-addr": { type: "string" },
        "log-level": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (error) {
    // parseArgs names the flag; its advice about positionals does not apply (none are taken).
    throw new NodeFlagError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ""));
  }
  if (values.help === true) {
    return { kind: "help" };
  }
  if (values.version === true) {
    return { kind: "version" };
  }
  const nodeName = values.nodename ?? env.NODE_NAME ?? "";
  if (nodeName === "") {
    throw new NodeFlagError("--nodename: required (or set NODE_NAME)");
  }
  if (!nodeNamePattern.test(nodeName)) {
    throw new NodeFlagError(`--nodename: ${JSON.stringify(nodeName)} is not a Node name (lowercase RFC 1123 subdomain)`);
  }
  const path = (flag: string, value: string | undefined, fallback: string, absolute = true): string => {
    const chosen = value ?? fallback;
    if (chosen === "") {
      throw new NodeFlagError(`--${flag}: must not be empty`);
    }
    if (absolute && !isAbsolute(chosen)) {
      throw new NodeFlagError(`--${flag}: ${JSON.stringify(chosen)} is not an absolute path`);
    }
    return chosen;
  };
  const lvmdSocket = path("lvmd-socket", values["lvmd-socket"], DEFAULT_LVMD_SOCKET, false);
  const csiSocket = path("csi-socket", values["csi-socket"], DEFAULT_NODE_CSI_SOCKET);
  const deviceDir = path("device-dir", values["device-dir"], DEFAULT_DEVICE_DIR);
  const kubeconfig = values.kubeconfig;
  if (kubeconfig === "") {
    throw new NodeFlagError("--kubeconfig: must not be empty (leave it out for the default kubeconfig)");
  }
  const address = (flag: string, value: string | undefined, fallback: string): ListenAddress => {
    try {
      return parseListenAddress(`--${flag}`, value ?? fallback);
    } catch (error) {
      throw new NodeFlagError((error as Error).message);
    }
  };
  const logLevel = values["log-level"] ?? "info";
  const level = logLevels.find((candidate) => candidate === logLevel);
  if (level === undefined) {
    throw new NodeFlagError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${logLevels.join(", ")}`);
  }
  return {
    kind: "run",
    flags: {
      nodeName,
      lvmdSocket,
      csiSocket,
      deviceDir,
      kubeconfig,
      metricsAddress: address("metrics-addr", values["metrics-addr"], ":8080"),
      healthAddress: address("health-addr", values["health-addr"], ":8081"),
      logLevel: level,
    },
  };
}
