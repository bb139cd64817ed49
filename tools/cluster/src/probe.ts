import { readFileSync } from "node:fs";
import { request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";

import type { CertificatePaths } from "./pki.js";

/** TLS material for talking to a component: the CA that signed its serving certificate and a client certificate. */
export interface TlsClient {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export function tlsClient(caCertFile: string, client: CertificatePaths): TlsClient {
  return { ca: readFileSync(caCertFile), cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) };
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One HTTPS GET with full certificate verification; rejects on connection errors and after timeoutMs. */
export function httpsGet(url: string, tls: TlsClient, timeoutMs = 2_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, method: "GET", timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked before every attempt: a reason to stop waiting at once, such as the process having exited. */
  abortReason?: () => string | undefined;
}

/** Polls an HTTPS endpoint until it answers 200; the error names the last answer or connection error. */
export async function waitForOk(url: string, tls: TlsClient, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = "no answer yet";
  for (;;) {
    const abort = options.abortReason?.();
    if (abort !== undefined) {
      throw new Error(`gave up waiting for ${url}: ${abort}`);
    }
    try {
      const result = await httpsGet(url, tls);
      if (result.status === 200) {
        return;
      }
      last = `HTTP ${result.status}: ${result.body.slice(0, 2_000)}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      throw new Error(`${url} was not ready after ${options.timeoutMs} ms; last answer: ${last}`);
    }
    await sleep(options.intervalMs ?? 100);
  }
}
