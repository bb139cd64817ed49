import { describe, expect, it } from "vitest";

import { imageReference, qualifiedReference } from "../src/reference.js";

describe("image references", () => {
  it("tags <repository>/<component>:<version>", () => {
    expect(imageReference("topolvm", "lvmd", "0.1.0")).toBe("topolvm/lvmd:0.1.0");
    expect(imageReference("registry.example.com:5000/storage/topolvm", "csi-plugin", "1.2.3-rc.1")).toBe(
      "registry.example.com:5000/storage/topolvm/csi-plugin:1.2.3-rc.1",
    );
  });

  it("rejects a repository with uppercase letters or an empty path component", () => {
    expect(() => imageReference("TopoLVM", "lvmd", "0.1.0")).toThrow(/invalid image repository/);
    expect(() => imageReference("example.com//topolvm", "lvmd", "0.1.0")).toThrow(/invalid image repository/);
  });

  it("rejects a tag a registry would refuse", () => {
    expect(() => imageReference("topolvm", "lvmd", "0.1.0+build")).toThrow(/invalid image tag/);
  });

  it("qualifies a reference as container runtimes resolve it", () => {
    expect(qualifiedReference("topolvm/lvmd:0.1.0")).toBe("docker.io/topolvm/lvmd:0.1.0");
    expect(qualifiedReference("busybox:1")).toBe("docker.io/library/busybox:1");
    expect(qualifiedReference("registry.example.com/topolvm/lvmd:0.1.0")).toBe("registry.example.com/topolvm/lvmd:0.1.0");
    expect(qualifiedReference("localhost/topolvm/lvmd:0.1.0")).toBe("localhost/topolvm/lvmd:0.1.0");
    expect(qualifiedReference("registry:5000/topolvm/lvmd:0.1.0")).toBe("registry:5000/topolvm/lvmd:0.1.0");
  });
});
