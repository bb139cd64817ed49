import { ApiException, V1Node, V1ObjectMeta } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeInformer } from "../test/fake-informer.js";
import { describeError, isMarkedForDeletion, startController, watchInformer } from "./informer.js";

const logger = pino({ level: "silent" });

/** A Node named `name` with the label pick=`pick`. */
const labelled = (name: string, pick: string): V1Node =>
  Object.assign(new V1Node(), { metadata: Object.assign(new V1ObjectMeta(), { name, labels: { pick } }) });

describe("watchInformer", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is synced after a start that reported no error", async () => {
    const informer = fakeInformer<V1Node>();
    const watched = watchInformer(informer, { kind: "Node", logger });
    expect(watched.synced()).toBe(false);
    watched.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(watched.synced()).toBe(true);
    await watched.stop();
  });

  it("restarts after errors with a doubling delay", async () => {
    const informer = fakeInformer<V1Node>();
    const watched = watchInformer(informer, { kind: "Node", logger, initialRetryMs: 100, maxRetryMs: 300 });
    watched.start();
    await vi.advanceTimersByTimeAsync(0);
    informer.fail(new Error("watch broke"));
    await vi.advanceTimersByTimeAsync(99);
    expect(informer.starts).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(informer.starts).toBe(2);
    // The restart succeeded, so the delay is back to its start.
    informer.fail(new Error("watch broke again"));
    await vi.advanceTimersByTimeAsync(100);
    expect(informer.starts).toBe(3);
    await watched.stop();
  });

  it("does not restart once stopped", async () => {
    const informer = fakeInformer<V1Node>();
    const watched = watchInformer(informer, { kind: "Node", logger, initialRetryMs: 100 });
    watched.start();
    await vi.advanceTimersByTimeAsync(0);
    informer.fail(new Error("watch broke"));
    await watched.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(informer.starts).toBe(1);
    expect(informer.running).toBe(false);
  });
});

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
      informer.emit("update", labelled("b", "no"));
      informer.emit("add", labelled("c", "yes"));
      await vi.advanceTimersByTimeAsync(0);
      expect(seen).toEqual(["a", "c"]);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(seen.slice(2).sort()).toEqual(["a", "c"]);
      await controller.stop();
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
    await informer.start();
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

describe("isMarkedForDeletion", () => {
  it("reads a deletionTimestamp as a Date (from a list) or a string (from a watch)", () => {
    expect(isMarkedForDeletion({ metadata: { deletionTimestamp: new Date() } })).toBe(true);
    expect(isMarkedForDeletion({ metadata: { deletionTimestamp: "2025-01-01T00:00:00Z" } })).toBe(true);
    expect(isMarkedForDeletion({ metadata: {} })).toBe(false);
    expect(isMarkedForDeletion({})).toBe(false);
  });
});

describe("describeError", () => {
  it("gives the HTTP status and the Status message of an API error", () => {
    const error = new ApiException(409, "Conflict", '{"kind":"Status","message":"the object has been modified"}', {});
    expect(describeError(error)).toBe("HTTP 409: the object has been modified");
    expect(describeError(new ApiException(500, "x", { message: "parsed" }, {}))).toBe("HTTP 500: parsed");
    expect(describeError(new Error("plain"))).toBe("plain");
  });
});
