import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { yamlAliasBomb } from "../../../../tools/yaml-alias-bomb.js";

const bin = fileURLToPath(new URL("./topolvm-scheduler.ts", import.meta.url));

// Each case starts node with tsx (seconds on a loaded 2-core machine): far more time than the unit default.
describe("topolvm-scheduler", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "topolvm-scheduler-cli-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints its name and the package version with --version", () => {
    const out = execFileSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, "--version"], { encoding: "utf8" });
    expect(out).toBe("topolvm-scheduler 0.1.0\n");
  });

  it("exits 1 naming the file of an options file that is a YAML alias bomb, without a stack", () => {
    const options = join(dir, "bomb.yaml");
    writeFileSync(options, `${yamlAliasBomb}\n`);
    const result = spawnSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, "--config", options], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`topolvm-scheduler: ${options}: Excessive alias count`);
    expect(result.stderr).not.toMatch(/ReferenceError|\n\s+at /);
  });
});
