// An OCI image layout written directly, without a daemon or a registry: gzip layers made by GNU tar with sorted
// entries and one fixed mtime, a config, a manifest, index.json, and the layout packed as an OCI archive. The same
// directories and the same epoch give the same bytes, so the same digest.
import { spawn } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

export const mediaTypes = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar+gzip",
} as const;

/** A content descriptor: what a manifest or an index says about a blob. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A written layer: its descriptor, the digest of the uncompressed tar (the config's diff_id) and its size. */
export interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: string;
  readonly uncompressedBytes: number;
  /** What the config's history says made it. */
  readonly createdBy: string;
}

export interface LayerSource {
  /** The directory whose contents become the layer's root. */
  readonly dir: string;
  readonly createdBy: string;
  /** Record every entry as owned by 0:0 (a staging directory); otherwise keep the numeric owners (a rootfs). */
  readonly rootOwned: boolean;
  /** Paths, relative to dir and starting with "./", whose contents are left out (e.g. "./dev/*"). */
  readonly exclude: readonly string[];
}

/** GNU tar's argv for a reproducible layer of a directory (entries sorted, one mtime, no atime/ctime, numeric ids). */
export function layerTarArgs(source: LayerSource, epochSeconds: number): string[] {
  return [
    "--create",
    "--file=-",
    "--format=gnu",
    "--sort=name",
    `--mtime=@${epochSeconds}`,
    "--numeric-owner",
    // A staging directory's modes depend on the umask it was made with: normalise them too.
    ...(source.rootOwned ? ["--owner=0", "--group=0", "--mode=u+rwX,go+rX,go-w"] : []),
    ...source.exclude.map((pattern) => `--exclude=${pattern}`),
    "--directory",
    source.dir,
    ".",
  ];
}

/** A pass-through stream that hashes and counts what flows through it. */
function digester(): { stream: Transform; hash: Hash; bytes: () => number } {
  const hash = createHash("sha256");
  let count = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      hash.update(chunk);
      count += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, hash, bytes: () => count };
}

/** Runs tar with argv, its output flowing through the streams; rejects with tar's stderr when it fails. */
async function tarThrough(args: readonly string[], streams: readonly NodeJS.WritableStream[]): Promise<void> {
  const tar = spawn("tar", args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  tar.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve, reject) => {
    tar.on("error", reject);
    tar.on("close", resolve);
  });
  await pipeline([tar.stdout, ...streams]);
  const code = await exited;
  if (code !== 0) {
    throw new Error(`tar ${args.join(" ")} exited ${String(code)}: ${stderr.trim()}`);
  }
}

/** Runs GNU tar over a directory into a gzip blob under <layout>/blobs/sha256/. */
export async function writeLayer(layoutDir: string, source: LayerSource, epochSeconds: number): Promise<Layer> {
  const blobs = join(layoutDir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const uncompressed = digester();
  const compressed = digester();
  const partial = join(blobs, `.partial-${process.pid}`);
  await tarThrough(layerTarArgs(source, epochSeconds), [
    uncompressed.stream,
    createGzip({ level: 6 }),
    compressed.stream,
    createWriteStream(partial),
  ]);
  const digest = `sha256:${compressed.hash.digest("hex")}`;
  await rename(partial, join(blobs, digest.slice("sha256:".length)));
  return {
    descriptor: { mediaType: mediaTypes.layer, digest, size: compressed.bytes() },
    diffId: `sha256:${uncompressed.hash.digest("hex")}`,
    uncompressedBytes: uncompressed.bytes(),
    createdBy: source.createdBy,
  };
}

/** Writes a JSON blob (stable key order: the objects' own) and returns its descriptor. */
export async function writeJsonBlob(layoutDir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const blobs = join(layoutDir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  await writeFile(join(blobs, digest.slice("sha256:".length)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** The runtime part of an image config. */
export interface ImageConfig {
  readonly user: string;
  readonly env: readonly string[];
  readonly entrypoint: readonly string[];
  readonly workingDir: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The OCI image config of the layers, created at the epoch. */
export function imageConfig(config: ImageConfig, layers: readonly Layer[], epochSeconds: number): object {
  const created = new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, "Z");
  return {
    created,
    architecture: "amd64",
    os: "linux",
    config: {
      User: config.user,
      Env: config.env,
      Entrypoint: config.entrypoint,
      WorkingDir: config.workingDir,
      Labels: config.labels,
    },
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((layer) => ({ created, created_by: layer.createdBy })),
  };
}

/** Writes config, manifest, index.json and oci-layout; returns the manifest's descriptor (its digest names the image). */
export async function writeImage(
  layoutDir: string,
  config: ImageConfig,
  layers: readonly Layer[],
  epochSeconds: number,
  refAnnotations: Readonly<Record<string, string>>,
): Promise<Descriptor> {
  const configDescriptor = await writeJsonBlob(layoutDir, mediaTypes.config, imageConfig(config, layers, epochSeconds));
  const manifest = await writeJsonBlob(layoutDir, mediaTypes.manifest, {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config: configDescriptor,
    layers: layers.map((layer) => layer.descriptor),
  });
  const index = { schemaVersion: 2, mediaType: mediaTypes.index, manifests: [{ ...manifest, annotations: refAnnotations }] };
  await writeFile(join(layoutDir, "index.json"), JSON.stringify(index));
  await writeFile(join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  return manifest;
}

/** Packs an OCI layout directory as an OCI archive (a tar of the layout, sorted, one mtime, owned by 0:0). */
export async function writeArchive(layoutDir: string, archive: string, epochSeconds: number): Promise<void> {
  const partial = `${archive}.partial`;
  const args = layerTarArgs({ dir: layoutDir, createdBy: "", rootOwned: true, exclude: [] }, epochSeconds);
  await tarThrough(args, [createWriteStream(partial)]);
  await rename(partial, archive);
}
