import { execFileSync } from "node:child_process";
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

  it.each(packageDirs)("installs and imports @topolvm/%s from its tarball", (dir) => {
    const { name } = manifest(dir);
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", `const m = await import(${JSON.stringify(name)}); console.log(typeof m);`], {
      cwd: consumer,
      encoding: "utf8",
    });
    expect(out.trim()).toBe("object");
  });

  it.each(packageDirs.flatMap((dir) => Object.keys(manifest(dir).bin ?? {}).map((bin) => [bin, dir] as const)))(
    "runs the installed %s bin of %s",
    (bin, dir) => {
      const out = execFileSync(join(consumer, "node_modules", ".bin", bin), ["--version"], { encoding: "utf8" });
      expect(out).toContain(manifest(dir).version);
    },
  );
});
