import { describe, expect, it } from "vitest";
import { escapePointerToken, jsonPointer } from "./json-patch.js";

describe("escapePointerToken", () => {
  it("escapes the slash of an annotation key", () => {
    expect(escapePointerToken("capacity.topolvm.cybozu.com/ssd")).toBe("capacity.topolvm.cybozu.com~1ssd");
  });

  it("escapes tildes before slashes so ~1 in a key survives", () => {
    expect(escapePointerToken("a~1/b")).toBe("a~01~1b");
    expect(escapePointerToken("~")).toBe("~0");
  });

  it("leaves other characters alone", () => {
    expect(escapePointerToken("topolvm.cybozu.com")).toBe("topolvm.cybozu.com");
  });
});

describe("jsonPointer", () => {
  it("joins escaped tokens and array indexes", () => {
    expect(jsonPointer("spec", "containers", 0, "resources", "limits", "topolvm.cybozu.com/capacity")).toBe(
      "/spec/containers/0/resources/limits/topolvm.cybozu.com~1capacity",
    );
  });

  it("keeps an empty token, which names the empty key", () => {
    expect(jsonPointer("metadata", "")).toBe("/metadata/");
  });
});
