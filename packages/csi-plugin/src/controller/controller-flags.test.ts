import { describe, expect, it } from "vitest";
import { defaultMinimumAllocation } from "./create-volume.js";
import { DEFAULT_CONTROLLER_CSI_SOCKET, FlagError, parseControllerFlags, type ControllerFlags } from "./controller-flags.js";

function run(argv: string[], env: Record<string, string> = {}): ControllerFlags {
  const command = parseControllerFlags(argv, env);
  if (command.kind !== "run") {
    throw new Error(`expected run, got ${command.kind}`);
  }
  return command.flags;
}
const failure = (argv: string[]): string => {
  try {
    parseControllerFlags(argv, {});
  } catch (error) {
    if (error instanceof FlagError) {
      return error.message;
    }
    throw error;
  }
  throw new Error("expected a FlagError");
};

describe("parseControllerFlags", () => {
  it("has upstream's defaults", () => {
    expect(run([])).toEqual({
      csiSocket: DEFAULT_CONTROLLER_CSI_SOCKET,
      kubeconfig: undefined,
      healthAddress: { host: undefined, port: 8081 },
      metricsAddress: { host: undefined, port: 8080 },
      leaderElection: true,
      leaderElectionNamespace: "topolvm-system",
      leaderElectionId: "topolvm",
      skipNodeFinalize: false,
      minimumAllocation: defaultMinimumAllocation,
      logLevel: "info",
    });
    expect(defaultMinimumAllocation).toEqual({ blockBytes: 8n << 20n, ext4Bytes: 32n << 20n, xfsBytes: 300n << 20n, btrfsBytes: 200n << 20n });
  });

  it("takes the Lease namespace from POD_NAMESPACE", () => {
    expect(run([], { POD_NAMESPACE: "storage" }).leaderElectionNamespace).toBe("storage");
    expect(run(["--leader-election-namespace", "other"], { POD_NAMESPACE: "storage" }).leaderElectionNamespace).toBe("other");
  });

  it("reads every flag", () => {
    const flags = run([
      "--csi-socket=/tmp/x.sock",
      "--kubeconfig",
      "/etc/kc",
      "--health-addr",
      "127.0.0.1:9",
      "--metrics-addr",
      "[::1]:10",
      "--leader-election-id",
      "my-lease",
      "--minimum-allocation-block",
      "1Mi",
      "--minimum-allocation-ext4=64Mi",
      "--minimum-allocation-xfs",
      "1G",
      "--minimum-allocation-btrfs",
      "0",
      "--log-level",
      "debug",
    ]);
    expect(flags).toMatchObject({
      csiSocket: "/tmp/x.sock",
      kubeconfig: "/etc/kc",
      healthAddress: { host: "127.0.0.1", port: 9 },
      metricsAddress: { host: "::1", port: 10 },
      leaderElectionId: "my-lease",
      minimumAllocation: { blockBytes: 1n << 20n, ext4Bytes: 64n << 20n, xfsBytes: 1_000_000_000n, btrfsBytes: 0n },
      logLevel: "debug",
    });
  });

  it("reads booleans Go-style: bare, =value and as the next word", () => {
    expect(run(["--leader-election=false"]).leaderElection).toBe(false);
    expect(run(["--leader-election", "false", "--csi-socket", "/s"]).leaderElection).toBe(false);
    expect(run(["--leader-election", "--skip-node-finalize"])).toMatchObject({ leaderElection: true, skipNodeFinalize: true });
    expect(run(["--skip-node-finalize=false"]).skipNodeFinalize).toBe(false);
  });

  it("answers help and version", () => {
    expect(parseControllerFlags(["--help"], {})).toEqual({ kind: "help" });
    expect(parseControllerFlags(["--version"], {})).toEqual({ kind: "version" });
  });

  it("names the flag and the value of a bad command line", () => {
    expect(failure(["--leader-election", "maybe"])).toBe('--leader-election: "maybe" is not true or false');
    expect(failure(["--minimum-allocation-xfs", "lots"])).toContain("--minimum-allocation-xfs: invalid quantity \"lots\"");
    expect(failure(["--minimum-allocation-ext4=-1Mi"])).toBe('--minimum-allocation-ext4: "-1Mi" is negative');
    expect(failure(["--health-addr", "8081"])).toBe('--health-addr: "8081" is not HOST:PORT or :PORT');
    expect(failure(["--log-level", "loud"])).toContain('--log-level: "loud" is not one of');
    expect(failure(["--leader-election-namespace", "Bad_NS"])).toContain('--leader-election-namespace: "Bad_NS" is not a namespace name');
    expect(failure(["--csi-socket="])).toBe("--csi-socket: must not be empty");
    expect(failure(["--kubeconfig="])).toContain("--kubeconfig: must not be empty");
    expect(failure(["--bogus"])).toContain("Unknown option '--bogus'");
  });
});
