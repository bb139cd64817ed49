import Koa from "koa";
import type { Logger } from "pino";
import {
  type Admission,
  type AdmissionRequest,
  AdmissionReviewError,
  admissionReviewResponse,
  deny,
  parseAdmissionReview,
  readAdmissionRequest,
  statusBody,
} from "./admission-review.js";
import { type ClusterLookup, LookupUnavailableError } from "./cluster-lookup.js";
import type { HookName, RequestResult, WebhookMetrics } from "./metrics.js";
import { ObjectShapeError } from "./object-shape.js";
import { mutatePod } from "./pod-mutator.js";
import { mutatePersistentVolumeClaim } from "./pvc-mutator.js";

/** Options of createWebhookApp. */
export interface WebhookAppOptions {
  /** The cluster state one admission reads; its API reads must end when the signal aborts. */
  readonly lookupFor: (signal: AbortSignal) => ClusterLookup;
  readonly podHook: boolean;
  readonly pvcHook: boolean;
  /** Deadline for one admission; kube-apiserver gives up after the webhook's timeoutSeconds (at most 10 s). */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Larger bodies get HTTP 413. */
  readonly maxBodyBytes?: number;
}

interface Hook {
  readonly name: HookName;
  readonly path: string;
  readonly kind: string;
  readonly disableFlag: string;
  readonly mutate: (request: AdmissionRequest, lookup: ClusterLookup) => Promise<Admission>;
}

const hooks: readonly Hook[] = [
  { name: "pod", path: "/pod/mutate", kind: "Pod", disableFlag: "--disable-pod-hook", mutate: mutatePod },
  {
    name: "pvc",
    path: "/pvc/mutate",
    kind: "PersistentVolumeClaim",
    disableFlag: "--disable-pvc-hook",
    mutate: mutatePersistentVolumeClaim,
  },
];

/** kube-apiserver caps request objects near 3 MiB (etcd's limit doubled for encoding); reviews stay well below. */
const defaultMaxBodyBytes = 8 << 20;

/** An HTTP-level failure answered with a metav1.Status body (no AdmissionReview can carry it). */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly result: RequestResult,
  ) {
    super(message);
    this.name = "HttpFailure";
  }
}

/**
 * The koa application serving the hooks over AdmissionReview v1.
 *
 * Answers, as kube-apiserver reads them:
 * - a body that is not an AdmissionReview v1 with a request uid → HTTP 400 with a Status body; kube-apiserver treats
 *   it as a failed call (failurePolicy applies) and quotes the message;
 * - a review whose request is malformed (missing object, wrong kind, invalid fields) → HTTP 200 with
 *   `allowed: false` and status code 400 for that uid, so the object is rejected with the message whatever the
 *   failurePolicy;
 * - cluster state unavailable (caches not synced, API read failed, deadline passed) → HTTP 503 with a Status body,
 *   so failurePolicy decides; any other failure → HTTP 500 likewise.
 */
export function createWebhookApp(options: WebhookAppOptions): Koa {
  const { logger, metrics, lookupFor } = options;
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
  const enabled = new Map(
    hooks.filter((hook) => (hook.name === "pod" ? options.podHook : options.pvcHook)).map((hook) => [hook.path, hook]),
  );
  const app = new Koa();
  // Every error is answered and logged below; koa's own stderr printing would duplicate it outside the JSON log.
  app.silent = true;

  app.use(async (ctx) => {
    const hook = hooks.find((candidate) => candidate.path === ctx.path);
    if (hook === undefined || !enabled.has(hook.path)) {
      const message =
        hook === undefined
          ? `no webhook at ${ctx.path}; served: ${[...enabled.keys()].join(", ") || "none"}`
          : `the ${hook.name} hook is disabled (${hook.disableFlag})`;
      respondStatus(ctx, 404, "NotFound", message);
      return;
    }
    if (ctx.method !== "POST") {
      ctx.set("Allow", "POST");
      respondStatus(ctx, 405, "MethodNotAllowed", `${hook.path} accepts POST, not ${ctx.method}`);
      return;
    }
    const endTimer = metrics.requestDuration.startTimer({ hook: hook.name });
    let result: RequestResult;
    try {
      result = await admit(ctx, hook);
    } catch (error) {
      result = answerFailure(ctx, hook, error);
    }
    metrics.requests.inc({ hook: hook.name, result });
    endTimer();
  });

  async function admit(ctx: Koa.Context, hook: Hook): Promise<RequestResult> {
    if (!ctx.is("application/json")) {
      throw new HttpFailure(
        400,
        "BadRequest",
        `Content-Type must be application/json, got ${JSON.stringify(ctx.get("Content-Type"))}`,
        "bad_request",
      );
    }
    const { uid, request } = parseAdmissionReview(await readBody(ctx, maxBodyBytes));
    const startedAt = performance.now();
    const admission = await admissionFor(hook, uid, request);
    ctx.status = 200;
    ctx.body = admissionReviewResponse(uid, admission);
    const entry = { hook: hook.name, uid, ...objectName(request), durationMs: Number((performance.now() - startedAt).toFixed(3)) };
    if (!admission.allowed) {
      logger.info({ ...entry, code: admission.code, message: admission.message }, "denied");
      return "denied";
    }
    if (admission.patch.length > 0) {
      logger.info({ ...entry, reason: admission.reason, patch: admission.patch }, "patched");
      return "patched";
    }
    logger.debug({ ...entry, reason: admission.reason }, "allowed");
    return "allowed";
  }

  async function admissionFor(hook: Hook, uid: string, body: Readonly<Record<string, unknown>>): Promise<Admission> {
    const review = new AbortController();
    try {
      const request = readAdmissionRequest(uid, body);
      const { group, version, kind } = request.kind;
      if (group !== "" || version !== "v1" || kind !== hook.kind) {
        const got = `${group === "" ? "" : group + "/"}${version} ${kind}`;
        return deny(400, `the ${hook.name} hook admits v1 ${hook.kind}, got ${got}`);
      }
      return await withDeadline(hook.mutate(request, lookupFor(review.signal)), options.requestTimeoutMs);
    } catch (error) {
      if (error instanceof ObjectShapeError) {
        return deny(400, error.message);
      }
      throw error;
    } finally {
      // Answered or past the deadline: whatever the hook still reads from the API server is of no use now.
      review.abort(new Error("the review has ended"));
    }
  }

  function answerFailure(ctx: Koa.Context, hook: Hook, error: unknown): RequestResult {
    const failure =
      error instanceof HttpFailure
        ? error
        : error instanceof AdmissionReviewError
          ? new HttpFailure(400, "BadRequest", `not an AdmissionReview v1: ${error.message}`, "bad_request")
          : error instanceof LookupUnavailableError
            ? new HttpFailure(503, "ServiceUnavailable", error.message, "unavailable")
            : new HttpFailure(500, "InternalError", `internal error: ${describe(error)}`, "error");
    const level = failure.result === "bad_request" ? "info" : failure.result === "unavailable" ? "warn" : "error";
    logger[level]({ hook: hook.name, status: failure.status, err: failure.message }, "request failed");
    respondStatus(ctx, failure.status, failure.reason, failure.message);
    return failure.result;
  }

  return app;
}

/** Namespace and name of the reviewed object for the log, from whatever the request holds. */
function objectName(request: Readonly<Record<string, unknown>>): { namespace?: string; name?: string } {
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const field = (value: unknown, key: string): unknown =>
    typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  const metadata = field(request.object, "metadata");
  const namespace = text(request.namespace);
  const name = text(field(metadata, "name")) ?? text(field(metadata, "generateName"));
  return { ...(namespace === undefined ? {} : { namespace }), ...(name === undefined ? {} : { name }) };
}

function respondStatus(ctx: Koa.Context, status: number, reason: string, message: string): void {
  ctx.status = status;
  ctx.body = statusBody(status, reason, message);
}

/** Reads the request body as UTF-8, refusing more than maxBytes. */
async function readBody(ctx: Koa.Context, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new HttpFailure(413, "RequestEntityTooLarge", `request body exceeds ${maxBytes} bytes`, "bad_request");
  if (Number(ctx.get("Content-Length") || 0) > maxBytes) {
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) {
      throw tooLarge();
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The promise's outcome, or a LookupUnavailableError once timeoutMs have passed. */
async function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new LookupUnavailableError(`no answer within the ${timeoutMs} ms request deadline`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
