import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const execFileAsync = promisify(execFile);
const script = join(import.meta.dirname, "..", "vm-cluster");

describe("vm-cluster", () => {
  it("prints its usage for --help", async () => {
    const { stdout } = await execFileAsync(script, ["--help"]);
    expect(stdout).toContain("usage: tools/vm-cluster/vm-cluster up");
  });

  it("refuses an unknown command and a bad memory size before starting anything", async () => {
    await expect(execFileAsync(script, ["down"])).rejects.toMatchObject({ code: 2 });
    await expect(execFileAsync(script, ["up", "--mem", "12x"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--mem 12x") as unknown,
    });
  });
});
