import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("./topolvm.ts", import.meta.url));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--conditions=@topolvm/source", "--import", "tsx", bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, KUBECONFIG: "/nonexistent/kubeconfig" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("topolvm", () => {
  it("prints its version and its commands", { timeout: 30_000 }, () => {
    expect(run("--version")).toMatchObject({ status: 0, stdout: "topolvm 0.1.0\n" });
    const { status, stdout } = run("--help");
    expect(status).toBe(0);
    for (const text of ["topolvm status", "topolvm check", "--kubeconfig PATH", "--output FORMAT", "--grace SECONDS"]) {
      expect(stdout).toContain(text);
    }
  });

  it("refuses a bad command line with exit 2, naming what is wrong", { timeout: 30_000 }, () => {
    expect(run()).toMatchObject({ status: 2, stderr: expect.stringContaining("no command: give status or check") as unknown });
    expect(run("stats")).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown command "stats"') as unknown });
    expect(run("status", "--output", "yaml")).toMatchObject({ status: 2, stderr: expect.stringContaining('--output: "yaml" is not table or json') as unknown });
    expect(run("check", "--grace", "soon")).toMatchObject({ status: 2, stderr: expect.stringContaining('--grace: "soon"') as unknown });
  });

  it("exits 3 naming the kubeconfig it cannot read", { timeout: 30_000 }, () => {
    const { status, stderr } = run("status", "--kubeconfig", "/nonexistent/kubeconfig");
    expect(status).toBe(3);
    expect(stderr).toContain("/nonexistent/kubeconfig");
  });
});
