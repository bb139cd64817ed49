import { describe, expect, it } from "vitest";
import { deviceNumber, isMountOf, isReadOnly, mountAt, parseMountInfo } from "./mount-table.js";

const mountinfo = [
  "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw",
  "30 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw,errors=remount-ro",
  "99 30 253:7 / /var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc\\0401/mount rw,relatime shared:50 - ext4 /dev/topolvm/v1 rw",
  "100 30 0:45 / /mnt/btrfs ro,relatime - btrfs /dev/topolvm/v2 ro,space_cache=v2,subvolid=5,subvol=/",
  "101 30 0:5 /topolvm/v3 /var/lib/kubelet/plugins/block/v3 rw,nosuid master:2 - devtmpfs udev rw,size=4096k",
  "102 99 253:8 / /var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc\\0401/mount ro,relatime - xfs /dev/topolvm/v4 ro,nouuid",
  "",
].join("\n");

describe("parseMountInfo", () => {
  it("reads every field, the optional ones skipped, paths unescaped", () => {
    const entries = parseMountInfo(mountinfo);
    expect(entries).toHaveLength(6);
    expect(entries[2]).toEqual({
      mountId: 99,
      parentId: 30,
      major: 253,
      minor: 7,
      root: "/",
      mountPoint: "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc 1/mount",
      options: ["rw", "relatime"],
      fsType: "ext4",
      source: "/dev/topolvm/v1",
      superOptions: ["rw"],
    });
    expect(entries[4]).toMatchObject({ root: "/topolvm/v3", fsType: "devtmpfs", source: "udev", major: 0, minor: 5 });
  });

  it("fails on a line it cannot read rather than miss a mount", () => {
    expect(() => parseMountInfo("22 1 0:21 / /proc rw\n")).toThrow("cannot read mountinfo line");
    expect(() => parseMountInfo("22 1 zero / /proc rw - proc proc rw\n")).toThrow("cannot read mountinfo line");
  });
});

describe("mountAt", () => {
  it("finds the mount on top of a mount point and tells read-only mounts apart", () => {
    const entries = parseMountInfo(mountinfo);
    const top = mountAt(entries, "/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/pvc 1/mount");
    expect(top?.mountId).toBe(102);
    expect(top !== undefined && isReadOnly(top)).toBe(true);
    const root = mountAt(entries, "/");
    expect(root !== undefined && isReadOnly(root)).toBe(false);
    expect(mountAt(entries, "/var/lib/kubelet")).toBeUndefined();
  });
});

describe("isMountOf", () => {
  it("matches ext4 and xfs by the device number they report", async () => {
    const [, , ext4] = parseMountInfo(mountinfo);
    expect(ext4 !== undefined && (await isMountOf(ext4, { major: 253, minor: 7 }))).toBe(true);
    expect(ext4 !== undefined && (await isMountOf(ext4, { major: 253, minor: 8 }))).toBe(false);
  });

  it("looks at the source of a filesystem with an anonymous device (btrfs): no block device there, no match", async () => {
    const [, , , btrfs, devtmpfs] = parseMountInfo(mountinfo);
    expect(btrfs !== undefined && (await isMountOf(btrfs, { major: 0, minor: 45 }))).toBe(false);
    expect(devtmpfs !== undefined && (await isMountOf(devtmpfs, { major: 0, minor: 5 }))).toBe(false);
  });
});

describe("deviceNumber", () => {
  it("decodes glibc's dev_t, small and large numbers", () => {
    expect(deviceNumber((253n << 8n) | 7n)).toEqual({ major: 253, minor: 7 });
    // major 4095 + 1, minor 256 + 1: the high bits sit above bit 32 and bit 20.
    const major = 4096n;
    const minor = 257n;
    const rdev = (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
    expect(deviceNumber(rdev)).toEqual({ major: 4096, minor: 257 });
  });
});
