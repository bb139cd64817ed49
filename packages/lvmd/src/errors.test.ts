import { Code, ConnectError } from "@connectrpc/connect";
import { LvmError, type LvmErrorCode } from "@topolvm/lvm-exec";
import { describe, expect, it } from "vitest";
import { toConnectError } from "./errors.js";

describe("toConnectError", () => {
  it.each<[LvmErrorCode, Code]>([
    ["InvalidArgument", Code.InvalidArgument],
    ["NotFound", Code.NotFound],
    ["AlreadyExists", Code.AlreadyExists],
    ["InsufficientSpace", Code.ResourceExhausted],
    ["Timeout", Code.DeadlineExceeded],
    ["CommandFailed", Code.Internal],
  ])("maps LvmError %s to %s", (lvmCode, code) => {
    expect(toConnectError(new LvmError(lvmCode, "lvm lvcreate failed")).code).toBe(code);
  });

  it("keeps LVM's stderr in the message when the LvmError's message lacks it", () => {
    const err = toConnectError(new LvmError("CommandFailed", "lvm lvcreate failed (exit code 5)", { stderr: "  Aborting. Failed to wipe start of new LV.\n" }));
    expect(err.rawMessage).toBe("lvm lvcreate failed (exit code 5)\nAborting. Failed to wipe start of new LV.");
  });

  it("does not repeat stderr already in the message", () => {
    const err = toConnectError(new LvmError("CommandFailed", "lvm lvremove failed: oops", { stderr: "oops" }));
    expect(err.rawMessage).toBe("lvm lvremove failed: oops");
  });

  it("passes ConnectErrors through unchanged", () => {
    const original = new ConnectError("no", Code.OutOfRange);
    expect(toConnectError(original)).toBe(original);
  });

  it("turns the AbortError of a cancelled call into Canceled", () => {
    const controller = new AbortController();
    controller.abort();
    expect(toConnectError(controller.signal.reason)).toMatchObject({ code: Code.Canceled });
  });

  it("turns anything else into Internal with its message", () => {
    expect(toConnectError(new TypeError("boom"))).toMatchObject({ code: Code.Internal, rawMessage: "boom" });
    expect(toConnectError("text")).toMatchObject({ code: Code.Internal, rawMessage: "text" });
  });
});
