import { defineConfig } from "vitest/config";
import { resolve } from "node:path";

// The config of vitest runs inside the VM (tools/vm runVitestInVm): `*.vm-test.ts` files, which the host suites
// never collect. It writes no report to .reports: the host test that started the VM is the one counted.
export default defineConfig({
  resolve: { conditions: ["@topolvm/source"] },
  test: {
    root: resolve(import.meta.dirname, "..", ".."),
    include: ["packages/*/test/**/*.vm-test.ts", "tools/*/test/**/*.vm-test.ts"],
    environment: "node",
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ["verbose"],
  },
});
