import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createKubeClient, type KubeClient } from "@topolvm/kube-client";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { cachedClaimOf, cachedStorageClassOf, type ClusterCache, createClusterCache, maxFallbackReadsPerReview } from "./cluster-cache.js";
import { LookupUnavailableError } from "./cluster-lookup.js";
import { createWebhookMetrics, type WebhookMetrics } from "./metrics.js";
import { mutatePod } from "./pod-mutator.js";
import { until } from "../../../tools/eventually.js";

// A small API server on loopback speaking the list, watch and get calls the informers make, so the cache's sync,
// restart and fallback rules run against real HTTP.

const storageClass = (name: string, resourceVersion: string) => ({
  apiVersion: "storage.k8s.io/v1",
  kind: "StorageClass",
  metadata: { name, resourceVersion },
  provisioner: "topolvm.cybozu.com",
});
const claim = (namespace: string, name: string) => ({
  apiVersion: "v1",
  kind: "PersistentVolumeClaim",
  metadata: { namespace, name, resourceVersion: "5" },
  spec: { storageClassName: "ssd" },
  status: { phase: "Pending" },
});
const notFound = (name: string) => ({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: `${name} not found` });

interface FakeApiServer {
  readonly url: string;
  /** List calls that failed on purpose before the first success. */
  failLists: number;
  /** Pushes a watch event to every open StorageClass watch. */
  pushStorageClass(type: "ADDED" | "DELETED", object: unknown): void;
  readonly gets: string[];
  /** Reads of "slow" objects the client gave up on (the connection closed before an answer). */
  readonly abandoned: string[];
  /** The most single-object reads that were open at once. */
  readonly maxGetsInFlight: number;
  close(): Promise<void>;
}

async function startFakeApiServer(): Promise<FakeApiServer> {
  const storageClassWatches = new Set<ServerResponse>();
  const gets: string[] = [];
  const abandoned: string[] = [];
  const state = { failLists: 0, getsInFlight: 0, maxGetsInFlight: 0 };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const watching = url.searchParams.get("watch") === "true";
    switch (url.pathname) {
      case "/apis/storage.k8s.io/v1/storageclasses":
        if (watching) {
          res.writeHead(200, { "Content-Type": "application/json" });
          res.flushHeaders();
          storageClassWatches.add(res);
          res.on("close", () => storageClassWatches.delete(res));
          return;
        }
        if (state.failLists > 0) {
          state.failLists -= 1;
          json(res, 503, { kind: "Status", apiVersion: "v1", status: "Failure", code: 503, message: "starting" });
          return;
        }
        json(res, 200, { apiVersion: "storage.k8s.io/v1", kind: "StorageClassList", metadata: { resourceVersion: "2" }, items: [storageClass("ssd", "2")] });
        return;
      case "/api/v1/persistentvolumeclaims":
        if (watching) {
          res.writeHead(200, { "Content-Type": "application/json" });
          res.flushHeaders();
          return;
        }
        json(res, 200, { apiVersion: "v1", kind: "PersistentVolumeClaimList", metadata: { resourceVersion: "5" }, items: [claim("app", "data")] });
        return;
      default:
        break;
    }
    gets.push(url.pathname);
    state.getsInFlight += 1;
    state.maxGetsInFlight = Math.max(state.maxGetsInFlight, state.getsInFlight);
    res.on("close", () => {
      state.getsInFlight -= 1;
    });
    const claimPath = /^\/api\/v1\/namespaces\/([^/]+)\/persistentvolumeclaims\/([^/]+)$/.exec(url.pathname);
    const [, namespace = "", name = ""] = claimPath ?? [];
    if (name === "late") {
      json(res, 200, claim(namespace, name));
    } else if (name === "broken") {
      json(res, 500, { kind: "Status", apiVersion: "v1", status: "Failure", code: 500, message: "etcd is sad" });
    } else if (name === "slow") {
      // Never answers; the cache's own deadline or the review's end must end the read.
      res.on("close", () => abandoned.push(url.pathname));
    } else {
      json(res, 404, notFound(url.pathname));
    }
  });
  await new Promise<void>((resolve) => {
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get failLists() {
      return state.failLists;
    },
    set failLists(count: number) {
      state.failLists = count;
    },
    pushStorageClass(type, object) {
      for (const res of storageClassWatches) {
        res.write(JSON.stringify({ type, object }) + "\n");
      }
    },
    gets,
    abandoned,
    get maxGetsInFlight() {
      return state.maxGetsInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function kubeClientFor(server: string): KubeClient {
  return createKubeClient({ server, insecureSkipTlsVerify: false, token: () => Promise.resolve("t"), source: "test" });
}

/** The lookups of a review that has not ended. */
function review(cache: ClusterCache) {
  return cache.forReview(new AbortController().signal);
}

describe("createClusterCache", () => {
  let api: FakeApiServer | undefined;
  let cache: ClusterCache | undefined;
  let kube: KubeClient | undefined;
  afterEach(async () => {
    await cache?.stop();
    kube?.close();
    await api?.close();
  });

  async function start(options: { watchClaims?: boolean; failLists?: number; fallbackTimeoutMs?: number } = {}): Promise<{ cache: ClusterCache; api: FakeApiServer; metrics: WebhookMetrics }> {
    api = await startFakeApiServer();
    api.failLists = options.failLists ?? 0;
    const metrics = createWebhookMetrics();
    kube = kubeClientFor(api.url);
    cache = createClusterCache({
      kube,
      watchClaims: options.watchClaims ?? true,
      // Generous: an answer from the fake API server can take a second on a loaded machine. The test of a read that
      // gets no answer sets its own.
      fallbackTimeoutMs: options.fallbackTimeoutMs ?? 5000,
      logger: pino({ level: "silent" }),
      metrics,
    });
    cache.start();
    return { cache, api, metrics };
  }

  it("is unavailable until the first list succeeds, retrying failed lists", async () => {
    const { cache, api } = await start({ failLists: 1 });
    expect(cache.synced()).toBe(false);
    await expect(review(cache).storageClass("ssd")).rejects.toThrow(
      new LookupUnavailableError("the StorageClass cache has not synced with the API server yet"),
    );
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    expect(api.failLists).toBe(0);
    expect(await review(cache).storageClass("ssd")).toMatchObject({ metadata: { name: "ssd" }, provisioner: "topolvm.cybozu.com" });
    expect(await review(cache).persistentVolumeClaim("app", "data")).toMatchObject({ spec: { storageClassName: "ssd" } });
    expect(api.gets).toEqual([]);
  });

  it("follows watch events", async () => {
    const { cache, api } = await start();
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    let names: (string | undefined)[] = [];
    const refresh = async () => {
      names = (await review(cache).storageClasses()).map((sc) => sc.metadata?.name).sort();
    };
    // The watch opens right after the list; events pushed before it connects would be lost, so push until seen.
    await until("the added StorageClass", async () => {
      api.pushStorageClass("ADDED", storageClass("hdd", "3"));
      await refresh();
      return names.length === 2;
    }, 5000);
    expect(names).toEqual(["hdd", "ssd"]);
    api.pushStorageClass("DELETED", storageClass("ssd", "4"));
    await until("the deleted StorageClass to go", async () => {
      await refresh();
      return names.length === 1;
    }, 5000);
    expect(names).toEqual(["hdd"]);
  });

  it("reads an object missing from the cache once from the API server", async () => {
    const { cache, api, metrics } = await start();
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    expect(await review(cache).persistentVolumeClaim("app", "late")).toMatchObject({ metadata: { name: "late" } });
    expect(await review(cache).persistentVolumeClaim("app", "missing")).toBeUndefined();
    expect(await review(cache).storageClass("gone")).toBeUndefined();
    expect(api.gets).toEqual([
      "/api/v1/namespaces/app/persistentvolumeclaims/late",
      "/api/v1/namespaces/app/persistentvolumeclaims/missing",
      "/apis/storage.k8s.io/v1/storageclasses/gone",
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('topolvm_webhook_lookup_fallbacks_total{kind="PersistentVolumeClaim",result="found"} 1');
    expect(text).toContain('topolvm_webhook_lookup_fallbacks_total{kind="PersistentVolumeClaim",result="not_found"} 1');
    expect(text).toContain('topolvm_webhook_lookup_fallbacks_total{kind="StorageClass",result="not_found"} 1');
  });

  it("reports a failed or slow fallback read as unavailable, naming the object", async () => {
    const { cache } = await start({ fallbackTimeoutMs: 200 });
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    await expect(review(cache).persistentVolumeClaim("app", "broken")).rejects.toThrow(
      /^reading PersistentVolumeClaim app\/broken from the API server failed: HTTP 500/,
    );
    const slow = review(cache).persistentVolumeClaim("app", "slow");
    await expect(slow).rejects.toBeInstanceOf(LookupUnavailableError);
    await expect(slow).rejects.toThrow(/^reading PersistentVolumeClaim app\/slow from the API server failed: /);
  });

  it("reads each missing object once per review, and at most maxFallbackReadsPerReview of them", async () => {
    const { cache, api } = await start();
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    const lookup = review(cache);
    for (let i = 0; i < maxFallbackReadsPerReview; i++) {
      expect(await lookup.persistentVolumeClaim("app", `missing-${i}`)).toBeUndefined();
      expect(await lookup.persistentVolumeClaim("app", `missing-${i}`)).toBeUndefined();
    }
    expect(await lookup.persistentVolumeClaim("app", "data")).toMatchObject({ metadata: { name: "data" } });
    await expect(lookup.storageClass("gone")).rejects.toThrow(
      new LookupUnavailableError(
        `more than ${maxFallbackReadsPerReview} objects the review reads are missing from the cache; ` +
          "not reading more from the API server for one review",
      ),
    );
    expect(api.gets).toHaveLength(maxFallbackReadsPerReview);
    expect(new Set(api.gets).size).toBe(maxFallbackReadsPerReview);
    // The cap is per review: the next one reads again.
    expect(await review(cache).storageClass("gone")).toBeUndefined();
    expect(api.gets.at(-1)).toBe("/apis/storage.k8s.io/v1/storageclasses/gone");
  });

  it("turns a pod naming 10,000 missing PVCs into at most maxFallbackReadsPerReview API reads, one at a time", async () => {
    const { cache, api } = await start();
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    const volumes = Array.from({ length: 10_000 }, (_, i) => ({ name: `v${i}`, persistentVolumeClaim: { claimName: `missing-${i % 5000}` } }));
    const pod = { metadata: { name: "many", namespace: "app" }, spec: { containers: [{ name: "main" }], volumes } };
    const request = { uid: "u", kind: { group: "", version: "v1", kind: "Pod" }, operation: "CREATE", namespace: "app", object: pod };
    await expect(mutatePod(request, review(cache))).rejects.toBeInstanceOf(LookupUnavailableError);
    expect(api.gets).toHaveLength(maxFallbackReadsPerReview);
    expect(api.maxGetsInFlight).toBe(1);
  }, 30_000);

  it("never reads an empty or invalid name from the API server: no such object exists", async () => {
    const { cache, api } = await start();
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    const lookup = review(cache);
    for (const name of ["", "Data", "..", ".", "a/b", "-a", "a".repeat(254)]) {
      expect(await lookup.persistentVolumeClaim("app", name)).toBeUndefined();
      expect(await lookup.storageClass(name)).toBeUndefined();
    }
    for (const namespace of ["", "..", "a.b", "a".repeat(64)]) {
      expect(await lookup.persistentVolumeClaim(namespace, "data")).toBeUndefined();
    }
    expect(api.gets).toEqual([]);
  });

  it("cancels the read in flight once the review ends, and starts no other", async () => {
    const { cache, api } = await start({ fallbackTimeoutMs: 60_000 });
    await until("the caches to sync", () => Promise.resolve(cache.synced()), 5000);
    const ended = new AbortController();
    const lookup = cache.forReview(ended.signal);
    const slow = lookup.persistentVolumeClaim("app", "slow");
    await until("the read to reach the API server", () => Promise.resolve(api.gets.length === 1), 5000);
    ended.abort(new Error("the review has ended"));
    await expect(slow).rejects.toThrow("reading PersistentVolumeClaim app/slow from the API server failed: the review has ended");
    await until("the API server to see the read cancelled", () => Promise.resolve(api.abandoned.length === 1), 5000);
    await expect(lookup.persistentVolumeClaim("app", "late")).rejects.toBeInstanceOf(LookupUnavailableError);
    expect(api.gets).toEqual(["/api/v1/namespaces/app/persistentvolumeclaims/slow"]);
  });

  it("watches no PVCs when the pod hook is off", async () => {
    const { cache } = await start({ watchClaims: false });
    await until("the StorageClass cache to sync", () => Promise.resolve(cache.synced()), 5000);
    await expect(review(cache).persistentVolumeClaim("app", "data")).rejects.toThrow(
      "PersistentVolumeClaims are not watched: the pod hook is disabled",
    );
  });
});

describe("the cached shapes", () => {
  it("keep of a StorageClass its name, creation time, default-class annotations, provisioner and parameters", () => {
    expect(
      cachedStorageClassOf({
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: {
          name: "ssd",
          resourceVersion: "7",
          creationTimestamp: "2026-01-01T00:00:00Z",
          annotations: {
            "storageclass.kubernetes.io/is-default-class": "true",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
          },
          managedFields: [{ manager: "kubectl" }],
        },
        provisioner: "topolvm.cybozu.com",
        parameters: { "topolvm.cybozu.com/device-class": "ssd" },
        volumeBindingMode: "WaitForFirstConsumer",
      } as Parameters<typeof cachedStorageClassOf>[0]),
    ).toEqual({
      metadata: { name: "ssd", creationTimestamp: "2026-01-01T00:00:00Z", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
      provisioner: "topolvm.cybozu.com",
      parameters: { "topolvm.cybozu.com/device-class": "ssd" },
    });
  });

  it("keep of a PersistentVolumeClaim its namespace, name, class, requested storage and phase", () => {
    expect(
      cachedClaimOf({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { namespace: "app", name: "data", resourceVersion: "5", labels: { a: "b" }, managedFields: [{}] },
        spec: { storageClassName: "ssd", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi", other: "1" } } },
        status: { phase: "Bound", conditions: [] },
      } as Parameters<typeof cachedClaimOf>[0]),
    ).toEqual({
      metadata: { namespace: "app", name: "data" },
      spec: { storageClassName: "ssd", resources: { requests: { storage: "1Gi" } } },
      status: { phase: "Bound" },
    });
    expect(cachedClaimOf({ metadata: { namespace: "app", name: "bare" } })).toEqual({
      metadata: { namespace: "app", name: "bare" },
      spec: { resources: {} },
      status: {},
    });
  });
});
