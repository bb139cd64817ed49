import { describe, expect, it } from "vitest";
import { runVitestInVm, vmUnavailableReason } from "../../../../tools/vm/index.js";

// The host kernel has no device-mapper: thin classes, snapshots and activation are tested in the tools/vm VM, by
// thin.vm-test.ts, against the built lvmd.
const unavailable = vmUnavailableReason();

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("lvmd in the VM", () => {
  it("passes the thin-class and snapshot tests on a real kernel", { timeout: 700_000 }, async () => {
    const result = await runVitestInVm("packages/lvmd/test/vm/thin.vm-test.ts", { timeoutMs: 600_000 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/Tests +4 passed/);
    console.info(`lvmd thin and snapshot paths in the VM: boot-to-command ${String(result.bootMs)} ms`);
  });
});
