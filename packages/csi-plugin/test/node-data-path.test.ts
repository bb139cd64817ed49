import { describe, expect, it } from "vitest";
import { runVitestInVm, vmUnavailableReason } from "../../../tools/vm/index.js";

// The host kernel has no device-mapper: publishing, formatting, mounting and growing volumes through the CSI node
// service is tested in the tools/vm VM, by vm/node-data-path.vm-test.ts.
const unavailable = vmUnavailableReason();

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("topolvm-node's CSI node service in the VM", () => {
  it("passes the data-path tests on a real kernel", { timeout: 2_000_000 }, async () => {
    const result = await runVitestInVm("packages/csi-plugin/test/vm/node-data-path.vm-test.ts", { timeoutMs: 1_800_000 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/Tests +12 passed/);
    expect(result.stdout).not.toMatch(/skipped|FAIL/);
    console.info(`csi-plugin node data path in the VM: boot-to-command ${String(result.bootMs)} ms`);
  });
});
