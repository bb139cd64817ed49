import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("./topolvm-webhook.ts", import.meta.url));

describe("topolvm-webhook", () => {
  it("prints its name and the package version with --version", () => {
    const out = execFileSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, "--version"], { encoding: "utf8" });
    expect(out).toBe("topolvm-webhook 0.1.0\n");
  });
});
