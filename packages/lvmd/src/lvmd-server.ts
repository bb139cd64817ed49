import { createLvm, execFileExecutor, type Executor } from "@topolvm/lvm-exec";
import { lvmd } from "@topolvm/proto";
import { unlink } from "node:fs/promises";
import type { Logger } from "pino";
import { checkConfigAgainstLvm, type LvmdConfig } from "./config.js";
import { createGrpcServer, registration } from "./grpc-server.js";
import { createHealth, Health } from "./health.js";
import { createLvService } from "./lv-service.js";
import { bindUnixSocket } from "./unix-socket.js";
import { createVgService } from "./vg-service.js";
import { createVolumeStore, type VolumeStore } from "./volume-store.js";

/** How often the model is re-read from LVM, to pick up changes made outside lvmd. */
export const defaultRefreshIntervalMs = 60_000;

/** How long SIGTERM waits for running calls before cutting them off. */
export const defaultDrainTimeoutMs = 30_000;

export interface LvmdServerOptions {
  readonly config: LvmdConfig;
  /** Overrides the config's socket-name. */
  readonly socketPath?: string;
  readonly logger: Logger;
  /** Runs LVM commands; default execFile. */
  readonly executor?: Executor;
  /** The environment of LVM commands; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Time limit per LVM command. */
  readonly lvmTimeoutMs?: number;
  readonly refreshIntervalMs?: number;
  readonly watchIntervalMs?: number;
  readonly drainTimeoutMs?: number;
}

/** A running lvmd. */
export interface LvmdServer {
  readonly socketPath: string;
  readonly store: VolumeStore;
  /** Stops accepting calls, ends Watch streams, lets running calls finish, removes the socket. */
  close(): Promise<void>;
}

/** Checks the config against LVM, loads the model and serves the lvmd API (and health) on the unix socket. */
export async function startLvmdServer(options: LvmdServerOptions): Promise<LvmdServer> {
  const { config, logger } = options;
  const socketPath = options.socketPath ?? config.socketName;
  const lvmOptions = {
    commandPrefix: config.lvmCommandPrefix,
    executor: options.executor ?? execFileExecutor,
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.lvmTimeoutMs === undefined ? {} : { timeoutMs: options.lvmTimeoutMs }),
  };

  const reports = await createLvm(lvmOptions).fullReport();
  checkConfigAgainstLvm(config, {
    volumeGroups: new Map(
      reports.map((r) => [r.volumeGroup.name, { thinPools: new Set(r.logicalVolumes.filter((lv) => lv.attr.startsWith("t")).map((lv) => lv.name)) }]),
    ),
  });

  const store = createVolumeStore({ lvm: lvmOptions, volumeGroups: config.deviceClasses.map((dc) => dc.volumeGroup), logger });
  await store.refreshAll();

  const shutdown = new AbortController();
  const health = createHealth([lvmd.LVService.typeName, lvmd.VGService.typeName]);
  const { server, idle } = createGrpcServer(
    [
      registration(lvmd.LVService, createLvService({ config, store, logger })),
      registration(
        lvmd.VGService,
        createVgService({ config, store, ...(options.watchIntervalMs === undefined ? {} : { watchIntervalMs: options.watchIntervalMs }) }),
      ),
      registration(Health, health.impl),
    ],
    shutdown.signal,
    logger,
  );

  await bindUnixSocket(server, socketPath);
  store.start(options.refreshIntervalMs ?? defaultRefreshIntervalMs);
  logger.info({ socket: socketPath, deviceClasses: config.deviceClasses.map((dc) => dc.name) }, "lvmd serving");

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    store,
    close() {
      closing ??= (async () => {
        health.markNotServing();
        shutdown.abort();
        // tryShutdown refuses new calls; idle clients may keep their connections open forever, so once the running
        // calls have finished (or the drain timeout has passed) the connections are cut.
        server.tryShutdown(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          idle().then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => {
              resolve(true);
            }, options.drainTimeoutMs ?? defaultDrainTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          logger.warn("calls still running after the drain timeout; cutting them off");
        }
        server.forceShutdown();
        await store.stop();
        await unlink(socketPath).catch(() => undefined);
        logger.info("lvmd stopped");
      })();
      return closing;
    },
  };
}
