import { createPrivateKey, X509Certificate } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { WebhookMetrics } from "./metrics.js";

/** File names inside the cert dir: the keys of a kubernetes.io/tls Secret such as `mutatingwebhook`. */
export const certificateFileName = "tls.crt";
export const privateKeyFileName = "tls.key";

/** A serving certificate (leaf first, chain after) and its private key, checked to belong together. */
export interface ServingCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly notAfter: Date;
  readonly fingerprint256: string;
}

/** The cert dir holds no usable certificate and key. */
export class ServingCertificateError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServingCertificateError";
  }
}

/** Reads tls.crt and tls.key from certDir and checks that the key is the certificate's. */
export function loadServingCertificate(certDir: string): ServingCertificate {
  const read = (name: string) => {
    const path = join(certDir, name);
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ServingCertificateError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const cert = read(certificateFileName);
  const key = read(privateKeyFileName);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new ServingCertificateError(`${join(certDir, certificateFileName)} is not a PEM certificate: ${(error as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(key));
  } catch (error) {
    throw new ServingCertificateError(`${join(certDir, privateKeyFileName)} is not a PEM private key: ${(error as Error).message}`);
  }
  if (!matches) {
    throw new ServingCertificateError(
      `${join(certDir, privateKeyFileName)} is not the private key of ${join(certDir, certificateFileName)}`,
    );
  }
  return { cert, key, notAfter: new Date(certificate.validTo), fingerprint256: certificate.fingerprint256 };
}

/** Options of watchServingCertificate. */
export interface CertificateWatchOptions {
  readonly certDir: string;
  readonly current: ServingCertificate;
  /** Called with each new, valid certificate; the server swaps its secure context here. */
  readonly apply: (certificate: ServingCertificate) => void;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Changes arrive as bursts of events (a Secret update swaps symlinks; a copy writes twice): wait for quiet. */
  readonly debounceMs?: number;
  /** Directory events can be lost (the watched dir replaced, some filesystems); a poll catches up. */
  readonly pollIntervalMs?: number;
}

/**
 * Reloads the serving certificate when the cert dir changes. The directory is watched rather than the files, since
 * Secret volumes update by repointing the `..data` symlink. A half-written or mismatched pair is rejected and the
 * previous certificate stays in use until a later event or poll finds a valid one.
 */
export function watchServingCertificate(options: CertificateWatchOptions): { close(): void } {
  const { certDir, apply, logger, metrics } = options;
  const debounceMs = options.debounceMs ?? 200;
  const pollIntervalMs = options.pollIntervalMs ?? 60_000;
  let current = options.current;
  let lastRejection = "";
  let debounceTimer: NodeJS.Timeout | undefined;
  metrics.certificateNotAfter.set(current.notAfter.getTime() / 1000);

  const reload = () => {
    debounceTimer = undefined;
    let next: ServingCertificate;
    try {
      next = loadServingCertificate(certDir);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== lastRejection) {
        lastRejection = message;
        metrics.certificateReloads.inc({ result: "rejected" });
        logger.warn({ err: message, certDir }, "new serving certificate rejected; keeping the current one");
      }
      return;
    }
    lastRejection = "";
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) {
      return;
    }
    apply(next);
    current = next;
    metrics.certificateReloads.inc({ result: "loaded" });
    metrics.certificateNotAfter.set(next.notAfter.getTime() / 1000);
    logger.info(
      { certDir, fingerprint256: next.fingerprint256, notAfter: next.notAfter.toISOString() },
      "serving certificate reloaded",
    );
  };
  const schedule = () => {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(reload, debounceMs);
  };

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(certDir, schedule);
    watcher.on("error", (error) => {
      logger.warn({ err: error.message, certDir }, "watching the cert dir failed; relying on polling");
      watcher?.close();
    });
  } catch (error) {
    logger.warn({ err: (error as Error).message, certDir }, "cannot watch the cert dir; relying on polling");
  }
  const poll = setInterval(schedule, pollIntervalMs);
  poll.unref();
  return {
    close() {
      clearInterval(poll);
      clearTimeout(debounceTimer);
      watcher?.close();
    },
  };
}
