import { isUtf8 } from "node:buffer";
import Koa from "koa";
import type { Logger } from "pino";
import { ExtenderArgsError, JsonSyntaxError } from "./extender-args.js";
import { createBufferPool, type BufferPool } from "./buffer-pool.js";
import { answerPredicate, answerPrioritize, type ExtenderContext, type VerbAnswer } from "./extender-verbs.js";
import { scanPredicate, scanPrioritize } from "./full-object-scan.js";
import type { ExtenderMetrics, Verb } from "./metrics.js";
import {
  ClientAbortError,
  HttpError,
  RequestTimeoutError,
  createBodyBudget,
  declaredLength,
  defaultBodyLimitBytes,
  readBody,
} from "./request-body.js";

/** What the HTTP adapter is built from. */
export interface ExtenderAppOptions {
  readonly context: ExtenderContext;
  readonly metrics: ExtenderMetrics;
  readonly logger: Logger;
  /** Why the extender is not ready (node cache not synced, shutting down), or undefined when it is. */
  readonly notReadyReason: () => string | undefined;
  readonly bodyLimitBytes?: number;
  /** At most this many bodies are read at once (default 32); more get 503 with Retry-After. */
  readonly maxBodies?: number;
  /**
   * At most this many declared bytes of bodies of 1 MiB or more are in flight at once (default 64 MiB); more get 503
   * with Retry-After.
   */
  readonly maxBodyBytes?: number;
  /**
   * Called once the answer to a request with a body of 1 MiB or more is sent. The bin runs a young-generation GC
   * there, which frees the body's socket chunks at once (see memory-settings.ts).
   */
  readonly afterLargeBody?: () => void;
}

const largeBodyBytes = 1024 * 1024;

/** A verb over a request body: the plain path, or the scanning path for large bodies. */
type Answerer = (body: Buffer, context: ExtenderContext, pool: BufferPool) => VerbAnswer;

/**
 * Bodies from this size on are read by scanning (full-object-scan.ts): full Node objects of some 60 Nodes or more,
 * where the scan pays; names (64 KiB for 5,000 nodes) and smaller bodies take the plain path. The README has the
 * figures.
 */
const scanFromBytes = 128 * 1024;

/** Error codes of a connection the client closed. */
const clientGoneCodes = new Set(["ECONNRESET", "EPIPE", "ERR_STREAM_PREMATURE_CLOSE", "HPE_INVALID_EOF_STATE"]);

const routes: Readonly<Record<string, { method: string; verb: Verb }>> = {
  "/predicate": { method: "POST", verb: "predicate" },
  "/prioritize": { method: "POST", verb: "prioritize" },
  "/status": { method: "GET", verb: "status" },
  "/metrics": { method: "GET", verb: "metrics" },
};

interface Summary {
  pod?: string;
  nodes?: number;
  /** Whether kube-scheduler sent full Node objects or only names (nodeCacheCapable). */
  shape?: "objects" | "names";
}

/** The koa application serving the extender's routes; it answers every request and never lets an error escape. */
export function createExtenderApp(options: ExtenderAppOptions): Koa {
  const { context, metrics, logger, afterLargeBody } = options;
  const bodyLimitBytes = options.bodyLimitBytes ?? defaultBodyLimitBytes;
  const budget = createBodyBudget(options.maxBodies, options.maxBodyBytes);
  const app = new Koa();
  // Bodies run from 64 KiB (5,000 names) to 10 MiB (5,000 Nodes).
  const bodyBuffers = createBufferPool(16 * 1024);
  // Answers run from a few hundred KiB (5,000 names) to megabytes (Nodes echoed back).
  const answerBuffers = createBufferPool(64 * 1024);

  /**
   * Reads the request's ExtenderArgs and answers them. The answer must not keep references into the body (Nodes'
   * raw JSON is copied by the encoder): the body's buffer goes back to the pool as soon as the answer is built, the
   * answer's once the response is closed (sent, or abandoned by the client).
   */
  async function answer(
    ctx: Koa.Context,
    summary: Summary,
    plain: Answerer,
    scanning: Answerer,
  ): Promise<void> {
    // A body without a length may grow to the limit: it reserves that much. Bodies under 1 MiB (node names, a small
    // cluster's Nodes) reserve nothing, so kube-scheduler's ordinary calls still go through while large ones are
    // refused; their number alone bounds them.
    const declaredBytes = Math.min(declaredLength(ctx.req) ?? bodyLimitBytes, bodyLimitBytes);
    const release = budget.admit(declaredBytes < largeBodyBytes ? 0 : declaredBytes);
    if (release === undefined) {
      ctx.set("Retry-After", "1");
      throw new HttpError(503, "too many request bodies in flight; retry later");
    }
    let body: Buffer;
    try {
      body = await readBody(ctx.req, bodyLimitBytes, bodyBuffers);
    } finally {
      release();
    }
    try {
      if (body.length === 0) {
        throw new HttpError(400, "request body is empty; expected ExtenderArgs JSON");
      }
      // JSON text is UTF-8 (RFC 8259), and the answer echoes names and Nodes byte for byte: invalid bytes would make
      // it invalid JSON.
      if (!isUtf8(body)) {
        throw new HttpError(400, "request body is not valid UTF-8");
      }
      let answered: VerbAnswer;
      try {
        answered = (body.length >= scanFromBytes ? scanning : plain)(body, context, answerBuffers);
      } catch (error) {
        if (error instanceof JsonSyntaxError) {
          throw new HttpError(400, `malformed JSON in request body: ${error.message}`);
        }
        if (error instanceof ExtenderArgsError) {
          throw new HttpError(400, `bad ExtenderArgs: ${error.message}`);
        }
        throw error;
      }
      summary.pod = `${answered.pod.namespace ?? ""}/${answered.pod.name ?? ""}`;
      summary.nodes = answered.nodeCount;
      summary.shape = answered.shape;
      const encoded = answered.body;
      ctx.res.once("close", () => {
        answerBuffers.release(encoded);
        if (afterLargeBody !== undefined && body.length >= largeBodyBytes) {
          afterLargeBody();
        }
      });
      ctx.type = "application/json";
      ctx.body = encoded;
    } finally {
      bodyBuffers.release(body);
    }
  }

  async function serve(ctx: Koa.Context, verb: Verb, summary: Summary): Promise<void> {
    switch (verb) {
      case "predicate":
        await answer(ctx, summary, answerPredicate, scanPredicate);
        return;
      case "prioritize":
        await answer(ctx, summary, answerPrioritize, scanPrioritize);
        return;
      case "status": {
        const reason = options.notReadyReason();
        ctx.status = reason === undefined ? 200 : 503;
        ctx.body = reason ?? "ok";
        return;
      }
      case "metrics":
        ctx.type = metrics.registry.contentType;
        ctx.body = await metrics.registry.metrics();
        return;
      case "other":
        throw new HttpError(404, "not found");
    }
  }

  app.use(async (ctx) => {
    const startedAt = process.hrtime.bigint();
    const route = routes[ctx.path];
    const verb = route?.verb ?? "other";
    const summary: Summary = {};
    try {
      if (route !== undefined && ctx.method !== route.method) {
        ctx.set("Allow", route.method);
        throw new HttpError(405, `${ctx.path} accepts only ${route.method}`);
      }
      await serve(ctx, verb, summary);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) {
        logger.error({ err: error, verb }, "request failed");
      }
      if (error instanceof ClientAbortError) {
        metrics.observeClientAbort(verb);
        logger.warn({ verb, ...summary }, error.message);
        return;
      }
      // node:http answered it already; counted as the 408 it was, not as a client that went away.
      if (error instanceof RequestTimeoutError) {
        metrics.observeRequest(verb, error.status, Number(process.hrtime.bigint() - startedAt) / 1e9);
        logger.warn({ verb, status: error.status, ...summary }, error.message);
        return;
      }
      // A body over the limit or refused is left partly unread; only closing the connection keeps the next request
      // on it whole.
      if (status === 413 || status === 503) {
        ctx.set("Connection", "close");
      }
      ctx.status = status;
      ctx.type = "text/plain";
      ctx.body = status === 500 ? "internal error" : (error as Error).message;
    }
    const durationSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
    metrics.observeRequest(verb, ctx.status, durationSeconds);
    const entry = { verb, status: ctx.status, durationMs: durationSeconds * 1000, ...summary };
    if (ctx.status >= 400) {
      logger.warn({ ...entry, error: ctx.body }, "request rejected");
    } else if (verb === "predicate" || verb === "prioritize") {
      logger.info(entry, "request served");
    } else {
      logger.debug(entry, "request served");
    }
  });
  app.on("error", (error: unknown, ctx?: Koa.Context) => {
    // A body cut short was counted and logged where it was read; an answer the client did not wait for is counted
    // here. Neither is a fault of the extender: no error line, no stack.
    if (ctx?.req.complete === false) {
      return;
    }
    const code = error instanceof Error && "code" in error ? String(error.code) : "";
    if (clientGoneCodes.has(code)) {
      metrics.observeClientAbort(routes[ctx?.path ?? ""]?.verb ?? "other");
      logger.warn({ code }, "the client closed the connection before the answer was sent");
      return;
    }
    logger.error({ err: error }, "HTTP response failed");
  });
  return app;
}
