import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("./topolvm-node.ts", import.meta.url));

describe("topolvm-node", () => {
  it("prints its name and the package version with --version", () => {
    const out = execFileSync(process.execPath, ["--import", "tsx", bin, "--version"], { encoding: "utf8" });
    expect(out).toBe("topolvm-node 0.1.0\n");
  });
});
