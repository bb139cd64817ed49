import { V1ObjectMeta, V1PersistentVolumeClaim, V1Pod } from "@kubernetes/client-node";
import type { DeleteOptions, KubeList } from "@topolvm/kube-client";
import { pvcFinalizer } from "@topolvm/proto/names";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fakeInformer } from "../../test/fake-informer.js";
import { kubeApiError } from "../../test/kube-errors.js";
import { signalRecordingKube } from "../../test/signal-recording-kube.js";
import {
  cachedClaimOf,
  createPvcFinalizerReconcile,
  needsPvcFinalize,
  podsUsingClaim,
  startPvcFinalizerController,
  type PvcFinalizerApi,
} from "./pvc-finalizer.js";

const logger = pino({ level: "silent" });
const signal = new AbortController().signal;
/** A deletionTimestamp as kube-client hands it over: the JSON string. */
const deletedAt = "2025-01-01T00:00:00Z";
const protection = "kubernetes.io/pvc-protection";

function claim(name: string, options: { deleting?: boolean; finalizers?: string[] } = {}): V1PersistentVolumeClaim {
  return Object.assign(new V1PersistentVolumeClaim(), {
    metadata: Object.assign(new V1ObjectMeta(), {
      namespace: "app",
      name,
      uid: `uid-${name}`,
      resourceVersion: "1",
      finalizers: options.finalizers ?? [pvcFinalizer],
      ...(options.deleting === false ? {} : { deletionTimestamp: deletedAt }),
    }),
    spec: {},
  });
}

function pod(name: string, volumes: object[], options: { deleting?: boolean; namespace?: string } = {}): V1Pod {
  return Object.assign(new V1Pod(), {
    metadata: Object.assign(new V1ObjectMeta(), {
      namespace: options.namespace ?? "app",
      name,
      uid: `uid-${name}`,
      ...(options.deleting === true ? { deletionTimestamp: deletedAt } : {}),
    }),
    spec: { containers: [], volumes },
  });
}

const claimVolume = (claimName: string): object => ({ name: "data", persistentVolumeClaim: { claimName } });

/** PVCs and pods in memory, with the API server's deletion and resourceVersion rules; `calls` records the writes. */
function fakeCluster(initial: { claims: V1PersistentVolumeClaim[]; pods?: V1Pod[] }) {
  const claims = new Map(initial.claims.map((c) => [`app/${c.metadata?.name ?? ""}`, structuredClone(c)]));
  const pods = new Map((initial.pods ?? []).map((p) => [`${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`, structuredClone(p)]));
  const calls: string[] = [];
  const failures = new Map<string, number>();
  let version = 10;
  const maybeFail = (method: string, path: string, code = 500): void => {
    const left = failures.get(method) ?? 0;
    if (left > 0) {
      failures.set(method, left - 1);
      throw kubeApiError(method === "patch" ? "PATCH" : method === "listPods" ? "GET" : "DELETE", path, code, `${method} failed`);
    }
  };
  /** The namespace, resource and name of a request path: /api/v1/namespaces/NS/RESOURCE[/NAME]. */
  const parse = (path: string): { namespace: string; resource: string; name: string } => {
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (match === null) {
      throw new Error(`unexpected path ${path}`);
    }
    return { namespace: decodeURIComponent(match[1] ?? ""), resource: match[2] ?? "", name: decodeURIComponent(match[3] ?? "") };
  };
  const unexpected = (method: string, path: string): never => {
    throw new Error(`unexpected ${method} ${path}`);
  };
  const api: PvcFinalizerApi = {
    kube: {
      get: async <T>(path: string): Promise<T> => {
        await Promise.resolve();
        const { namespace, resource, name } = parse(path);
        if (resource !== "persistentvolumeclaims") {
          return unexpected("GET", path);
        }
        const found = claims.get(`${namespace}/${name}`);
        if (found === undefined) {
          throw kubeApiError("GET", path, 404, "not found");
        }
        return structuredClone(found) as T;
      },
      patch: async <T>(path: string, body: unknown, options: { type: string }): Promise<T> => {
        await Promise.resolve();
        maybeFail("patch", path);
        const { namespace, resource, name } = parse(path);
        if (resource !== "persistentvolumeclaims" || options.type !== "merge") {
          return unexpected("PATCH", path);
        }
        const found = claims.get(`${namespace}/${name}`);
        if (found?.metadata === undefined) {
          throw kubeApiError("PATCH", path, 404, "not found");
        }
        const patch = body as { metadata: { resourceVersion?: string; finalizers: string[] } };
        if (patch.metadata.resourceVersion !== found.metadata.resourceVersion) {
          throw kubeApiError("PATCH", path, 409, "the object has been modified");
        }
        found.metadata.finalizers = patch.metadata.finalizers;
        version += 1;
        found.metadata.resourceVersion = String(version);
        calls.push(`patch pvc ${name} finalizers=${JSON.stringify(patch.metadata.finalizers)}`);
        if (patch.metadata.finalizers.length === 0) {
          claims.delete(`${namespace}/${name}`);
        }
        return structuredClone(found) as T;
      },
      list: async <T>(path: string): Promise<KubeList<T>> => {
        await Promise.resolve();
        maybeFail("listPods", path);
        const { namespace, resource } = parse(path);
        if (resource !== "pods") {
          return unexpected("GET", path);
        }
        return { metadata: {}, items: [...pods.values()].filter((p) => p.metadata?.namespace === namespace) as T[] };
      },
      delete: async <T>(path: string, options: DeleteOptions = {}): Promise<T> => {
        await Promise.resolve();
        maybeFail("deletePod", path, 403);
        const { namespace, resource, name } = parse(path);
        if (resource !== "pods") {
          return unexpected("DELETE", path);
        }
        const found = pods.get(`${namespace}/${name}`);
        if (found === undefined) {
          throw kubeApiError("DELETE", path, 404, "not found");
        }
        if (options.preconditions?.uid !== undefined && options.preconditions.uid !== found.metadata?.uid) {
          throw kubeApiError("DELETE", path, 409, "Precondition failed: UID in precondition");
        }
        pods.delete(`${namespace}/${name}`);
        calls.push(`delete pod ${name} grace=${String(options.gracePeriodSeconds)}`);
        return structuredClone(found) as T;
      },
    },
  };
  return { api, calls, failures, claims, pods };
}

describe("needsPvcFinalize", () => {
  it("holds for a deleted PVC whose only finalizer is ours, duplicates included", () => {
    expect(needsPvcFinalize(claim("a"))).toBe(true);
    expect(needsPvcFinalize(claim("a", { finalizers: [pvcFinalizer, pvcFinalizer] }))).toBe(true);
  });

  it("does not hold while another finalizer is present, when the PVC is not deleting, or without ours", () => {
    expect(needsPvcFinalize(claim("a", { finalizers: [protection, pvcFinalizer] }))).toBe(false);
    expect(needsPvcFinalize(claim("a", { finalizers: [pvcFinalizer, "example.com/backup"] }))).toBe(false);
    expect(needsPvcFinalize(claim("a", { deleting: false }))).toBe(false);
    expect(needsPvcFinalize(claim("a", { finalizers: [] }))).toBe(false);
  });
});

describe("podsUsingClaim", () => {
  it("finds pods by claim volume or by generic ephemeral volume, and skips pods already being deleted", () => {
    const pods = [
      pod("web-0", [claimVolume("data-web-0")]),
      pod("web-1", [claimVolume("data-web-1")]),
      pod("job", [{ name: "scratch", ephemeral: { volumeClaimTemplate: { spec: {} } } }]),
      pod("web-0-old", [claimVolume("data-web-0")], { deleting: true }),
      pod("no-volumes", []),
    ];
    expect(podsUsingClaim(pods, "data-web-0").map((p) => p.metadata?.name)).toEqual(["web-0"]);
    expect(podsUsingClaim(pods, "job-scratch").map((p) => p.metadata?.name)).toEqual(["job"]);
  });
});

describe("createPvcFinalizerReconcile", () => {
  it("deletes the pods still using the PVC with a 1 s grace period, then removes the finalizer", async () => {
    const fake = fakeCluster({
      claims: [claim("data-web-0")],
      pods: [
        pod("web-0", [claimVolume("data-web-0")]),
        pod("web-1", [claimVolume("data-web-1")]),
        pod("web-0", [claimVolume("data-web-0")], { namespace: "elsewhere" }),
      ],
    });
    await createPvcFinalizerReconcile({ ...fake.api, logger })("app/data-web-0", signal);
    expect(fake.calls).toEqual(["delete pod web-0 grace=1", "patch pvc data-web-0 finalizers=[]"]);
    expect(fake.claims.has("app/data-web-0")).toBe(false);
    expect([...fake.pods.keys()]).toEqual(["app/web-1", "elsewhere/web-0"]);
  });

  it("does nothing while another finalizer is present or when the PVC is not being deleted", async () => {
    const fake = fakeCluster({
      claims: [claim("protected", { finalizers: [protection, pvcFinalizer] }), claim("alive", { deleting: false })],
      pods: [pod("p", [claimVolume("protected")]), pod("q", [claimVolume("alive")])],
    });
    const reconcile = createPvcFinalizerReconcile({ ...fake.api, logger });
    for (const key of ["app/protected", "app/alive", "app/missing"]) {
      expect(await reconcile(key, signal)).toBeUndefined();
    }
    expect(fake.calls).toEqual([]);
  });

  it("retries a failed pod deletion, and removes the finalizer anyway once the attempts are used up", async () => {
    const fake = fakeCluster({ claims: [claim("data-web-0")], pods: [pod("web-0", [claimVolume("data-web-0")])] });
    fake.failures.set("deletePod", 10);
    const reconcile = createPvcFinalizerReconcile({ ...fake.api, logger, maxPodDeletionAttempts: 3 });
    await expect(reconcile("app/data-web-0", signal)).rejects.toMatchObject({ status: 403 });
    await expect(reconcile("app/data-web-0", signal)).rejects.toMatchObject({ status: 403 });
    expect(fake.claims.has("app/data-web-0")).toBe(true);
    await reconcile("app/data-web-0", signal);
    expect(fake.calls).toEqual(["patch pvc data-web-0 finalizers=[]"]);
    expect(fake.claims.has("app/data-web-0")).toBe(false);
  });

  it("fails with a conflict when the PVC changed since it was read, without deleting the pods twice", async () => {
    const fake = fakeCluster({ claims: [claim("data-web-0")], pods: [pod("web-0", [claimVolume("data-web-0")])] });
    const { kube } = fake.api;
    const racing: PvcFinalizerApi = {
      kube: {
        ...kube,
        get: async <T>(path: string): Promise<T> => {
          const read = await kube.get<T>(path);
          const stored = fake.claims.get("app/data-web-0");
          if (stored?.metadata !== undefined) {
            stored.metadata.resourceVersion = "2";
          }
          return read;
        },
      },
    };
    await expect(createPvcFinalizerReconcile({ ...racing, logger })("app/data-web-0", signal)).rejects.toMatchObject({ status: 409 });
    await createPvcFinalizerReconcile({ ...fake.api, logger })("app/data-web-0", signal);
    expect(fake.calls).toEqual(["delete pod web-0 grace=1", "patch pvc data-web-0 finalizers=[]"]);
  });
});

describe("createPvcFinalizerReconcile's requests", () => {
  it("gives every API call the reconcile's signal, so a stopping controller does not wait on the API server", async () => {
    const fake = fakeCluster({ claims: [claim("data-web-0")], pods: [pod("web-0", [claimVolume("data-web-0")])] });
    const { kube } = fake.api;
    const signals: unknown[] = [];
    const recording: PvcFinalizerApi = {
      kube: signalRecordingKube(kube, signals),
    };
    const controller = new AbortController();
    await createPvcFinalizerReconcile({ ...recording, logger })("app/data-web-0", controller.signal);
    expect(fake.calls).toEqual(["delete pod web-0 grace=1", "patch pvc data-web-0 finalizers=[]"]);
    expect(signals).toEqual([controller.signal, controller.signal, controller.signal, controller.signal]);
  });
});

describe("startPvcFinalizerController", () => {
  const until = async (condition: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !condition(); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(condition()).toBe(true);
  };

  it("acts when pvc-protection goes and ours is left, retrying errors with backoff", async () => {
    const protectedClaim = claim("data-web-0", { finalizers: [protection, pvcFinalizer] });
    const fake = fakeCluster({ claims: [protectedClaim], pods: [pod("web-0", [claimVolume("data-web-0")])] });
    const claims = fakeInformer([cachedClaimOf(protectedClaim)]);
    const controller = startPvcFinalizerController({ ...fake.api, claims, logger, baseDelayMs: 5 });
    await until(() => controller.synced());
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fake.calls).toEqual([]);

    // kube-controller-manager removes pvc-protection: the informer sees ours as the last finalizer.
    const stored = fake.claims.get("app/data-web-0");
    if (stored?.metadata !== undefined) {
      stored.metadata.finalizers = [pvcFinalizer];
      stored.metadata.resourceVersion = "2";
    }
    fake.failures.set("listPods", 1);
    fake.failures.set("patch", 1);
    claims.emit("update", cachedClaimOf(claim("data-web-0")));
    await until(() => !fake.claims.has("app/data-web-0"));
    expect(fake.calls).toEqual(["delete pod web-0 grace=1", "patch pvc data-web-0 finalizers=[]"]);
    await controller.stop();
  });
});
