import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { createBufferPool, type BufferPool } from "./buffer-pool.js";
import { ClientAbortError, RequestTimeoutError, createBodyBudget, readBody } from "./request-body.js";

/** A request that delivers what the test emits. */
function fakeRequest(headers: Record<string, string>): IncomingMessage & EventEmitter {
  return Object.assign(new EventEmitter(), { headers, socket: { errored: null }, pause: () => undefined }) as unknown as IncomingMessage & EventEmitter;
}

/** A pool that records the sizes asked of it. */
function recordingPool(sizes: number[]): BufferPool {
  const pool = createBufferPool(16);
  return {
    acquire(sizeBytes) {
      sizes.push(sizeBytes);
      return pool.acquire(sizeBytes);
    },
    acquireExisting: (sizeBytes) => pool.acquireExisting(sizeBytes),
    release(buffer) {
      pool.release(buffer);
    },
  };
}

describe("readBody", () => {
  it("allocates for the bytes that arrived, not for the declared length", async () => {
    const sizes: number[] = [];
    const request = fakeRequest({ "content-length": String(10 * 1024 * 1024) });
    const reading = readBody(request, 10 * 1024 * 1024, recordingPool(sizes));
    request.emit("data", Buffer.from("{}"));
    request.emit("aborted");
    await expect(reading).rejects.toBeInstanceOf(ClientAbortError);
    expect(sizes.every((size) => size < 1024)).toBe(true);
  });

  it("tells node:http's request timeout from a client that went away", async () => {
    const request = fakeRequest({ "content-length": "100" });
    Object.assign(request.socket, { errored: Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }) });
    const reading = readBody(request, 100);
    request.emit("aborted");
    await expect(reading).rejects.toBeInstanceOf(RequestTimeoutError);
    await expect(reading).rejects.toMatchObject({ status: 408 });
  });

  it("joins the chunks of a body into one buffer", async () => {
    const request = fakeRequest({ "content-length": "6" });
    const reading = readBody(request, 100, recordingPool([]));
    request.emit("data", Buffer.from("abc"));
    request.emit("data", Buffer.from("def"));
    request.emit("end");
    expect((await reading).toString()).toBe("abcdef");
  });

  it("reads into the pool's buffer once it exists and is free", async () => {
    const sizes: number[] = [];
    const pool = recordingPool(sizes);
    for (const text of ["a".repeat(64), "b".repeat(32)]) {
      const request = fakeRequest({ "content-length": String(text.length) });
      const reading = readBody(request, 100, pool);
      request.emit("data", Buffer.from(text));
      request.emit("end");
      const body = await reading;
      expect(body.toString()).toBe(text);
      pool.release(body);
    }
    expect(sizes).toEqual([64]);
  });
});

describe("createBodyBudget", () => {
  it("admits bodies while their number and bytes stay under the caps, and releases once", () => {
    const budget = createBodyBudget(2, 100);
    const first = budget.admit(60);
    expect(first).toBeDefined();
    expect(budget.admit(50)).toBeUndefined();
    const second = budget.admit(40);
    expect(second).toBeDefined();
    expect(budget.admit(0)).toBeUndefined();
    first?.();
    first?.();
    expect(budget.admit(60)).toBeDefined();
    expect(budget.admit(1)).toBeUndefined();
  });
});
