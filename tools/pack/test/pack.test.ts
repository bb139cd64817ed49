import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Every workspace package must pack into a tarball that installs and imports in an empty directory, the way
// a user would consume it from the registry. Installs prefer npm's cache (filled by the workspace install).
const workspaceRoot = resolve(import.meta.dirname, "../../..");
const packageDirs = readdirSync(join(workspaceRoot, "packages"));

interface Manifest {
  name: string;
  version: string;
  bin?: Record<string, string>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(workspaceRoot, "packages", dir, "package.json"), "utf8")) as Manifest;
}

describe("npm pack", () => {
  let work = "";
  let consumer = "";

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "topolvm-pack-"));
    consumer = join(work, "consumer");
    const tarballs = packageDirs.map((dir) => {
      const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], {
        cwd: join(workspaceRoot, "packages", dir),
        encoding: "utf8",
      });
      return join(work, out.trim().split("\n").at(-1) ?? "");
    });
    execFileSync("mkdir", ["-p", consumer]);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    execFileSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], {
      cwd: consumer,
      encoding: "utf8",
    });
  }, 300_000);

  afterAll(() => {
    if (work !== "") rmSync(work, { recursive: true, force: true });
  });

  it.each(packageDirs)("installs @topolvm/%s from its tarball, which exports what the workspace's build does", (dir) => {
    const { name } = manifest(dir);
    const exportsIn = (cwd: string): string[] =>
      JSON.parse(
        execFileSync(process.execPath, ["--input-type=module", "-e", `console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(name)})).sort()))`], {
          cwd,
          encoding: "utf8",
        }),
      ) as string[];
    const installed = exportsIn(consumer);
    expect(installed.length).toBeGreaterThan(0);
    expect(installed).toEqual(exportsIn(join(workspaceRoot, "packages", dir)));
  });

  it("type-checks an import of createLvm from @topolvm/lvm-exec in the consumer (NodeNext)", () => {
    // The `@ts-expect-error` lines fail the check if the published types degrade to `any`.
    const source = [
      'import { createLvm, isLvmError, type LogicalVolume, type Lvm } from "@topolvm/lvm-exec";',
      "const lvm: Lvm = createLvm({ timeoutMs: 1000, commandPrefix: [\"nsenter\", \"-t\", \"1\", \"/sbin/lvm\"] });",
      'export const created: Promise<LogicalVolume> = lvm.createLogicalVolume({ vgName: "vg", name: "lv", sizeBytes: 1 << 30 });',
      "export const free: Promise<number> = lvm.getVolumeGroup(\"vg\").then((vg) => vg.freeBytes);",
      "export const notFound = (e: unknown): boolean => isLvmError(e, \"NotFound\");",
      "// @ts-expect-error sizes are numbers of bytes",
      'void lvm.createLogicalVolume({ vgName: "vg", name: "lv", sizeBytes: "1G" });',
      "// @ts-expect-error error codes are a closed set",
      'isLvmError(null, "Busy");',
    ].join("\n");
    writeFileSync(join(consumer, "check.ts"), source);
    const compilerOptions = {
      module: "NodeNext",
      moduleResolution: "NodeNext",
      target: "ES2023",
      strict: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(workspaceRoot, "node_modules", "@types")],
    };
    writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["check.ts"] }));
    const tsc = join(workspaceRoot, "node_modules", "typescript", "bin", "tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", consumer], { cwd: consumer, encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it.each(packageDirs.flatMap((dir) => Object.keys(manifest(dir).bin ?? {}).map((bin) => [bin, dir] as const)))(
    "runs the installed %s bin of %s",
    (bin, dir) => {
      const out = execFileSync(join(consumer, "node_modules", ".bin", bin), ["--version"], { encoding: "utf8" });
      expect(out).toContain(manifest(dir).version);
    },
  );
});
