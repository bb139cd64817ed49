import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createKubeClient, type KubeClient, loadKubeCredentials } from "@topolvm/kube-client";
import { pino, type Logger } from "pino";
import { createClusterCache } from "./cluster-cache.js";
import type { WebhookConfig } from "./flags.js";
import { createHealthServer } from "./health-server.js";
import { formatListenAddress, type ListenAddress } from "./listen-address.js";
import { createWebhookMetrics } from "./metrics.js";
import { loadServingCertificate, type ServingCertificate, watchServingCertificate } from "./serving-certificate.js";
import { createWebhookApp } from "./webhook-app.js";

/** A running topolvm-webhook. */
export interface RunningWebhook {
  /** Bound HTTPS address of the hooks (the real port when 0 was asked). */
  readonly address: AddressInfo;
  /** Bound address of /metrics, /healthz, /readyz. */
  readonly metricsAddress: AddressInfo;
  /** Drains: readiness fails, new connections are refused, in-flight admissions finish (or are cut after drainMs). */
  stop(): Promise<void>;
}

/** After this long, connections still open at shutdown are closed. */
const drainMs = 10_000;
const tlsMinVersion = "TLSv1.2";

/**
 * Connects to the API server: --kubeconfig, else the one file $KUBECONFIG names, else ~/.kube/config, else the
 * in-cluster service account (kube-client's loadKubeCredentials).
 */
export async function connectWebhookKube(kubeconfig: string | undefined): Promise<KubeClient> {
  let credentials;
  try {
    credentials = await loadKubeCredentials(kubeconfig === undefined ? {} : { kubeconfig });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(kubeconfig === undefined ? message : `cannot load --kubeconfig: ${message}`, { cause: error });
  }
  return createKubeClient(credentials, { userAgent: "topolvm-webhook" });
}

/** Creates the process logger: JSON lines on stdout. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { component: "topolvm-webhook" }, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * Starts the webhook: informers (non-blocking), the HTTPS hook server with certificate reload, and the health server.
 * Fails fast when the kubeconfig or the serving certificate cannot be loaded or an address cannot be bound.
 */
export async function startWebhook(config: WebhookConfig, logger: Logger): Promise<RunningWebhook> {
  const kube = await connectWebhookKube(config.kubeconfig);
  try {
    return await serve(config, logger, kube);
  } catch (error) {
    kube.close();
    throw error;
  }
}

/** startWebhook past the connection, which it closes when this fails. */
async function serve(config: WebhookConfig, logger: Logger, kube: KubeClient): Promise<RunningWebhook> {
  const certificate = loadServingCertificate(config.certDir);
  const metrics = createWebhookMetrics();
  const cache = createClusterCache({
    kube,
    watchClaims: config.podHook,
    // The fallback read must end before the request deadline so its error, not the deadline, is reported.
    fallbackTimeoutMs: Math.max(1, Math.floor(config.requestTimeoutMs * 0.8)),
    logger,
    metrics,
  });
  const app = createWebhookApp({
    lookupFor: (signal) => cache.forReview(signal),
    podHook: config.podHook,
    pvcHook: config.pvcHook,
    requestTimeoutMs: config.requestTimeoutMs,
    logger,
    metrics,
  });
  const handle = app.callback();
  const secureOptions = (serving: ServingCertificate) => ({ cert: serving.cert, key: serving.key, minVersion: tlsMinVersion } as const);
  const server = createHttpsServer(secureOptions(certificate), (request, response) => {
    void handle(request, response);
  });
  // Slow or stalled clients must not hold sockets past kube-apiserver's own 10 s limit for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  // kube-apiserver's clients keep idle connections for 90 s. A server that closes them sooner (Node: 5 s) races the
  // next call written into the closing socket, and that admission fails with "broken pipe": let the client close.
  server.keepAliveTimeout = 120_000;
  server.on("tlsClientError", (error) => {
    logger.debug({ err: error.message }, "TLS handshake failed");
  });

  let draining = false;
  const health = createHealthServer(metrics.registry, () =>
    draining
      ? { ready: false, reason: "shutting down" }
      : cache.synced()
        ? { ready: true }
        : { ready: false, reason: "informer caches have not synced with the API server yet" },
  );

  const address = await listen(server, config.listen);
  let metricsAddress: AddressInfo;
  try {
    metricsAddress = await listen(health, config.metricsListen);
  } catch (error) {
    server.close();
    throw error;
  }
  const certificateWatch = watchServingCertificate({
    certDir: config.certDir,
    current: certificate,
    apply: (next) => {
      server.setSecureContext(secureOptions(next));
    },
    logger,
    metrics,
  });
  cache.start();
  logger.info(
    {
      listen: formatListenAddress({ host: address.address, port: address.port }),
      port: address.port,
      metricsListen: formatListenAddress({ host: metricsAddress.address, port: metricsAddress.port }),
      metricsPort: metricsAddress.port,
      hooks: [...(config.podHook ? ["/pod/mutate"] : []), ...(config.pvcHook ? ["/pvc/mutate"] : [])],
      certificateNotAfter: certificate.notAfter.toISOString(),
    },
    "listening",
  );

  return {
    address,
    metricsAddress,
    async stop() {
      draining = true;
      certificateWatch.close();
      const forceClose = setTimeout(() => {
        logger.warn({ drainMs }, "closing connections still open after the drain period");
        server.closeAllConnections();
      }, drainMs);
      await closeServer(server);
      clearTimeout(forceClose);
      await cache.stop();
      kube.close();
      health.closeAllConnections();
      await closeServer(health);
      logger.info("stopped");
    },
  };
}

function listen(server: Server | HttpsServer, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      reject(new Error(`cannot listen on ${formatListenAddress(address)}: ${error.message}`, { cause: error }));
    };
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops accepting; resolves when every connection has ended (idle keep-alive ones are closed at once). */
function closeServer(server: Server | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    server.closeIdleConnections();
  });
}
