import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDeviceNodes, DEFAULT_DEVICE_DIR } from "./device-node.js";
import type { Mounter } from "./mounter.js";

const root = mkdtempSync(join(tmpdir(), "device-node-"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
const signal = new AbortController().signal;

/** A mknod that records its calls and makes a regular file (making real block nodes needs root). */
function fakeMknod() {
  const calls: string[] = [];
  const mounter: Pick<Mounter, "makeDeviceNode"> = {
    makeDeviceNode(path, device) {
      calls.push(`${path} ${device.major}:${device.minor}`);
      writeFileSync(path, "node");
      return Promise.resolve();
    },
  };
  return { mounter, calls };
}

describe("createDeviceNodes", () => {
  it("defaults to /dev/topolvm, a filesystem that allows device nodes", () => {
    expect(DEFAULT_DEVICE_DIR).toBe("/dev/topolvm");
  });

  it("creates its private directory (0700) and the volume's node with the LV's numbers", async () => {
    const dir = join(root, "a", "topolvm");
    const { mounter, calls } = fakeMknod();
    const nodes = createDeviceNodes(dir, mounter);
    expect(await nodes.ensure("pvc-1", { major: 253, minor: 12 }, signal)).toBe(join(dir, "pvc-1"));
    expect(calls).toEqual([`${join(dir, "pvc-1")} 253:12`]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("replaces whatever is at the path when it is not the LV's block device", async () => {
    const dir = join(root, "b");
    const { mounter, calls } = fakeMknod();
    const nodes = createDeviceNodes(dir, mounter);
    await nodes.ensure("pvc-1", { major: 253, minor: 1 }, signal);
    writeFileSync(join(dir, "pvc-1"), "stale");
    await nodes.ensure("pvc-1", { major: 253, minor: 1 }, signal);
    expect(calls).toHaveLength(2);
    expect(readFileSync(join(dir, "pvc-1"), "utf8")).toBe("node");
  });

  it("removes a node, and a missing one is fine", async () => {
    const dir = join(root, "c");
    const { mounter } = fakeMknod();
    const nodes = createDeviceNodes(dir, mounter);
    await nodes.ensure("pvc-1", { major: 253, minor: 1 }, signal);
    await nodes.remove("pvc-1");
    expect(existsSync(nodes.pathOf("pvc-1"))).toBe(false);
    await expect(nodes.remove("pvc-1")).resolves.toBeUndefined();
  });
});
