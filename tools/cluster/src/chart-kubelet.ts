// What kubelet does for the chart's pods on the local cluster: their volumes (directories, and the files of
// ConfigMaps and Secrets through the rewrites of chart-rewrites.ts) and their readiness (what each component must
// have done, then the chart's own httpGet and exec probes).
import { CoordinationV1Api, CoreV1Api, type V1Container, type V1Volume } from "@kubernetes/client-node";
import { checkHealth, ServingStatus } from "@topolvm/lvmd";
import { capacityAnnotationPrefix, defaultDeviceClassKey } from "@topolvm/proto/names";
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";

import type { ChartPod } from "./chart-pods.js";
import { rewriteArgs, rewriteConfigFile, type ContainerKind, type Mount } from "./chart-rewrites.js";
import { httpStatus } from "./ports.js";
import { leaseHeld } from "./topolvm.js";
import { provisionerLeaseName, resizerLeaseName, topolvmBinArgv } from "./topolvm-flags.js";
import type { ReadinessProbe } from "./topolvm-process.js";

const execFileAsync = promisify(execFile);

/** One container of a chart pod, ready to run: its argv and environment here, and what its readiness reads. */
export interface PreparedContainer {
  pod: ChartPod;
  container: V1Container;
  kind: ContainerKind;
  name: string;
  argv: string[];
  env: Record<string, string>;
  listens: Map<string, string>;
  paths: Map<string, string>;
  mounts: readonly Mount[];
  /** The pod's container ports and where their listeners are here. */
  ports: ReadonlyMap<number, string>;
}

/** Reads all keys of a ConfigMap or Secret (decoded); undefined when it does not exist. */
export type DataReader = (kind: "ConfigMap" | "Secret", name: string) => Promise<Record<string, string> | undefined>;

export interface MaterialiseHooks {
  allocate: (original: string) => Promise<string>;
  record: (what: string) => void;
  /** Receives the address a mounted config file's `listen` now has. */
  listen: (address: string) => void;
}

/** What kubelet does for a volume: a directory (hostPath, emptyDir) or the files of a ConfigMap or Secret, with (a) and (b). */
export async function materialise(volume: V1Volume, dir: string, read: DataReader, mounts: readonly Mount[], hooks: MaterialiseHooks): Promise<void> {
  if (volume.hostPath !== undefined) {
    const type = volume.hostPath.type ?? "";
    await mkdir(["", "Directory", "DirectoryOrCreate"].includes(type) ? dir : dirname(dir), { recursive: true });
    return;
  }
  if (volume.emptyDir !== undefined) {
    await mkdir(dir, { recursive: true });
    return;
  }
  const source =
    volume.configMap !== undefined
      ? { kind: "ConfigMap" as const, name: volume.configMap.name ?? "", items: volume.configMap.items, optional: volume.configMap.optional }
      : volume.secret !== undefined
        ? { kind: "Secret" as const, name: volume.secret.secretName ?? "", items: volume.secret.items, optional: volume.secret.optional }
        : undefined;
  if (source === undefined) {
    throw new Error(`volume ${volume.name}: only hostPath, emptyDir, configMap and secret volumes are supported here`);
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const data = await read(source.kind, source.name);
  if (data === undefined) {
    if (source.optional === true) {
      return;
    }
    throw new Error(`volume ${volume.name}: ${source.kind} ${source.name} does not exist`);
  }
  const items: { key: string; path: string }[] =
    source.items?.map((item) => ({ key: item.key, path: item.path })) ?? Object.keys(data).map((key) => ({ key, path: key }));
  for (const item of items) {
    const text = data[item.key];
    if (text === undefined) {
      throw new Error(`volume ${volume.name}: ${source.kind} ${source.name} has no key ${item.key}`);
    }
    const file = join(dir, item.path);
    await mkdir(dirname(file), { recursive: true });
    const rewritten = await rewriteConfigFile(item.path, text, mounts, hooks.allocate, hooks.record);
    if (rewritten.listen !== undefined) {
      hooks.listen(rewritten.listen);
    }
    await writeFile(file, rewritten.text, { mode: 0o600 });
  }
}

/** lvmd's socket: --socket, else its config's socket-name. */
async function lvmdSocket(entry: PreparedContainer): Promise<string> {
  const args = entry.argv;
  const flag = args.findIndex((arg) => arg === "--socket" || arg.startsWith("--socket="));
  if (flag !== -1) {
    const arg = args[flag] ?? "";
    return arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : (args[flag + 1] ?? "");
  }
  const configFile = entry.paths.get("--config") ?? "";
  const config = parse(await readFile(configFile, "utf8")) as { "socket-name"?: unknown } | null;
  const socket = config?.["socket-name"];
  if (typeof socket !== "string") {
    throw new Error(`${entry.name}: ${configFile} has no socket-name`);
  }
  return socket;
}

/**
 * The chart's own probes of a container, as kubelet would run them: httpGet against the listener that has the
 * probe's port here, exec with the probe's command through the same rewrites. A probe on a port nothing here
 * listens on (the livenessprobe sidecar's) is reported through `unchecked`.
 */
function chartProbes(entry: PreparedContainer, unchecked: (what: string) => void): ReadinessProbe[] {
  const checks: ReadinessProbe[] = [];
  const probes = { readinessProbe: entry.container.readinessProbe, livenessProbe: entry.container.livenessProbe };
  for (const [which, probe] of Object.entries(probes)) {
    const get = probe?.httpGet;
    if (get !== undefined) {
      const port =
        typeof get.port === "number"
          ? get.port
          : entry.pod.spec.containers.flatMap((container) => container.ports ?? []).find((candidate) => candidate.name === get.port)
              ?.containerPort;
      const address = port === undefined ? undefined : entry.ports.get(port);
      if (address === undefined) {
        unchecked(`${which} GET ${get.path ?? "/"} on port ${String(get.port)} not checked: no process here listens on it`);
        continue;
      }
      const url = `${(get.scheme ?? "HTTP").toLowerCase()}://${address}${get.path ?? "/"}`;
      checks.push(async () => {
        const status = await httpStatus(url);
        return status === undefined ? undefined : `the chart's ${which}: ${status}`;
      });
    }
    const command = probe?.exec?.command;
    if (command !== undefined) {
      const [program = "", ...args] = command;
      if (basename(program) !== entry.kind || entry.kind === "csi-provisioner" || entry.kind === "csi-resizer") {
        unchecked(`${which} ${JSON.stringify(command)} not checked: it does not run ${entry.kind}`);
        continue;
      }
      const kind = entry.kind;
      checks.push(async () => {
        const rewritten = await rewriteArgs(
          kind,
          args,
          new Map(Object.entries(entry.env)),
          entry.mounts,
          () => Promise.reject(new Error("a probe command opens no listener")),
          () => undefined,
        );
        const argv = topolvmBinArgv(kind, rewritten.args);
        try {
          await execFileAsync(argv[0] ?? "", argv.slice(1), { env: { ...process.env, ...entry.env }, timeout: 30_000 });
          return undefined;
        } catch (error) {
          return `the chart's ${which} ${JSON.stringify(command)} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`;
        }
      });
    }
  }
  return checks;
}

/** When a process counts as ready: what kubelet's plugin registration would wait for, then the chart's own probes. */
export async function readiness(
  entry: PreparedContainer,
  core: CoreV1Api,
  coordination: CoordinationV1Api,
  unchecked: (what: string) => void,
): Promise<ReadinessProbe> {
  const own = await componentReadiness(entry, core, coordination);
  const probes = chartProbes(entry, unchecked);
  return async () => {
    for (const check of [own, ...probes]) {
      const waiting = await check();
      if (waiting !== undefined) {
        return waiting;
      }
    }
    return undefined;
  };
}

/** What each component must have done before the processes that depend on it start. */
async function componentReadiness(entry: PreparedContainer, core: CoreV1Api, coordination: CoordinationV1Api): Promise<ReadinessProbe> {
  const address = (flag: string): string => {
    const value = entry.listens.get(flag);
    if (value === undefined) {
      throw new Error(`${entry.name}: no ${flag} address to probe`);
    }
    return value;
  };
  switch (entry.kind) {
    case "lvmd": {
      const socket = await lvmdSocket(entry);
      return async () => {
        const status = await checkHealth(socket, 2_000).catch((error: unknown) => String(error));
        return status === ServingStatus.SERVING ? undefined : `lvmd health on ${socket}: ${String(status)}`;
      };
    }
    case "topolvm-node": {
      const health = address("--health-addr");
      const csiSocket = entry.paths.get("--csi-socket");
      const key = capacityAnnotationPrefix + defaultDeviceClassKey;
      return async () => {
        const status = await httpStatus(`http://${health}/readyz`);
        if (status !== undefined) {
          return status;
        }
        if (csiSocket !== undefined && (await stat(csiSocket).catch(() => undefined))?.isSocket() !== true) {
          return `no CSI socket ${csiSocket} yet`;
        }
        const annotations = (await core.readNode({ name: entry.pod.nodeName })).metadata?.annotations ?? {};
        return annotations[key] === undefined ? `Node ${entry.pod.nodeName} has no annotation ${key} yet` : undefined;
      };
    }
    case "topolvm-controller": {
      const health = address("--health-addr");
      return () => httpStatus(`http://${health}/readyz`);
    }
    case "topolvm-webhook": {
      const metrics = address("--metrics-listen");
      return () => httpStatus(`http://${metrics}/readyz`);
    }
    case "topolvm-scheduler": {
      const listen = address("listen");
      return () => httpStatus(`http://${listen}/status`);
    }
    case "csi-provisioner":
    case "csi-resizer": {
      const leader = entry.argv.some((arg) => arg === "--leader-election" || arg === "--leader-election=true");
      const lease = entry.kind === "csi-provisioner" ? provisionerLeaseName : resizerLeaseName;
      return leader ? () => leaseHeld(coordination, lease) : () => Promise.resolve(undefined);
    }
  }
}
