import { describe, expect, it } from "vitest";
import { DEFAULT_LVMD_SOCKET, DEFAULT_NODE_CSI_SOCKET, NodeFlagError, parseNodeFlags } from "./node-flags.js";

const parse = (argv: string[], env: Record<string, string | undefined> = {}) => parseNodeFlags(argv, env);

describe("parseNodeFlags", () => {
  it("applies the defaults, taking the node name from NODE_NAME", () => {
    expect(parse([], { NODE_NAME: "node-1" })).toEqual({
      kind: "run",
      flags: {
        nodeName: "node-1",
        lvmdSocket: DEFAULT_LVMD_SOCKET,
        csiSocket: DEFAULT_NODE_CSI_SOCKET,
        deviceDir: "/dev/topolvm",
        kubeconfig: undefined,
        metricsAddress: { host: undefined, port: 8080 },
        healthAddress: { host: undefined, port: 8081 },
        logLevel: "info",
      },
    });
    expect(DEFAULT_LVMD_SOCKET).toBe("/run/topolvm/lvmd.sock");
    expect(DEFAULT_NODE_CSI_SOCKET).toBe("/var/lib/kubelet/plugins/topolvm.cybozu.com/node/csi-topolvm.sock");
  });

  it("takes every flag, --nodename over NODE_NAME", () => {
    const command = parse(
      [
        "--nodename",
        "worker-2.example",
        "--lvmd-socket=/tmp/lvmd.sock",
        "--csi-socket",
        "/var/lib/kubelet/plugins/x/csi.sock",
        "--device-dir=/dev/tlvm",
        "--kubeconfig",
        "/etc/kubeconfig",
        "--metrics-addr",
        "127.0.0.1:9100",
        "--health-addr",
        "[::1]:9101",
        "--log-level",
        "debug",
      ],
      { NODE_NAME: "ignored" },
    );
    expect(command).toEqual({
      kind: "run",
      flags: {
        nodeName: "worker-2.example",
        lvmdSocket: "/tmp/lvmd.sock",
        csiSocket: "/var/lib/kubelet/plugins/x/csi.sock",
        deviceDir: "/dev/tlvm",
        kubeconfig: "/etc/kubeconfig",
        metricsAddress: { host: "127.0.0.1", port: 9100 },
        healthAddress: { host: "::1", port: 9101 },
        logLevel: "debug",
      },
    });
  });

  it("answers --help and --version before checking anything else", () => {
    expect(parse(["--help"])).toEqual({ kind: "help" });
    expect(parse(["--version", "--log-level", "loud"])).toEqual({ kind: "version" });
  });

  it.each([
    [["--bogus"], "Unknown option '--bogus'"],
    [["positional"], "positional"],
    [[], "--nodename: required (or set NODE_NAME)"],
    [["--nodename", ""], "--nodename: required (or set NODE_NAME)"],
    [["--nodename", "Node_1"], '--nodename: "Node_1" is not a Node name'],
    [["--nodename", "-n"], "--nodename"],
    [["--nodename", "n1", "--lvmd-socket", ""], "--lvmd-socket: must not be empty"],
    [["--nodename", "n1", "--csi-socket="], "--csi-socket: must not be empty"],
    [["--nodename", "n1", "--csi-socket", "csi.sock"], '--csi-socket: "csi.sock" is not an absolute path'],
    [["--nodename", "n1", "--device-dir", "dev"], '--device-dir: "dev" is not an absolute path'],
    [["--nodename", "n1", "--kubeconfig="], "--kubeconfig: must not be empty"],
    [["--nodename", "n1", "--metrics-addr", "8080"], '--metrics-addr: "8080" is not HOST:PORT or :PORT'],
    [["--nodename", "n1", "--health-addr", ":65536"], '--health-addr: ":65536" is not HOST:PORT or :PORT'],
    [["--nodename", "n1", "--log-level", "verbose"], '--log-level: "verbose" is not one of fatal, error, warn, info, debug, trace'],
  ])("rejects %j naming the flag and the value", (argv, message) => {
    expect(() => parse(argv)).toThrow(NodeFlagError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("drops parseArgs' advice about positionals, since none are taken", () => {
    expect(() => parse(["--bogus"])).toThrow(/^Unknown option '--bogus'$/);
  });
});
