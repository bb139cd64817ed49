import { parseQuantity, QuantityError } from "@topolvm/proto/quantity";
import { parseArgs } from "node:util";
import type { Level } from "pino";
import { parseListenAddress, type ListenAddress } from "../http-endpoints.js";
import { logLevels } from "../logger.js";
import { defaultMinimumAllocation, type MinimumAllocation } from "./create-volume.js";

/** The CSI socket of topolvm-controller by default (DESIGN.md §1). */
export const DEFAULT_CONTROLLER_CSI_SOCKET = "/run/topolvm/csi-topolvm.sock";

/** What topolvm-controller runs with. */
export interface ControllerFlags {
  readonly csiSocket: string;
  /** undefined: KUBECONFIG or the in-cluster config. */
  readonly kubeconfig: string | undefined;
  readonly healthAddress: ListenAddress;
  readonly metricsAddress: ListenAddress;
  readonly leaderElection: boolean;
  readonly leaderElectionNamespace: string;
  readonly leaderElectionId: string;
  readonly skipNodeFinalize: boolean;
  readonly minimumAllocation: MinimumAllocation;
  readonly logLevel: Level;
}

/** What the command line asks for. */
export type ControllerCommand = { readonly kind: "run"; readonly flags: ControllerFlags } | { readonly kind: "help" } | { readonly kind: "version" };

/** A bad command line; the message names the flag and the value. The bin exits 2 with it. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

const mebibytes = (bytes: bigint): string => `${bytes >> 20n}Mi`;

export const controllerUsage = `Usage: topolvm-controller [flags]

Serves the CSI Identity and Controller services of TopoLVM (topolvm.cybozu.com) and, while it leads, the
Node and PVC finalizer controllers.

Flags:
  --csi-socket PATH                  unix socket of the CSI services (default ${DEFAULT_CONTROLLER_CSI_SOCKET})
  --kubeconfig PATH                  kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)
  --health-addr HOST:PORT            /healthz and /readyz (default :8081)
  --metrics-addr HOST:PORT           /metrics for Prometheus (default :8080)
  --leader-election true|false       run the controllers only while holding the Lease (default true)
  --leader-election-namespace NS     namespace of the Lease (default $POD_NAMESPACE, else topolvm-system)
  --leader-election-id ID            name of the Lease (default topolvm)
  --skip-node-finalize               do not clean up the volumes and PVCs of deleted Nodes
  --minimum-allocation-block Q       smallest block volume (default ${mebibytes(defaultMinimumAllocation.blockBytes)})
  --minimum-allocation-ext4 Q        smallest ext4 volume (default ${mebibytes(defaultMinimumAllocation.ext4Bytes)})
  --minimum-allocation-xfs Q         smallest xfs volume (default ${mebibytes(defaultMinimumAllocation.xfsBytes)})
  --minimum-allocation-btrfs Q       smallest btrfs volume (default ${mebibytes(defaultMinimumAllocation.btrfsBytes)})
  --log-level LEVEL                  ${logLevels.join(", ")} (default info)
  --version                          print the version and exit
  --help                             print this help and exit

Quantities are Kubernetes quantities (8Mi, 1Gi, 500M, 1073741824).
`;

const booleanFlags = ["leader-election", "skip-node-finalize"] as const;

/**
 * Go-style booleans: `--flag`, `--flag=true|false` and `--flag true|false` all work, as the chart and the tests
 * write them either way. Rewritten to `--flag=value` for parseArgs, which takes them as strings.
 */
function normaliseBooleans(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? "";
    const flag = booleanFlags.find((name) => arg === `--${name}`);
    if (flag === undefined) {
      out.push(arg);
      continue;
    }
    const next = argv[i + 1];
    // No positionals are taken, so a following word is the flag's value (and checked as one).
    if (next !== undefined && !next.startsWith("-")) {
      out.push(`--${flag}=${next}`);
      i += 1;
    } else {
      out.push(`--${flag}=true`);
    }
  }
  return out;
}

function parseBoolean(flag: string, value: string): boolean {
  if (value === "true") {
    return true;
  }
  if (value === "false") {
    return false;
  }
  throw new FlagError(`--${flag}: ${JSON.stringify(value)} is not true or false`);
}

function parseMinimum(flag: string, value: string | undefined, fallback: bigint): bigint {
  if (value === undefined) {
    return fallback;
  }
  let bytes: bigint;
  try {
    bytes = parseQuantity(value);
  } catch (error) {
    throw new FlagError(`--${flag}: ${error instanceof QuantityError ? error.message : String(error)}`);
  }
  if (bytes < 0n) {
    throw new FlagError(`--${flag}: ${JSON.stringify(value)} is negative`);
  }
  return bytes;
}

/** Parses topolvm-controller's command line; `env` gives POD_NAMESPACE. Throws FlagError. */
export function parseControllerFlags(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ControllerCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: normaliseBooleans(argv),
      strict: true,
      allowPositionals: false,
      options: {
        "csi-socket": { type: "string" },
        kubeconfig: { type: "string" },
        "health-addr": { type: "string" },
        "metrics-addr": { type: "string" },
        "leader-election": { type: "string" },
        "leader-election-namespace": { type: "string" },
        "leader-election-id": { type: "string" },
        "skip-node-finalize": { type: "string" },
        "minimum-allocation-block": { type: "string" },
        "minimum-allocation-ext4": { type: "string" },
        "minimum-allocation-xfs": { type: "string" },
        "minimum-allocation-btrfs": { type: "string" },
        "log-level": { type: "string" },
        version: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (error) {
    throw new FlagError((error as Error).message);
  }
  if (values.help === true) {
    return { kind: "help" };
  }
  if (values.version === true) {
    return { kind: "version" };
  }
  const nonEmpty = (flag: string, value: string | undefined, fallback: string): string => {
    if (value === "") {
      throw new FlagError(`--${flag}: must not be empty`);
    }
    return value ?? fallback;
  };
  const objectName = (flag: string, value: string | undefined, fallback: string, pattern: RegExp, what: string): string => {
    const name = nonEmpty(flag, value, fallback);
    if (!pattern.test(name)) {
      throw new FlagError(`--${flag}: ${JSON.stringify(name)} is not ${what}`);
    }
    return name;
  };
  const address = (flag: string, value: string | undefined, fallback: string): ListenAddress => {
    try {
      return parseListenAddress(`--${flag}`, value ?? fallback);
    } catch (error) {
      throw new FlagError((error as Error).message);
    }
  };
  const logLevel = values["log-level"] ?? "info";
  const level = logLevels.find((candidate) => candidate === logLevel);
  if (level === undefined) {
    throw new FlagError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${logLevels.join(", ")}`);
  }
  const kubeconfig = values.kubeconfig;
  if (kubeconfig === "") {
    throw new FlagError("--kubeconfig: must not be empty (leave it out for $KUBECONFIG or the in-cluster config)");
  }
  const podNamespace = env.POD_NAMESPACE;
  return {
    kind: "run",
    flags: {
      csiSocket: nonEmpty("csi-socket", values["csi-socket"], DEFAULT_CONTROLLER_CSI_SOCKET),
      kubeconfig,
      healthAddress: address("health-addr", values["health-addr"], ":8081"),
      metricsAddress: address("metrics-addr", values["metrics-addr"], ":8080"),
      leaderElection: parseBoolean("leader-election", values["leader-election"] ?? "true"),
      leaderElectionNamespace: objectName(
        "leader-election-namespace",
        values["leader-election-namespace"],
        podNamespace === undefined || podNamespace === "" ? "topolvm-system" : podNamespace,
        /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/,
        "a namespace name (up to 63 characters of a-z, 0-9 and '-')",
      ),
      leaderElectionId: objectName(
        "leader-election-id",
        values["leader-election-id"],
        "topolvm",
        /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
        "a Lease name (up to 253 characters of a-z, 0-9, '-' and '.')",
      ),
      skipNodeFinalize: parseBoolean("skip-node-finalize", values["skip-node-finalize"] ?? "false"),
      minimumAllocation: {
        blockBytes: parseMinimum("minimum-allocation-block", values["minimum-allocation-block"], defaultMinimumAllocation.blockBytes),
        ext4Bytes: parseMinimum("minimum-allocation-ext4", values["minimum-allocation-ext4"], defaultMinimumAllocation.ext4Bytes),
        xfsBytes: parseMinimum("minimum-allocation-xfs", values["minimum-allocation-xfs"], defaultMinimumAllocation.xfsBytes),
        btrfsBytes: parseMinimum("minimum-allocation-btrfs", values["minimum-allocation-btrfs"], defaultMinimumAllocation.btrfsBytes),
      },
      logLevel: level,
    },
  };
}
