import { defineConfig, type ViteUserConfig } from "vitest/config";
import { basename, join, resolve } from "node:path";

/**
 * Which suite a config runs: a package's fast unit tests in src/, its integration tests in test/ against real
 * parts, or the harness tests under tools/<harness>/test/.
 */
export type Suite = "unit" | "integration" | "tools";

const includes: Record<Suite, string[]> = {
  unit: ["src/**/*.test.ts"],
  integration: ["test/**/*.test.ts"],
  tools: ["*/test/**/*.test.ts"],
};

const workspaceRoot = resolve(import.meta.dirname, "..");

/** The shared vitest base config: one per suite, writing a JSON report that tools/test totals. */
export function vitestConfig(projectDir: string, suite: Suite): ViteUserConfig {
  const name = `${basename(projectDir)}-${suite}`;
  return defineConfig({
    // Tests run in vite's SSR environment, which takes its own conditions: both point workspace imports at sources.
    resolve: { conditions: ["@topolvm/source"] },
    ssr: { resolve: { conditions: ["@topolvm/source"], externalConditions: ["@topolvm/source"] } },
    test: {
      name,
      root: projectDir,
      include: includes[suite],
      environment: "node",
      testTimeout: suite === "unit" ? 10_000 : 300_000,
      hookTimeout: suite === "unit" ? 10_000 : 600_000,
      fileParallelism: suite === "unit",
      passWithNoTests: false,
      reporters: ["default", ["json", { outputFile: join(workspaceRoot, ".reports", `${name}.json`) }]],
    },
  });
}
