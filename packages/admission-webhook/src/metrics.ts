import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Hooks served, as metric label values. */
export type HookName = "pod" | "pvc";

/**
 * How a request ended: `patched` (allowed with a patch), `allowed` (no change), `denied`, `bad_request` (not an
 * AdmissionReview v1, HTTP 400), `unavailable` (caches not synced or lookups timed out, HTTP 503), `error` (HTTP 500).
 */
export type RequestResult = "patched" | "allowed" | "denied" | "bad_request" | "unavailable" | "error";

/** The webhook's Prometheus metrics, on a registry of their own (plus the default process metrics). */
export interface WebhookMetrics {
  readonly registry: Registry;
  readonly requests: Counter<"hook" | "result">;
  readonly requestDuration: Histogram<"hook">;
  readonly lookupFallbacks: Counter<"kind" | "result">;
  readonly certificateReloads: Counter<"result">;
  readonly certificateNotAfter: Gauge;
}

/** Creates the metrics on a fresh registry, so several servers in one test process do not clash. */
export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: "topolvm_webhook_requests_total",
      help: "Admission requests by hook and result.",
      labelNames: ["hook", "result"],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: "topolvm_webhook_request_duration_seconds",
      help: "Time from receiving an admission request to answering it.",
      labelNames: ["hook"],
      // kube-apiserver waits at most 10 s; cache lookups take well under a millisecond.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    lookupFallbacks: new Counter({
      name: "topolvm_webhook_lookup_fallbacks_total",
      help: "Objects missing from the informer cache and read from the API server instead, by kind and result.",
      labelNames: ["kind", "result"],
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: "topolvm_webhook_certificate_reloads_total",
      help: "Serving certificate reloads from the cert dir, by result (loaded or rejected).",
      labelNames: ["result"],
      registers: [registry],
    }),
    certificateNotAfter: new Gauge({
      name: "topolvm_webhook_certificate_not_after_seconds",
      help: "Expiry of the serving certificate in use, as a Unix time.",
      registers: [registry],
    }),
  };
}
