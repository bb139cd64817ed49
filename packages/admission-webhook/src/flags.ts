import { parseArgs } from "node:util";
import { type ListenAddress, parseListenAddress } from "./listen-address.js";

/** The configuration of one topolvm-webhook process, from its command line. */
export interface WebhookConfig {
  readonly listen: ListenAddress;
  readonly certDir: string;
  /** Path of a kubeconfig; undefined means $KUBECONFIG, else ~/.kube/config, else the in-cluster service account. */
  readonly kubeconfig: string | undefined;
  readonly metricsListen: ListenAddress;
  readonly podHook: boolean;
  readonly pvcHook: boolean;
  readonly requestTimeoutMs: number;
  readonly logLevel: LogLevel;
}

/** What the command line asks for: run with a configuration, or print the version or the usage. */
export type Command = { readonly run: WebhookConfig } | { readonly version: true } | { readonly help: true };

const logLevels = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
/** pino levels accepted by --log-level. */
export type LogLevel = (typeof logLevels)[number];

/** kube-apiserver waits at most 10 s (the webhook's timeoutSeconds); answering well before leaves it room. */
const maxRequestTimeoutMs = 9000;

export const usage = `Usage: topolvm-webhook [flags]

Mutating admission webhooks of TopoLVM over HTTPS (AdmissionReview v1):
  POST /pod/mutate  pod-hook.topolvm.cybozu.com  capacity annotations and resource for pods with TopoLVM claims
  POST /pvc/mutate  pvc-hook.topolvm.cybozu.com  finalizer topolvm.cybozu.com/pvc on TopoLVM PVCs

Flags:
  --listen ADDR              HTTPS address of the hooks (default ":9443")
  --cert-dir DIR             directory with tls.crt and tls.key, reloaded on change (default "/certs")
  --kubeconfig FILE          kubeconfig to reach the API server (default: $KUBECONFIG, else ~/.kube/config,
                             else the in-cluster service account)
  --metrics-listen ADDR      plain HTTP address of /metrics, /healthz, /readyz (default ":9444")
  --disable-pod-hook         do not serve /pod/mutate (and do not watch PVCs)
  --disable-pvc-hook         do not serve /pvc/mutate
  --request-timeout-ms MS    deadline of one admission, at most ${maxRequestTimeoutMs} (default 3000)
  --log-level LEVEL          ${logLevels.join(", ")} (default "info")
  --version                  print the version and exit
  --help                     print this help and exit
`;

/** A command line that cannot be run; the message names the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses the command line (without the node and script paths). */
export function parseCommand(argv: readonly string[]): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: "string", default: ":9443" },
        "cert-dir": { type: "string", default: "/certs" },
        kubeconfig: { type: "string" },
        "metrics-listen": { type: "string", default: ":9444" },
        "disable-pod-hook": { type: "boolean", default: false },
        "disable-pvc-hook": { type: "boolean", default: false },
        "request-timeout-ms": { type: "string", default: "3000" },
        "log-level": { type: "string", default: "info" },
        version: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    return { help: true };
  }
  if (values.version) {
    return { version: true };
  }
  const wrap = <T>(read: () => T): T => {
    try {
      return read();
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  };
  const requestTimeoutMs = Number(values["request-timeout-ms"]);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > maxRequestTimeoutMs) {
    throw new UsageError(
      `--request-timeout-ms: ${JSON.stringify(values["request-timeout-ms"])} is not a whole number of milliseconds from 1 to ${maxRequestTimeoutMs}`,
    );
  }
  const logLevel = logLevels.find((level) => level === values["log-level"]);
  if (logLevel === undefined) {
    throw new UsageError(`--log-level: ${JSON.stringify(values["log-level"])} is not one of ${logLevels.join(", ")}`);
  }
  if (values["disable-pod-hook"] && values["disable-pvc-hook"]) {
    throw new UsageError("--disable-pod-hook and --disable-pvc-hook together leave nothing to serve");
  }
  if (values["cert-dir"] === "") {
    throw new UsageError("--cert-dir: must not be empty");
  }
  if (values.kubeconfig === "") {
    throw new UsageError("--kubeconfig: must not be empty (omit it to use $KUBECONFIG, ~/.kube/config or the in-cluster service account)");
  }
  return {
    run: {
      listen: wrap(() => parseListenAddress(values.listen, "--listen")),
      certDir: values["cert-dir"],
      kubeconfig: values.kubeconfig,
      metricsListen: wrap(() => parseListenAddress(values["metrics-listen"], "--metrics-listen")),
      podHook: !values["disable-pod-hook"],
      pvcHook: !values["disable-pvc-hook"],
      requestTimeoutMs,
      logLevel,
    },
  };
}
