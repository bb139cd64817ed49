import { describe, expect, it } from "vitest";
import { runVitestInVm, vmUnavailableReason } from "../../../tools/vm/index.js";

// Snapshots, restores and clones need thin volumes, which the host kernel (no device-mapper) cannot activate: the
// local cluster with csi-snapshotter and snapshot-controller runs in the tools/vm VM, by vm/snapshots.vm-test.ts.
const unavailable = vmUnavailableReason();

describe.skipIf(unavailable !== undefined && process.env.CI !== "true")("snapshots, restores and clones of thin volumes in the VM", () => {
  it("passes the snapshot tests on a real kernel", { timeout: 3_700_000 }, async () => {
    const result = await runVitestInVm("packages/csi-plugin/test/vm/snapshots.vm-test.ts", { timeoutMs: 3_600_000, memMiB: 4096 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/Tests +5 passed/);
    expect(result.stdout).not.toMatch(/skipped|FAIL/);
    console.info(`csi-plugin snapshots in the VM: boot-to-command ${String(result.bootMs)} ms`);
  });
});
