import { describe, expect, it } from "vitest";
import { runVitestInVm, vmUnavailableReason } from "../../../../tools/vm/index.js";

// The host kernel has no device-mapper: activation, thin pools, mkfs, mount and online resize are tested in the
// tools/vm VM, by data-path.vm-test.ts.
const unavailable = vmUnavailableReason();

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("lvm-exec in the VM", () => {
  it("passes the data-path tests on a real kernel", { timeout: 700_000 }, async () => {
    const result = await runVitestInVm("packages/lvm-exec/test/vm/data-path.vm-test.ts", { timeoutMs: 600_000 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/Tests +4 passed/);
    console.info(`lvm-exec data path in the VM: boot-to-command ${String(result.bootMs)} ms`);
  });
});
