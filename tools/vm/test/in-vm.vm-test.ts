import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

// Run by tools/vm/test/vm.test.ts through runVitestInVm: proves a vitest file really runs in the VM's kernel.
it("runs inside the VM, where device-mapper exists", () => {
  expect(process.env.TOPOLVM_IN_VM).toBe("1");
  expect(readFileSync("/proc/misc", "utf8")).toContain("device-mapper");
});
