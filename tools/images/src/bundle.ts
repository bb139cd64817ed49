// The production bundle of a package: each bin of its built dist/ bundled by esbuild with its production
// dependencies (tree-shaken, nothing from devDependencies can be reached from dist/), laid out as the package is, so
// `createRequire(import.meta.url)("../../package.json")` in a bin still finds the package version.
import { cp, mkdir, readFile, writeFile, chmod } from "node:fs/promises";
import { dirname, join } from "node:path";

import { build } from "esbuild";

import { checkShebang, splitShebang } from "./shebang.js";

/** The fields of a workspace package.json the image needs. */
export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly bin: Readonly<Record<string, string>>;
}

/** Reads and checks packages/<component>/package.json. */
export async function readPackageManifest(packageDir: string): Promise<PackageManifest> {
  const parsed: unknown = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8"));
  if (typeof parsed !== "object" || parsed === null) {
    throw new Error(`${packageDir}/package.json is not an object`);
  }
  const { name, version, bin } = parsed as Record<string, unknown>;
  if (typeof name !== "string" || typeof version !== "string" || typeof bin !== "object" || bin === null) {
    throw new Error(`${packageDir}/package.json needs a name, a version and a bin map`);
  }
  const bins: Record<string, string> = {};
  for (const [binName, target] of Object.entries(bin)) {
    if (typeof target !== "string") {
      throw new Error(`${packageDir}/package.json: bin ${binName} is not a path`);
    }
    bins[binName] = target;
  }
  return { name, version, bin: bins };
}

export interface BundleOptions {
  /** packages/<component> in this checkout, already built. */
  readonly packageDir: string;
  /** Where the package goes inside the image, e.g. /opt/topolvm/lvmd. */
  readonly appDir: string;
  /** The staging root the app layer is made from: files land at <stagingRoot><appDir>/... */
  readonly stagingRoot: string;
  /** The node major the bundles are compiled for. */
  readonly nodeMajor: number;
  /** Files or directories of the package the bins read at run time. */
  readonly assets: readonly string[];
}

/** Writes the bundled bins, a minimal package.json and the assets; returns the bins' paths inside the image. */
export async function bundlePackage(options: BundleOptions): Promise<Record<string, string>> {
  const manifest = await readPackageManifest(options.packageDir);
  const appRoot = join(options.stagingRoot, options.appDir);
  const binPaths: Record<string, string> = {};
  for (const [binName, target] of Object.entries(manifest.bin)) {
    const entry = join(options.packageDir, target);
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: "node",
      format: "esm",
      target: `node${options.nodeMajor}`,
      write: false,
      outfile: join(appRoot, target),
      logLevel: "silent",
      // CommonJS dependencies call require(); an ES module bundle has none unless it makes one.
      banner: { js: 'import { createRequire as topolvmCreateRequire } from "node:module";\nconst require = topolvmCreateRequire(import.meta.url);' },
    });
    const [output] = result.outputFiles;
    if (output === undefined || result.outputFiles.length !== 1) {
      throw new Error(`esbuild wrote ${result.outputFiles.length} files for ${entry}, expected one`);
    }
    const source = splitShebang(await readFile(entry, "utf8"));
    const { body } = splitShebang(output.text);
    const file = join(appRoot, target);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${checkShebang(source.shebang, entry)}\n${body}`);
    await chmod(file, 0o755);
    binPaths[binName] = join(options.appDir, target);
  }
  const packageJson = { name: manifest.name, version: manifest.version, type: "module", private: true };
  await writeFile(join(appRoot, "package.json"), `${JSON.stringify(packageJson, null, 2)}\n`);
  for (const asset of options.assets) {
    await cp(join(options.packageDir, asset), join(appRoot, asset), { recursive: true });
  }
  return binPaths;
}

