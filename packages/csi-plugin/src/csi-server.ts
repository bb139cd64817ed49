import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { bindUnixSocket, createGrpcServer, type ServiceRegistration } from "@topolvm/lvmd";
import { unlink } from "node:fs/promises";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** How long close() lets running calls finish before it cuts them off. */
export const DRAIN_TIMEOUT_MS = 20_000;

/** Calls of one method running at once, and waiting beyond those, by default. */
export const DEFAULT_MAX_IN_FLIGHT = 64;
export const DEFAULT_MAX_QUEUED = 1024;

export interface CsiServerOptions {
  readonly socketPath: string;
  /** Built with `registration()` of @topolvm/lvmd; methods left out answer Unimplemented. */
  readonly services: readonly ServiceRegistration[];
  readonly logger: Logger;
  /** Where the per-RPC metrics go; none without it. */
  readonly registry?: Registry;
  /** Calls of one method running at once; more wait in a queue. */
  readonly maxInFlight?: number;
  /** Calls of one method waiting; beyond that a call is refused with Unavailable. */
  readonly maxQueued?: number;
  readonly drainTimeoutMs?: number;
}

/** A CSI gRPC server on a unix socket. */
export interface CsiServer {
  readonly socketPath: string;
  /** Stops accepting calls, lets running ones finish (up to the drain timeout, then aborts them), removes the socket. */
  close(): Promise<void>;
}

/** A counting semaphore with a bounded queue whose waiters leave when their call's signal aborts. */
interface Limit {
  acquire(signal: AbortSignal): Promise<() => void>;
}

function createLimit(method: string, maxInFlight: number, maxQueued: number): Limit {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) {
      running -= 1;
    } else {
      next();
    }
  };
  return {
    async acquire(signal) {
      if (running < maxInFlight) {
        running += 1;
        return release;
      }
      if (waiting.length >= maxQueued) {
        throw new ConnectError(`${method}: ${maxInFlight} calls running and ${maxQueued} waiting; retry later`, Code.Unavailable);
      }
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = (): void => {
          waiting.splice(waiting.indexOf(wake), 1);
          reject(new ConnectError(`${method}: the call ended while it waited for a free slot`, Code.DeadlineExceeded));
        };
        waiting.push(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      return release;
    },
  };
}

interface RpcMetrics {
  readonly started: Counter;
  readonly handled: Counter;
  readonly seconds: Histogram;
  readonly inFlight: Gauge;
}

// The names and labels of go-grpc-prometheus, which dashboards for gRPC servers already read.
function createRpcMetrics(registry: Registry): RpcMetrics {
  const labelNames = ["grpc_type", "grpc_service", "grpc_method"] as const;
  return {
    started: new Counter({ name: "grpc_server_started_total", help: "RPCs started on the server.", labelNames, registers: [registry] }),
    handled: new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by status code.",
      labelNames: [...labelNames, "grpc_code"],
      registers: [registry],
    }),
    seconds: new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time to answer an RPC.",
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    inFlight: new Gauge({ name: "topolvm_csi_requests_in_flight", help: "RPCs running or waiting for a slot.", labelNames: ["grpc_service", "grpc_method"], registers: [registry] }),
  };
}

type UnaryHandler = (request: unknown, context: HandlerContext) => unknown;

/** Wraps every method of a registration: a per-method concurrency limit, and metrics of each call. */
function instrument(registration: ServiceRegistration, limits: { maxInFlight: number; maxQueued: number }, metrics: RpcMetrics | undefined): ServiceRegistration {
  const { service } = registration;
  const impl: Record<string, UnaryHandler> = {};
  const given = registration.impl as Readonly<Record<string, UnaryHandler | undefined>>;
  for (const method of service.methods) {
    const handler = given[method.localName];
    if (method.methodKind !== "unary" || handler === undefined) {
      continue;
    }
    const name = `${service.typeName}.${method.name}`;
    const limit = createLimit(name, limits.maxInFlight, limits.maxQueued);
    const labels = { grpc_type: "unary", grpc_service: service.typeName, grpc_method: method.name };
    const gaugeLabels = { grpc_service: service.typeName, grpc_method: method.name };
    impl[method.localName] = async (request, context) => {
      metrics?.started.inc(labels);
      metrics?.inFlight.inc(gaugeLabels);
      const stopTimer = metrics?.seconds.startTimer(labels);
      let code = "OK";
      try {
        const release = await limit.acquire(context.signal);
        try {
          return await handler(request, context);
        } finally {
          release();
        }
      } catch (error) {
        code = error instanceof ConnectError ? Code[error.code] : Code[Code.Internal];
        throw error;
      } finally {
        stopTimer?.();
        metrics?.inFlight.dec(gaugeLabels);
        metrics?.handled.inc({ ...labels, grpc_code: code });
      }
    };
  }
  // Methods not wrapped here (streams) are served as given.
  return { service, impl: Object.assign({}, registration.impl, impl) };
}

/**
 * Serves CSI services on a unix socket (mode 0600, created under umask 177 so it is never open to others) through
 * @topolvm/lvmd's grpc-js adapter. Each method runs at most `maxInFlight` calls at once; a call waiting for a slot
 * leaves when its deadline passes. The handlers see the caller's deadline and cancellation in `context.signal`.
 */
export async function startCsiServer(options: CsiServerOptions): Promise<CsiServer> {
  const { socketPath, logger } = options;
  const limits = { maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT, maxQueued: options.maxQueued ?? DEFAULT_MAX_QUEUED };
  const metrics = options.registry === undefined ? undefined : createRpcMetrics(options.registry);
  const shutdown = new AbortController();
  const { server, idle } = createGrpcServer(
    options.services.map((registration) => instrument(registration, limits, metrics)),
    shutdown.signal,
    logger,
  );

  await bindUnixSocket(server, socketPath);
  logger.info({ socket: socketPath, services: options.services.map((s) => s.service.typeName) }, "CSI server serving");

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      closing ??= (async () => {
        // tryShutdown refuses new calls at once and closes each connection once its calls have answered (cutting them
        // as soon as the handlers return would lose answers still in the socket buffers). Running calls keep their
        // signal until the drain timeout; then they are aborted and the connections cut.
        const graceful = new Promise<void>((resolve) => {
          server.tryShutdown(() => {
            resolve();
          });
        });
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          graceful.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => {
              resolve(true);
            }, options.drainTimeoutMs ?? DRAIN_TIMEOUT_MS);
          }),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          logger.warn("CSI calls still running after the drain timeout; aborting them");
          shutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
          await Promise.race([idle(), new Promise((resolve) => setTimeout(resolve, 1000))]);
          server.forceShutdown();
        }
        await unlink(socketPath).catch(() => undefined);
        logger.info("CSI server stopped");
      })();
      return closing;
    },
  };
}
