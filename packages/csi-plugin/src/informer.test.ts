import { V1Node, V1ObjectMeta } from "@kubernetes/client-node";
import { KubeApiError } from "@topolvm/kube-client";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { fakeInformer } from "../test/fake-informer.js";
import { describeError, isMarkedForDeletion, logInformer, startController, withoutManagedFields } from "./informer.js";

const logger = pino({ level: "silent" });

/** A Node named `name` with the label pick=`pick`. */
const labelled = (name: string, pick: string): V1Node =>
  Object.assign(new V1Node(), { metadata: Object.assign(new V1ObjectMeta(), { name, labels: { pick } }) });

describe("startController", () => {
  it("reconciles the keys of added and updated objects that keyOf selects, and resyncs the cache", async () => {
    vi.useFakeTimers();
    try {
      const seen: string[] = [];
      const informer = fakeInformer<V1Node>([labelled("a", "yes")]);
      const controller = startController<V1Node>({
        name: "test",
        informer,
        logger,
        keyOf: (node) => (node.metadata?.labels?.pick === "yes" ? node.metadata.name : undefined),
        reconcile: (key) => {
          seen.push(key);
          return Promise.resolve(undefined);
        },
        resyncMs: 1_000,
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(informer.starts).toBe(1);
      expect(controller.synced()).toBe(true);
      informer.emit("update", labelled("b", "no"));
      informer.emit("add", labelled("c", "yes"));
      await vi.advanceTimersByTimeAsync(0);
      expect(seen).toEqual(["a", "c"]);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(seen.slice(2).sort()).toEqual(["a", "c"]);
      await controller.stop();
      expect(informer.running).toBe(false);
      informer.emit("add", labelled("d", "yes"));
      await vi.advanceTimersByTimeAsync(2_000);
      expect(seen).not.toContain("d");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("startController with a shared informer", () => {
  it("offers what is cached at once, follows its events, and neither starts nor stops it", async () => {
    const seen: string[] = [];
    const informer = fakeInformer<V1Node>([labelled("a", "yes")]);
    informer.start();
    const controller = startController<V1Node>({
      name: "test",
      informer,
      shared: { synced: () => true },
      logger,
      keyOf: (node) => node.metadata?.name,
      reconcile: (key) => {
        seen.push(key);
        return Promise.resolve(undefined);
      },
    });
    informer.emit("update", labelled("b", "yes"));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toEqual(["a", "b"]);
    expect(controller.synced()).toBe(true);
    await controller.stop();
    expect(informer.starts).toBe(1);
    expect(informer.running).toBe(true);
  });
});

describe("logInformer", () => {
  it("logs the first sync, list and watch failures with their retry delay, and failed handlers", () => {
    const lines: { msg: string; retryMs?: number; err?: string; kind?: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const informer = fakeInformer<V1Node>();
    logInformer(informer, { kind: "Node", logger });
    informer.start();
    informer.fail(new Error("watch broke"), 1_000);
    informer.fail(new Error("handler threw"), undefined);
    expect(lines.map(({ msg, retryMs, err, kind }) => ({ msg, retryMs, err, kind }))).toEqual([
      { msg: "informer cache synced", kind: "Node", retryMs: undefined, err: undefined },
      { msg: "list or watch failed; the informer restarts", kind: "Node", retryMs: 1_000, err: "watch broke" },
      { msg: "an informer event handler failed", kind: "Node", retryMs: undefined, err: "handler threw" },
    ]);
  });
});

describe("isMarkedForDeletion", () => {
  it("holds when the API server has set a deletionTimestamp", () => {
    expect(isMarkedForDeletion({ metadata: { deletionTimestamp: "2025-01-01T00:00:00Z" } })).toBe(true);
    expect(isMarkedForDeletion({ metadata: {} })).toBe(false);
    expect(isMarkedForDeletion({})).toBe(false);
  });
});

describe("withoutManagedFields", () => {
  it("drops metadata.managedFields and keeps the rest", () => {
    const node = { metadata: { name: "a", labels: { x: "1" }, managedFields: [{ manager: "kubelet" }] }, spec: {} };
    expect(withoutManagedFields(node)).toEqual({ metadata: { name: "a", labels: { x: "1" } }, spec: {} });
    const plain = { metadata: { name: "b" } };
    expect(withoutManagedFields(plain)).toBe(plain);
  });
});

describe("describeError", () => {
  it("gives the verb, path, HTTP status, reason and server message of an API error", () => {
    const error = new KubeApiError({ method: "PATCH", path: "/api/v1/nodes/n", status: 409, reason: "Conflict", serverMessage: "the object has been modified" });
    expect(describeError(error)).toBe("PATCH /api/v1/nodes/n: 409 Conflict: the object has been modified");
    expect(describeError(new Error("plain"))).toBe("plain");
    expect(describeError("text")).toBe("text");
  });
});
