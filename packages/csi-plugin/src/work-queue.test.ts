import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createWorkQueue, type Reconcile } from "./work-queue.js";

const logger = pino({ level: "silent" });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !condition(); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(condition()).toBe(true);
};

describe("createWorkQueue", () => {
  it("reconciles a key added twice while waiting once", async () => {
    const seen: string[] = [];
    const gate = deferred();
    const reconcile: Reconcile = async (key) => {
      await gate.promise;
      seen.push(key);
      return undefined;
    };
    const queue = createWorkQueue({ name: "test", reconcile, logger, concurrency: 1 });
    queue.add("a");
    queue.add("b");
    queue.add("b");
    gate.resolve();
    await until(() => queue.size() === 0);
    expect(seen).toEqual(["a", "b"]);
    await queue.stop();
  });

  it("never runs one key twice at once, and runs it again when it was added while running", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const gate = deferred();
    const reconcile: Reconcile = async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      runs += 1;
      if (runs === 1) {
        await gate.promise;
      }
      active -= 1;
      return undefined;
    };
    const queue = createWorkQueue({ name: "test", reconcile, logger, concurrency: 4 });
    queue.add("a");
    await until(() => runs === 1);
    queue.add("a");
    queue.add("a");
    gate.resolve();
    await until(() => runs === 2 && queue.size() === 0);
    expect(maxActive).toBe(1);
    await queue.stop();
  });

  it("retries a failing key with growing delays and forgets its failures on success", async () => {
    const at: number[] = [];
    const reconcile: Reconcile = () => {
      at.push(Date.now());
      return at.length < 4 ? Promise.reject(new Error("not yet")) : Promise.resolve(undefined);
    };
    const queue = createWorkQueue({ name: "test", reconcile, logger, baseDelayMs: 20, maxDelayMs: 1000 });
    queue.add("a");
    await until(() => at.length === 4);
    const gaps = at.slice(1).map((time, index) => time - (at[index] ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[1]).toBeGreaterThanOrEqual(35);
    expect(gaps[2]).toBeGreaterThanOrEqual(75);
    await queue.stop();
  });

  it("runs a key again after the delay a reconcile asks for", async () => {
    let runs = 0;
    const reconcile: Reconcile = () => {
      runs += 1;
      return Promise.resolve(runs === 1 ? { requeueAfterMs: 10 } : undefined);
    };
    const queue = createWorkQueue({ name: "test", reconcile, logger });
    queue.add("a");
    await until(() => runs === 2);
    await queue.stop();
  });

  it("aborts running reconciles on stop and takes no keys afterwards", async () => {
    let aborted = false;
    let runs = 0;
    const reconcile: Reconcile = (_key, signal) => {
      runs += 1;
      return new Promise((resolve) => {
        signal.addEventListener("abort", () => {
          aborted = true;
          resolve(undefined);
        });
      });
    };
    const queue = createWorkQueue({ name: "test", reconcile, logger });
    queue.add("a");
    await until(() => runs === 1);
    await queue.stop();
    expect(aborted).toBe(true);
    queue.add("b");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toBe(1);
  });
});
