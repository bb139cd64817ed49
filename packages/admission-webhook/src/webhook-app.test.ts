import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { claim, fixedLookup, storageClass } from "../test/support/cluster-fixtures.js";
import { type ClusterLookup, LookupUnavailableError } from "./cluster-lookup.js";
import { createWebhookMetrics, type WebhookMetrics } from "./metrics.js";
import { createWebhookApp } from "./webhook-app.js";

const lookup = fixedLookup(
  [storageClass("ssd", "topolvm.cybozu.com", { "topolvm.cybozu.com/device-class": "ssd" })],
  [claim("app", "data", "ssd", "10Gi")],
);

const podObject = {
  metadata: { name: "web", namespace: "app" },
  spec: { containers: [{ name: "main" }], volumes: [{ name: "d", persistentVolumeClaim: { claimName: "data" } }] },
};
const claimObject = { metadata: { name: "data", namespace: "app" }, spec: { storageClassName: "ssd" } };

function review(kind: string, object: unknown, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: { uid: "uid-1", kind: { group: "", version: "v1", kind }, operation: "CREATE", namespace: "app", object, ...extra },
  };
}

interface Served {
  readonly url: string;
  readonly metrics: WebhookMetrics;
  close(): Promise<void>;
}

interface ServeOptions {
  readonly lookup?: ClusterLookup;
  readonly lookupFor?: (signal: AbortSignal) => ClusterLookup;
  readonly podHook?: boolean;
  readonly requestTimeoutMs?: number;
}

async function serve(options: ServeOptions = {}): Promise<Served> {
  const metrics = createWebhookMetrics();
  const app = createWebhookApp({
    lookupFor: options.lookupFor ?? (() => options.lookup ?? lookup),
    podHook: options.podHook ?? true,
    pvcHook: true,
    requestTimeoutMs: options.requestTimeoutMs ?? 2000,
    logger: pino({ level: "silent" }),
    metrics,
    maxBodyBytes: 64 * 1024,
  });
  const handle = app.callback();
  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    metrics,
    close: () => new Promise<void>((resolve) => server.close(() => { resolve(); })),
  };
}

async function post(url: string, body: unknown, contentType = "application/json") {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Runs a test against a fresh server and closes it whatever happens. */
async function withServer(options: Parameters<typeof serve>[0], run: (served: Served) => Promise<void>): Promise<void> {
  const served = await serve(options);
  try {
    await run(served);
  } finally {
    await served.close();
  }
}

function decodePatch(body: Record<string, unknown>): unknown {
  const response = body.response as { patch: string };
  return JSON.parse(Buffer.from(response.patch, "base64").toString("utf8"));
}

describe("webhook app", () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve();
  });
  afterAll(async () => {
    await served.close();
  });

  it("answers a pod review with a JSONPatch adding the capacity annotation and resource", async () => {
    const { status, body } = await post(`${served.url}/pod/mutate`, review("Pod", podObject));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "uid-1", allowed: true, patchType: "JSONPatch" },
    });
    expect(decodePatch(body)).toEqual([
      { op: "add", path: "/metadata/annotations", value: { "capacity.topolvm.cybozu.com/ssd": "10737418240" } },
      {
        op: "add",
        path: "/spec/containers/0/resources",
        value: { requests: { "topolvm.cybozu.com/capacity": "1" }, limits: { "topolvm.cybozu.com/capacity": "1" } },
      },
    ]);
  });

  it("answers a PVC review with the finalizer patch", async () => {
    const { status, body } = await post(`${served.url}/pvc/mutate`, review("PersistentVolumeClaim", claimObject));
    expect(status).toBe(200);
    expect(decodePatch(body)).toEqual([{ op: "add", path: "/metadata/finalizers", value: ["topolvm.cybozu.com/pvc"] }]);
  });

  it("allows a pod without volumes with no patch", async () => {
    const { body } = await post(`${served.url}/pod/mutate`, review("Pod", { metadata: {}, spec: { containers: [{}] } }));
    expect(body.response).toEqual({ uid: "uid-1", allowed: true });
  });

  it.each([
    ["malformed JSON", "{not json", /^not an AdmissionReview v1: body is not JSON: /],
    ["a v1beta1 review", { ...review("Pod", podObject), apiVersion: "admission.k8s.io/v1beta1" }, /apiVersion "admission.k8s.io\/v1beta1" is not supported/],
    ["another kind", { ...review("Pod", podObject), kind: "Pod" }, /kind "Pod" is not AdmissionReview/],
    ["a review without request", { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, /request: expected an object, got nothing/],
    ["a request without uid", review("Pod", podObject, { uid: undefined }), /request\.uid: expected a string, got nothing/],
  ])("answers %s with HTTP 400 and a Status message", async (_, body, message) => {
    const answer = await post(`${served.url}/pod/mutate`, body);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ kind: "Status", status: "Failure", reason: "BadRequest", code: 400 });
    expect(answer.body.message).toMatch(message);
  });

  it.each([
    ["no object", review("Pod", undefined), "request.object: expected an object, got nothing"],
    ["the wrong kind", review("PersistentVolumeClaim", claimObject), "the pod hook admits v1 Pod, got v1 PersistentVolumeClaim"],
    ["an apps/v1 kind", review("Pod", podObject, { kind: { group: "apps", version: "v1", kind: "Pod" } }), "the pod hook admits v1 Pod, got apps/v1 Pod"],
    ["a malformed pod", review("Pod", { spec: { containers: [{}], volumes: 3 } }), "spec.volumes: expected an array, got number 3"],
  ])("denies a review with %s by uid", async (_, body, message) => {
    const answer = await post(`${served.url}/pod/mutate`, body);
    expect(answer.status).toBe(200);
    expect(answer.body.response).toEqual({ uid: "uid-1", allowed: false, status: { status: "Failure", code: 400, message } });
  });

  it("refuses a body that is not JSON by content type", async () => {
    const answer = await post(`${served.url}/pod/mutate`, review("Pod", podObject), "text/plain");
    expect(answer).toMatchObject({ status: 400, body: { message: 'Content-Type must be application/json, got "text/plain"' } });
  });

  it("refuses a body larger than the limit with 413", async () => {
    const huge = review("Pod", { ...podObject, metadata: { name: "x".repeat(70 * 1024) } });
    const answer = await post(`${served.url}/pod/mutate`, huge);
    expect(answer).toMatchObject({ status: 413, body: { message: "request body exceeds 65536 bytes" } });
  });

  it("answers other methods with 405 and unknown paths with 404", async () => {
    const get = await fetch(`${served.url}/pod/mutate`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const unknown = await post(`${served.url}/mutate`, review("Pod", podObject));
    expect(unknown).toMatchObject({ status: 404, body: { message: "no webhook at /mutate; served: /pod/mutate, /pvc/mutate" } });
  });

  it("counts requests by hook and result", async () => {
    // prom-client hands out its live value objects, so read the numbers before and after.
    const count = async (result: string) =>
      (await served.metrics.requests.get()).values.find((v) => v.labels.hook === "pvc" && v.labels.result === result)
        ?.value ?? 0;
    const patchedBefore = await count("patched");
    const badBefore = await count("bad_request");
    await post(`${served.url}/pvc/mutate`, review("PersistentVolumeClaim", claimObject));
    await post(`${served.url}/pvc/mutate`, "{");
    expect((await count("patched")) - patchedBefore).toBe(1);
    expect((await count("bad_request")) - badBefore).toBe(1);
    const text = await served.metrics.registry.metrics();
    expect(text).toMatch(/topolvm_webhook_request_duration_seconds_count\{hook="pvc"\} [1-9]/);
  });
});

describe("webhook app failures", () => {
  it("reports a disabled hook as such", async () => {
    await withServer({ podHook: false }, async (served) => {
      const answer = await post(`${served.url}/pod/mutate`, review("Pod", podObject));
      expect(answer).toMatchObject({ status: 404, body: { message: "the pod hook is disabled (--disable-pod-hook)" } });
    });
  });

  it("answers 503 when the cluster state is unavailable, so failurePolicy decides", async () => {
    const unavailable: ClusterLookup = {
      storageClass: () => Promise.reject(new LookupUnavailableError("the StorageClass cache has not synced with the API server yet")),
      storageClasses: () => Promise.resolve([]),
      persistentVolumeClaim: () => Promise.reject(new LookupUnavailableError("the PersistentVolumeClaim cache has not synced with the API server yet")),
    };
    await withServer({ lookup: unavailable }, async (served) => {
      const answer = await post(`${served.url}/pod/mutate`, review("Pod", podObject));
      expect(answer).toMatchObject({
        status: 503,
        body: { reason: "ServiceUnavailable", message: "the PersistentVolumeClaim cache has not synced with the API server yet" },
      });
    });
  });

  it("answers 503 when lookups outlast the request deadline", async () => {
    const hanging: ClusterLookup = {
      storageClass: () => new Promise(() => undefined),
      storageClasses: () => new Promise(() => undefined),
      persistentVolumeClaim: () => new Promise(() => undefined),
    };
    await withServer({ lookup: hanging, requestTimeoutMs: 50 }, async (served) => {
      const answer = await post(`${served.url}/pvc/mutate`, review("PersistentVolumeClaim", claimObject));
      expect(answer).toMatchObject({ status: 503, body: { message: "no answer within the 50 ms request deadline" } });
    });
  });

  it("ends a review's lookups once it is answered or its deadline has passed", async () => {
    const hanging: ClusterLookup = {
      storageClass: () => new Promise(() => undefined),
      storageClasses: () => new Promise(() => undefined),
      persistentVolumeClaim: () => new Promise(() => undefined),
    };
    const signals: AbortSignal[] = [];
    const recording = (signal: AbortSignal) => {
      signals.push(signal);
      return signals.length === 1 ? lookup : hanging;
    };
    await withServer({ lookupFor: recording, requestTimeoutMs: 50 }, async (served) => {
      expect(await post(`${served.url}/pod/mutate`, review("Pod", podObject))).toMatchObject({ status: 200 });
      expect(await post(`${served.url}/pod/mutate`, review("Pod", podObject))).toMatchObject({ status: 503 });
    });
    expect(signals.map((signal) => signal.aborted)).toEqual([true, true]);
  });

  it("answers 500 with the message of an unexpected failure", async () => {
    const broken: ClusterLookup = {
      storageClass: () => Promise.reject(new Error("boom")),
      storageClasses: () => Promise.resolve([]),
      persistentVolumeClaim: () => Promise.resolve(undefined),
    };
    await withServer({ lookup: broken }, async (served) => {
      const answer = await post(`${served.url}/pvc/mutate`, review("PersistentVolumeClaim", claimObject));
      expect(answer).toMatchObject({ status: 500, body: { reason: "InternalError", message: "internal error: boom" } });
    });
  });
});
