import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The HTTP routes the extender serves, as metric label values; everything else counts as "other". */
export type Verb = "predicate" | "prioritize" | "status" | "metrics" | "other";

/** The extender's Prometheus metrics, in a registry of their own. */
export interface ExtenderMetrics {
  readonly registry: Registry;
  /** Records one finished request. */
  observeRequest(verb: Verb, statusCode: number, durationSeconds: number): void;
  /** Records one request whose client closed the connection before sending its whole body. */
  observeClientAbort(verb: Verb): void;
}

export interface ExtenderMetricsOptions {
  /** Adds prom-client's process collectors (RSS, CPU, event loop lag). */
  readonly processMetrics: boolean;
  /** How many nodes the node cache holds, read at each scrape; absent when there is no cache. */
  readonly cachedNodes?: () => number;
}

/** Creates the metrics. */
export function createExtenderMetrics(options: ExtenderMetricsOptions): ExtenderMetrics {
  const registry = new Registry();
  if (options.processMetrics) {
    collectDefaultMetrics({ register: registry });
  }
  const requests = new Counter({
    name: "topolvm_scheduler_requests_total",
    help: "HTTP requests served by topolvm-scheduler, by verb and status code.",
    labelNames: ["verb", "code"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "topolvm_scheduler_request_duration_seconds",
    help: "Time from receiving a request to sending its response, by verb.",
    labelNames: ["verb"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const clientAborts = new Counter({
    name: "topolvm_scheduler_client_aborts_total",
    help: "Requests whose client closed the connection before the end of the body, by verb.",
    labelNames: ["verb"] as const,
    registers: [registry],
  });
  const { cachedNodes } = options;
  if (cachedNodes !== undefined) {
    new Gauge({
      name: "topolvm_scheduler_node_cache_nodes",
      help: "Nodes in topolvm-scheduler's node cache.",
      registers: [registry],
      collect() {
        this.set(cachedNodes());
      },
    });
  }
  return {
    registry,
    observeRequest(verb, statusCode, durationSeconds) {
      requests.inc({ verb, code: String(statusCode) });
      duration.observe({ verb }, durationSeconds);
    },
    observeClientAbort(verb) {
      clientAborts.inc({ verb });
    },
  };
}
