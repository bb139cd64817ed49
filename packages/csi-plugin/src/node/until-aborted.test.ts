import { describe, expect, it } from "vitest";
import { untilAborted } from "./until-aborted.js";

const signal = new AbortController().signal;

describe("untilAborted", () => {
  it("rejects at once for an aborted signal and passes values and errors through otherwise", async () => {
    await expect(untilAborted(Promise.resolve(1), AbortSignal.abort(new Error("gone")))).rejects.toThrow("gone");
    expect(await untilAborted(Promise.resolve(1), signal)).toBe(1);
    await expect(untilAborted(Promise.reject(new Error("no")), signal)).rejects.toThrow("no");
  });

  it("rejects with the signal's reason when it aborts before the promise settles", async () => {
    const controller = new AbortController();
    const reason = new Error("deadline");
    const pending = untilAborted(new Promise(() => undefined), controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });
});
