import { describe, expect, it } from "vitest";
import { failures } from "../test/fixtures/index.js";
import { classifyFailure, isLvmError, LvmError, type LvmErrorCode } from "./lvm-error.js";

// Every failure recorded from the real lvm2 2.03 (test/fixtures/failures.json) and the code it must map to.
const expected: Record<string, LvmErrorCode> = {
  "create-duplicate": "AlreadyExists",
  "create-too-large": "InsufficientSpace",
  "create-stripes-too-large": "InsufficientSpace",
  "create-missing-vg": "NotFound",
  "create-missing-thin-pool": "NotFound",
  "create-too-many-stripes": "CommandFailed",
  "create-thin-pool-no-dm": "CommandFailed",
  "snapshot-missing-source": "NotFound",
  "snapshot-missing-vg": "NotFound",
  "snapshot-thick-source": "CommandFailed",
  "vgs-missing-vg": "NotFound",
  "lvs-missing-vg": "NotFound",
  "lvs-missing-lv": "NotFound",
  "fullreport-missing-vg": "NotFound",
  "extend-missing-lv": "NotFound",
  "extend-missing-vg": "NotFound",
  "extend-smaller": "CommandFailed",
  "extend-same": "CommandFailed",
  "extend-too-large": "InsufficientSpace",
  "remove-missing-lv": "NotFound",
  "remove-missing-vg": "NotFound",
  "addtag-missing-lv": "NotFound",
  "deltag-missing-vg": "NotFound",
};

describe("classifying lvm2 failures by their stderr", () => {
  const recorded = failures();

  it("has a recorded stderr for every expected case", () => {
    for (const name of Object.keys(expected)) {
      expect(recorded[name]?.exitCode, name).toBe(5);
    }
  });

  it.each(Object.entries(expected))("maps %s to %s", (name, code) => {
    expect(classifyFailure(recorded[name]?.stderr ?? "")).toBe(code);
  });

  it("maps an unknown or empty stderr to CommandFailed", () => {
    expect(classifyFailure("")).toBe("CommandFailed");
    expect(classifyFailure("  Device or resource busy\n")).toBe("CommandFailed");
  });
});

describe("LvmError", () => {
  it("carries the code, argv, exit code and stderr", () => {
    const error = new LvmError("NotFound", "gone", { argv: ["lvm", "lvs"], exitCode: 5, stderr: "x" });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: "LvmError", code: "NotFound", message: "gone", argv: ["lvm", "lvs"], exitCode: 5, stderr: "x" });
    expect(isLvmError(error)).toBe(true);
    expect(isLvmError(error, "NotFound")).toBe(true);
    expect(isLvmError(error, "Timeout")).toBe(false);
    expect(isLvmError(new Error("x"))).toBe(false);
  });

  it("defaults to no command", () => {
    expect(new LvmError("InvalidArgument", "bad")).toMatchObject({ argv: [], exitCode: null, stderr: "" });
  });
});
