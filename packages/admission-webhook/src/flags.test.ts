import { describe, expect, it } from "vitest";
import { parseCommand, UsageError } from "./flags.js";

describe("parseCommand", () => {
  it("runs with upstream's defaults", () => {
    expect(parseCommand([])).toEqual({
      run: {
        listen: { host: undefined, port: 9443 },
        certDir: "/certs",
        kubeconfig: undefined,
        metricsListen: { host: undefined, port: 9444 },
        podHook: true,
        pvcHook: true,
        requestTimeoutMs: 3000,
        logLevel: "info",
      },
    });
  });

  it("reads every flag", () => {
    expect(
      parseCommand([
        "--listen=127.0.0.1:0",
        "--cert-dir",
        "/tmp/certs",
        "--kubeconfig=/tmp/kubeconfig",
        "--metrics-listen=[::1]:9000",
        "--disable-pvc-hook",
        "--request-timeout-ms=500",
        "--log-level=debug",
      ]),
    ).toEqual({
      run: {
        listen: { host: "127.0.0.1", port: 0 },
        certDir: "/tmp/certs",
        kubeconfig: "/tmp/kubeconfig",
        metricsListen: { host: "::1", port: 9000 },
        podHook: true,
        pvcHook: false,
        requestTimeoutMs: 500,
        logLevel: "debug",
      },
    });
  });

  it("answers --version and --help before validating", () => {
    expect(parseCommand(["--version", "--listen=bad"])).toEqual({ version: true });
    expect(parseCommand(["--help"])).toEqual({ help: true });
  });

  it.each([
    [["--listen=9443"], '--listen: "9443" is not host:port'],
    [["--metrics-listen=:99999"], '--metrics-listen: ":99999" is not host:port'],
    [["--request-timeout-ms=10000"], '--request-timeout-ms: "10000" is not a whole number of milliseconds from 1 to 9000'],
    [["--request-timeout-ms=1.5"], "--request-timeout-ms"],
    [["--log-level=loud"], '--log-level: "loud" is not one of trace, debug, info, warn, error, fatal'],
    [["--disable-pod-hook", "--disable-pvc-hook"], "leave nothing to serve"],
    [["--cert-dir="], "--cert-dir: must not be empty"],
    [["--kubeconfig="], "--kubeconfig: must not be empty"],
    [["--bogus"], "Unknown option '--bogus'"],
    [["extra"], "Unexpected argument 'extra'"],
  ])("rejects %j", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});
