// Every component's image as issue 21 asks for it: built by its Nx container target on this machine, loaded into
// buildah's storage under the chart's default reference, its bins answering --version and --help inside it (buildah
// run, chroot isolation), the tools each component calls present, the same digest when built again, within its size
// target. A missing buildah, rootfs or runtime fails these tests (tools/ensure-deps installs them); none is skipped.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { renderChart, type RenderedObject } from "../../chart/src/helm.js";
import { cacheDir } from "../../paths.js";
import { buildah, buildahOk } from "../src/buildah.js";
import { buildImage, imageNodeVersion, type BuildRecord } from "../src/build-image.js";
import { readPackageManifest, type PackageManifest } from "../src/bundle.js";
import { components, type Component } from "../src/components.js";
import { defaultRepository } from "../src/reference.js";
import { formatBytes } from "../src/sizes.js";

const workspaceRoot = resolve(import.meta.dirname, "..", "..", "..");
const imagesCache = join(cacheDir(), "images");
const outDir = join(workspaceRoot, "dist", "images");

interface Built {
  readonly component: Component;
  readonly manifest: PackageManifest;
  readonly record: BuildRecord;
  /** A buildah working container of the image, removed after the tests. */
  readonly container: string;
}

const built = new Map<string, Built>();
let rebuildDir: string | undefined;

function run(file: string, args: readonly string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    execFile(file, [...args], { cwd: workspaceRoot, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolvePromise({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, output: `${stdout}${stderr}` });
    });
  });
}

/** Runs argv inside a component's working container as the image's user. */
function runInside(name: string, argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const entry = built.get(name);
  if (entry === undefined) {
    throw new Error(`${name} was not built`);
  }
  return buildah(imagesCache, ["run", "--isolation", "chroot", entry.container, "--", ...argv], 120_000);
}

beforeAll(async () => {
  // The targets exactly as CI and operators run them: each builds its package first.
  const nx = await run(
    process.execPath,
    [join(workspaceRoot, "node_modules", "nx", "dist", "bin", "nx.js"), "run-many", "-t", "container", "--parallel=1", "--output-style=static"],
    540_000,
  );
  if (nx.code !== 0) {
    throw new Error(`nx run-many -t container exited ${nx.code}:\n${nx.output}`);
  }
  for (const component of components) {
    const manifest = await readPackageManifest(join(workspaceRoot, "packages", component.name));
    const record = JSON.parse(await readFile(join(outDir, `${component.name}-${manifest.version}.json`), "utf8")) as BuildRecord;
    const container = (await buildahOk(imagesCache, ["from", "--pull-never", "--quiet", record.qualifiedReference])).trim();
    built.set(component.name, { component, manifest, record, container });
  }
}, 600_000);

afterAll(async () => {
  for (const { container } of built.values()) {
    await buildah(imagesCache, ["rm", container]);
  }
  if (rebuildDir !== undefined) {
    await rm(rebuildDir, { recursive: true, force: true });
  }
});

describe.each(components.map((component) => [component.name, component] as const))("the %s image", (name, component) => {
  function entry(): Built {
    const found = built.get(name);
    if (found === undefined) {
      throw new Error(`${name} was not built`);
    }
    return found;
  }

  it("is tagged <repository>/<component>:<version> in buildah's storage, with the archive's digest", async () => {
    const { record, manifest } = entry();
    expect(record.reference).toBe(`${defaultRepository}/${name}:${manifest.version}`);
    expect(record.archive).toBe(join(outDir, `${name}-${manifest.version}.oci.tar`));
    const inspected = JSON.parse(await buildahOk(imagesCache, ["inspect", "--type", "image", record.qualifiedReference])) as { FromImageDigest: string };
    expect(inspected.FromImageDigest).toBe(record.digest);
  });

  it("carries the Node.js LTS runtime of tools/images/node-version and runs as its component allows", async () => {
    const uid = await runInside(name, ["node", "-p", 'process.version + " " + process.getuid()']);
    expect(uid.stderr).toBe("");
    expect(uid.stdout.trim()).toBe(`v${await imageNodeVersion(workspaceRoot)} ${component.user.split(":")[0] ?? ""}`);
  });

  it("runs its entrypoint and every bin with --version and --help", async () => {
    const { manifest, container } = entry();
    const config = JSON.parse(await buildahOk(imagesCache, ["inspect", "--type", "container", container])) as { OCIv1: { config: { Entrypoint: string[] } } };
    expect(config.OCIv1.config.Entrypoint).toEqual([component.entrypoint]);
    expect(Object.keys(manifest.bin)).toContain(component.entrypoint);
    for (const bin of Object.keys(manifest.bin)) {
      const version = await runInside(name, [bin, "--version"]);
      expect({ bin, ...version }).toEqual({ bin, code: 0, stdout: `${bin} ${manifest.version}\n`, stderr: "" });
      const help = await runInside(name, [bin, "--help"]);
      expect({ bin, code: help.code }).toEqual({ bin, code: 0 });
      expect(help.stdout).toMatch(/usage/i);
    }
  });

  if (component.toolChecks.length > 0) {
    it("holds the tools the component calls", async () => {
      for (const argv of component.toolChecks) {
        const result = await runInside(name, argv);
        expect({ argv, code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual({ argv, code: 0, stderr: "" });
      }
    });
  } else {
    it("holds no shell, package manager or storage tools beside node and env", async () => {
      const extras = ["/bin/sh", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dpkg", "/usr/bin/apt", "/usr/sbin/lvm", "/usr/bin/mount", "/usr/sbin/mkfs.ext4"];
      const present = await runInside(name, ["node", "-p", `${JSON.stringify(extras)}.filter((path) => require("node:fs").existsSync(path)).join(" ")`]);
      expect(present).toEqual({ code: 0, stdout: "\n", stderr: "" });
      const bins = await runInside(name, ["node", "-p", 'require("node:fs").readdirSync("/usr/bin").join(" ")']);
      expect(bins.stdout.trim()).toBe("env");
    });
  }

  it("is within its size target", () => {
    const { record } = entry();
    process.stdout.write(
      `${record.reference}: ${formatBytes(record.compressedBytes)} compressed (target ${formatBytes(component.maxCompressedBytes)}), ${formatBytes(record.uncompressedBytes)} unpacked, ${record.digest}\n`,
    );
    expect(record.compressedBytes).toBeLessThanOrEqual(component.maxCompressedBytes);
  });
});

describe("image builds", () => {
  it("give the same digest when built again", async () => {
    const dir = await mkdtemp(join(outDir, ".rebuild-"));
    rebuildDir = dir;
    const rebuild = (component: Component) =>
      buildImage({ component, workspaceRoot, imagesCache, outDir: dir, repository: defaultRepository, epochSeconds: 0, load: false });
    for (const [name, { component, record }] of built) {
      const again = await rebuild(component);
      if (again.digest === record.digest) {
        continue;
      }
      // Someone else's build in a shared working tree may have rewritten the package's dist/ since the target ran:
      // then the rootfs and Node.js layers still match, and two builds from the same dist/ must match each other.
      expect({ name, layers: again.layers.slice(0, 2) }).toEqual({ name, layers: record.layers.slice(0, 2) });
      expect({ name, digest: (await rebuild(component)).digest }).toEqual({ name, digest: again.digest });
    }
  }, 600_000);

  it("make exactly the images the chart's defaults name, each container's command a bin of its image that starts as the chart's user", async () => {
    const objects = await renderChart();
    const containers = objects.flatMap((object) => podContainers(object));
    const ours = containers.filter(({ image }) => image.startsWith(`${defaultRepository}/`));
    expect(ours.length).toBeGreaterThan(0);
    const byReference = new Map([...built.values()].map((entry) => [entry.record.reference, entry] as const));
    for (const { image, command } of ours) {
      const entry = byReference.get(image);
      expect({ image, tagged: entry !== undefined }).toEqual({ image, tagged: true });
      expect({ image, bin: Object.keys(entry?.manifest.bin ?? {}).includes(command[0] ?? "") }).toEqual({ image, bin: true });
    }
    expect(new Set(ours.map(({ image }) => image))).toEqual(new Set(byReference.keys()));
    // The chart runs some of them as its own non-root user (securityContext.runAsUser): the bins must start so.
    for (const { image, command, user } of ours.filter((container) => container.user !== undefined)) {
      const entry = byReference.get(image);
      const result = await buildah(imagesCache, ["run", "--isolation", "chroot", "--user", user ?? "", entry?.container ?? "", "--", command[0] ?? "", "--version"]);
      expect({ image, user, code: result.code, stderr: result.stderr }).toEqual({ image, user, code: 0, stderr: "" });
    }
  }, 120_000);
});

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
}

/** The containers and init containers of a rendered workload: image, command and the uid:gid the chart runs it as. */
function podContainers(object: RenderedObject): { image: string; command: string[]; user: string | undefined }[] {
  const spec = (object as { spec?: { template?: { spec?: { containers?: unknown[]; initContainers?: unknown[]; securityContext?: SecurityContext } } } })
    .spec?.template?.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((container) => {
    const { image, command, securityContext } = container as { image: string; command?: string[]; securityContext?: SecurityContext };
    const uid = securityContext?.runAsUser ?? spec?.securityContext?.runAsUser;
    const gid = securityContext?.runAsGroup ?? spec?.securityContext?.runAsGroup ?? uid;
    return { image, command: command ?? [], user: uid === undefined ? undefined : `${uid}:${gid ?? uid}` };
  });
}
