import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { yamlAliasBomb } from "../../../../tools/yaml-alias-bomb.js";

const bin = fileURLToPath(new URL("./lvmd.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "lvmd-cli-"));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, ...args], { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Each case starts node with tsx (seconds each on a loaded 2-core machine): far more time than the unit default.
describe("lvmd", { timeout: 120_000 }, () => {
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints its name and the package version with --version", () => {
    const out = execFileSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, "--version"], { encoding: "utf8" });
    expect(out).toBe("lvmd 0.1.0\n");
  });

  it("prints its usage with --help", () => {
    const { status, stdout } = run("--help");
    expect(status).toBe(0);
    expect(stdout).toContain("lvmd health [flags]");
    expect(stdout).toContain("--config PATH");
  });

  it("exits 2 on an unknown flag, a bad log level or an unknown command", () => {
    expect(run("--conf", "x")).toMatchObject({ status: 2, stderr: expect.stringContaining("Unknown option '--conf'") as unknown });
    expect(run("--log-level", "loud")).toMatchObject({ status: 2, stderr: expect.stringContaining('--log-level must be one of') as unknown });
    expect(run("serve", "now")).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown command "serve now"') as unknown });
  });

  it("exits 1 naming the key of an invalid config", () => {
    const config = join(dir, "bad.yaml");
    writeFileSync(config, "device-classes:\n  - { name: ssd, volume-group: vg, spare-gb: -1 }\n");
    const { status, stderr } = run("--config", config);
    expect(status).toBe(1);
    expect(stderr).toContain("device-classes[0].spare-gb: must be a whole number of GiB, 0 or more, got -1");
  });

  it("exits 1 naming the file of a config that is a YAML alias bomb, without a stack", () => {
    const config = join(dir, "bomb.yaml");
    writeFileSync(config, `${yamlAliasBomb}\ndevice-classes:\n  - { name: ssd, volume-group: vg }\n`);
    const { status, stderr } = run("--config", config);
    expect(status).toBe(1);
    expect(stderr).toContain(`${config}: not valid YAML: Excessive alias count`);
    expect(stderr).not.toMatch(/ReferenceError|\n\s+at /);
  });

  it("lvmd health exits 1 when nothing serves the socket", () => {
    const config = join(dir, "ok.yaml");
    writeFileSync(config, `socket-name: ${join(dir, "none.sock")}\ndevice-classes:\n  - { name: ssd, volume-group: vg }\n`);
    const { status, stderr } = run("health", "--config", config);
    expect(status).toBe(1);
    expect(stderr).toContain(`health check of ${join(dir, "none.sock")} failed`);
  });
});
