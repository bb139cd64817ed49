import { describe, expect, it } from "vitest";
import { createKeyedLock } from "./keyed-lock.js";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("createKeyedLock", () => {
  it("runs work of one key one at a time, in order", async () => {
    const lock = createKeyedLock();
    const order: string[] = [];
    const gate = deferred();
    const signal = new AbortController().signal;
    const first = lock.run("k", signal, async () => {
      order.push("first start");
      await gate.promise;
      order.push("first end");
    });
    const second = lock.run("k", signal, () => {
      order.push("second");
      return Promise.resolve();
    });
    await Promise.resolve();
    expect(order).toEqual(["first start"]);
    gate.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(["first start", "first end", "second"]);
    expect(lock.size()).toBe(0);
  });

  it("runs different keys concurrently", async () => {
    const lock = createKeyedLock();
    const gate = deferred();
    const signal = new AbortController().signal;
    const held = lock.run("a", signal, () => gate.promise);
    await expect(lock.run("b", signal, () => Promise.resolve("b done"))).resolves.toBe("b done");
    gate.resolve();
    await held;
  });

  it("lets a waiter leave when its signal aborts, and releases after a failure", async () => {
    const lock = createKeyedLock();
    const gate = deferred();
    const held = lock.run("k", new AbortController().signal, async () => {
      await gate.promise;
      throw new Error("boom");
    });
    const leaving = new AbortController();
    const waiter = lock.run("k", leaving.signal, () => Promise.resolve("never"));
    leaving.abort(new Error("deadline"));
    await expect(waiter).rejects.toThrow("deadline");
    gate.resolve();
    await expect(held).rejects.toThrow("boom");
    await expect(lock.run("k", new AbortController().signal, () => Promise.resolve(1))).resolves.toBe(1);
    expect(lock.size()).toBe(0);
  });
});
