import { createHash } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { imageConfig, layerTarArgs, writeImage, writeLayer } from "../src/oci-layout.js";

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "images-oci-"));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A small tree whose files were written at the given time. */
async function tree(name: string, mtime: Date): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, "usr", "bin"), { recursive: true });
  await writeFile(join(dir, "usr", "bin", "b"), "b\n");
  await writeFile(join(dir, "a"), "a\n");
  for (const path of ["usr/bin/b", "a", "usr/bin", "usr", "."]) {
    await utimes(join(dir, path), mtime, mtime);
  }
  return dir;
}

describe("OCI layout", () => {
  it("asks tar for sorted entries, one mtime and numeric owners, and 0:0 for a staging directory", () => {
    const args = layerTarArgs({ dir: "/stage", createdBy: "x", rootOwned: true, exclude: ["./dev/*"] }, 0);
    expect(args).toEqual(expect.arrayContaining(["--sort=name", "--mtime=@0", "--numeric-owner", "--owner=0", "--group=0", "--exclude=./dev/*"]));
    expect(args.slice(-3)).toEqual(["--directory", "/stage", "."]);
    expect(layerTarArgs({ dir: "/rootfs", createdBy: "x", rootOwned: false, exclude: [] }, 5)).not.toContain("--owner=0");
  });

  it("writes the same layer digest for the same files whenever they were written", async () => {
    const first = await writeLayer(join(work, "layout-1"), { dir: await tree("one", new Date(1_000_000)), createdBy: "t", rootOwned: true, exclude: [] }, 0);
    const second = await writeLayer(join(work, "layout-2"), { dir: await tree("two", new Date(2_000_000_000)), createdBy: "t", rootOwned: true, exclude: [] }, 0);
    expect(second.descriptor.digest).toBe(first.descriptor.digest);
    expect(second.diffId).toBe(first.diffId);
    const blob = await readFile(join(work, "layout-1", "blobs", "sha256", first.descriptor.digest.slice(7)));
    expect(`sha256:${createHash("sha256").update(blob).digest("hex")}`).toBe(first.descriptor.digest);
    expect(`sha256:${createHash("sha256").update(gunzipSync(blob)).digest("hex")}`).toBe(first.diffId);
    expect(first.descriptor.size).toBe(blob.length);
  });

  it("records the layers' diff_ids and history in a config created at the epoch", () => {
    const layer = { descriptor: { mediaType: "m", digest: "sha256:c", size: 1 }, diffId: "sha256:u", uncompressedBytes: 2, createdBy: "rootfs" };
    const config = imageConfig({ user: "65532:65532", env: [], entrypoint: ["x"], workingDir: "/", labels: {} }, [layer], 0);
    expect(config).toMatchObject({
      created: "1970-01-01T00:00:00Z",
      architecture: "amd64",
      os: "linux",
      config: { User: "65532:65532", Entrypoint: ["x"] },
      rootfs: { type: "layers", diff_ids: ["sha256:u"] },
      history: [{ created: "1970-01-01T00:00:00Z", created_by: "rootfs" }],
    });
  });

  it("names the manifest in index.json with the reference annotations", async () => {
    const layout = join(work, "layout-image");
    const layer = await writeLayer(layout, { dir: await tree("three", new Date()), createdBy: "t", rootOwned: true, exclude: [] }, 0);
    const manifest = await writeImage(layout, { user: "0:0", env: [], entrypoint: ["x"], workingDir: "/", labels: {} }, [layer], 0, {
      "org.opencontainers.image.ref.name": "topolvm/x:1",
    });
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: manifest.digest, annotations: { "org.opencontainers.image.ref.name": "topolvm/x:1" } })]);
    expect(JSON.parse(await readFile(join(layout, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
  });
});
