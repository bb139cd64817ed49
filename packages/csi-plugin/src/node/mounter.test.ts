import { describe, expect, it } from "vitest";
import {
  CommandError,
  createMounter,
  execFileRunner,
  FilesystemMismatchError,
  formatArgv,
  growArgv,
  mountFlagsProblem,
  mountOptions,
  parseBlkidExport,
  type Argv,
  type CommandResult,
  type CommandRunner,
} from "./mounter.js";

/** A runner that records every command line and answers from a script keyed by the program name. */
function recordingRunner(answers: Readonly<Record<string, Partial<CommandResult> | ((argv: Argv) => Promise<CommandResult>)>> = {}) {
  const calls: string[] = [];
  const timeouts: number[] = [];
  const run: CommandRunner = async (argv, options) => {
    calls.push(argv.join(" "));
    timeouts.push(options.timeoutMs);
    const answer = answers[argv[0]];
    if (typeof answer === "function") {
      return answer(argv);
    }
    return { exitCode: 0, stdout: "", stderr: "", ...answer };
  };
  return { run, calls, timeouts };
}

const signal = new AbortController().signal;
const noFilesystem = { blkid: { exitCode: 2 } };

describe("the pure parts", () => {
  it("reads TYPE from blkid's export output", () => {
    expect(parseBlkidExport("DEVNAME=/dev/x\nUUID=1234\nTYPE=xfs\nUSAGE=filesystem\n")).toBe("xfs");
    expect(parseBlkidExport("DEVNAME=/dev/x\n")).toBeUndefined();
  });

  it("formats ext4 with no reserved blocks, and xfs and btrfs forced", () => {
    expect(formatArgv("ext4", "/d")).toEqual(["mkfs.ext4", "-F", "-m0", "/d"]);
    expect(formatArgv("xfs", "/d")).toEqual(["mkfs.xfs", "-f", "/d"]);
    expect(formatArgv("btrfs", "/d")).toEqual(["mkfs.btrfs", "-f", "/d"]);
  });

  it("grows ext4 by its device and xfs and btrfs by their mount point", () => {
    expect(growArgv("ext4", "/d", "/m")).toEqual(["resize2fs", "/d"]);
    expect(growArgv("xfs", "/d", "/m")).toEqual(["xfs_growfs", "/m"]);
    expect(growArgv("btrfs", "/d", "/m")).toEqual(["btrfs", "filesystem", "resize", "max", "/m"]);
  });

  it("puts ro first, keeps the capability's flags in order and adds nouuid for xfs only", () => {
    expect(mountOptions("ext4", false, [])).toEqual([]);
    expect(mountOptions("ext4", true, ["noatime", "discard"])).toEqual(["ro", "noatime", "discard"]);
    expect(mountOptions("xfs", false, ["noatime"])).toEqual(["noatime", "nouuid"]);
    expect(mountOptions("xfs", true, ["nouuid", "ro"])).toEqual(["ro", "nouuid"]);
    expect(mountOptions("btrfs", false, ["compress=zstd"])).toEqual(["compress=zstd"]);
  });

  it("refuses rw on a read-only publish, empty flags and mount operations, naming the flag", () => {
    expect(mountFlagsProblem(["noatime", "rw"], false)).toBeUndefined();
    expect(mountFlagsProblem(["noatime", "rw"], true)).toBe('mount_flags[1]: "rw" contradicts the read-only publish');
    expect(mountFlagsProblem([""], false)).toBe('mount_flags[0]: "" is not a mount option');
    expect(mountFlagsProblem(["remount"], false)).toMatch(/^mount_flags\[0\]: "remount" is an operation/);
  });
});

describe("createMounter", () => {
  it("wipes every signature and then formats a device that holds no filesystem", async () => {
    const runner = recordingRunner(noFilesystem);
    expect(await createMounter(runner.run).ensureFilesystem("/dev/topolvm/v1", "xfs", signal)).toBe(true);
    expect(runner.calls).toEqual(["blkid -p -u filesystem -o export /dev/topolvm/v1", "wipefs -a /dev/topolvm/v1", "mkfs.xfs -f /dev/topolvm/v1"]);
    expect(runner.timeouts).toEqual([30_000, 30_000, 300_000]);
  });

  it("leaves a device alone that holds the filesystem asked for", async () => {
    const runner = recordingRunner({ blkid: { stdout: "DEVNAME=/dev/topolvm/v1\nTYPE=ext4\n" } });
    expect(await createMounter(runner.run).ensureFilesystem("/dev/topolvm/v1", "ext4", signal)).toBe(false);
    expect(runner.calls).toHaveLength(1);
  });

  it("refuses to reformat a device that holds another filesystem, naming both", async () => {
    const runner = recordingRunner({ blkid: { stdout: "TYPE=xfs\n" } });
    const failure = createMounter(runner.run).ensureFilesystem("/dev/topolvm/v1", "ext4", signal);
    await expect(failure).rejects.toBeInstanceOf(FilesystemMismatchError);
    await expect(failure).rejects.toThrow("/dev/topolvm/v1 already holds a xfs filesystem, but ext4 was asked for");
    expect(runner.calls).toHaveLength(1);
  });

  it("refuses to guess when blkid finds several filesystems, and fails on other blkid errors with their stderr", async () => {
    const ambivalent = recordingRunner({ blkid: { exitCode: 8, stderr: "ambivalent result" } });
    await expect(createMounter(ambivalent.run).ensureFilesystem("/d", "ext4", signal)).rejects.toThrow(/more than one filesystem.*ambivalent result/);
    expect(ambivalent.calls).toHaveLength(1);
    const broken = recordingRunner({ blkid: { exitCode: 4, stderr: "cannot open /d" } });
    await expect(createMounter(broken.run).detectFilesystem("/d", signal)).rejects.toThrow("blkid -p -u filesystem -o export /d exited with status 4: cannot open /d");
  });

  it("wipes again when mkfs fails, and reports mkfs' stderr", async () => {
    const runner = recordingRunner({ ...noFilesystem, "mkfs.ext4": { exitCode: 1, stderr: "No space left on device" } });
    const failure = createMounter(runner.run).ensureFilesystem("/d", "ext4", signal);
    await expect(failure).rejects.toBeInstanceOf(CommandError);
    await expect(failure).rejects.toThrow("mkfs.ext4 -F -m0 /d exited with status 1: No space left on device");
    expect(runner.calls).toEqual(["blkid -p -u filesystem -o export /d", "wipefs -a /d", "mkfs.ext4 -F -m0 /d", "wipefs -a /d"]);
  });

  it("does not format when wipefs fails", async () => {
    const runner = recordingRunner({ ...noFilesystem, wipefs: { exitCode: 1, stderr: "probing initialization failed: Device or resource busy" } });
    await expect(createMounter(runner.run).ensureFilesystem("/d", "btrfs", signal)).rejects.toThrow("wipefs -a /d exited with status 1: probing initialization failed");
    expect(runner.calls.some((call) => call.startsWith("mkfs"))).toBe(false);
  });

  it("mounts with -t and the options, bind-mounts block devices, unmounts, grows and makes device nodes by argv", async () => {
    const runner = recordingRunner();
    const mounter = createMounter(runner.run, { commandMs: 1000, formatMs: 2000 });
    await mounter.mount("/dev/topolvm/v1", "/t/a b", "xfs", ["ro", "nouuid"], signal);
    await mounter.mount("/dev/topolvm/v1", "/t", "ext4", [], signal);
    await mounter.bindMount("/dev/topolvm/v1", "/t/block", true, signal);
    await mounter.bindMount("/dev/topolvm/v1", "/t/block", false, signal);
    await mounter.unmount("/t", signal);
    await mounter.grow("btrfs", "/dev/topolvm/v1", "/t", signal);
    await mounter.makeDeviceNode("/dev/topolvm/v1", { major: 253, minor: 7 }, signal);
    expect(runner.calls).toEqual([
      "mount -t xfs -o ro,nouuid /dev/topolvm/v1 /t/a b",
      "mount -t ext4 /dev/topolvm/v1 /t",
      "mount -o bind,ro /dev/topolvm/v1 /t/block",
      "mount -o bind /dev/topolvm/v1 /t/block",
      "umount /t",
      "btrfs filesystem resize max /t",
      "mknod -m 0600 /dev/topolvm/v1 b 253 7",
    ]);
    expect(runner.timeouts).toEqual([1000, 1000, 1000, 1000, 1000, 2000, 1000]);
  });

  it("fails a mount with mount's stderr in the error", async () => {
    const runner = recordingRunner({ mount: { exitCode: 32, stderr: "mount: /t: wrong fs type, bad option, bad superblock\n" } });
    await expect(createMounter(runner.run).mount("/d", "/t", "ext4", [], signal)).rejects.toThrow(
      "mount -t ext4 /d /t exited with status 32: mount: /t: wrong fs type, bad option, bad superblock",
    );
  });
});

describe("execFileRunner", () => {
  const options = { timeoutMs: 10_000, signal };

  it("returns the exit status, stdout and stderr of a command, run without a shell", async () => {
    expect(await execFileRunner(["node", "-e", "process.stdout.write('out $HOME'); process.stderr.write('err'); process.exit(3)"], options)).toEqual({
      exitCode: 3,
      stdout: "out $HOME",
      stderr: "err",
    });
    expect(await execFileRunner(["echo", "a;", "$(id)"], options)).toEqual({ exitCode: 0, stdout: "a; $(id)\n", stderr: "" });
  });

  it("kills a command at its timeout", async () => {
    const started = Date.now();
    const failure = execFileRunner(["sleep", "10"], { timeoutMs: 100, signal });
    await expect(failure).rejects.toMatchObject({ failure: "timeout", message: "sleep 10 timed out and was killed" });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("kills a command when the call's signal aborts", async () => {
    const controller = new AbortController();
    const failure = execFileRunner(["sleep", "10"], { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => {
      controller.abort();
    }, 50);
    await expect(failure).rejects.toMatchObject({ failure: "aborted" });
  });

  it("reports a program that does not exist", async () => {
    await expect(execFileRunner(["/nonexistent/mkfs.ext4", "/d"], options)).rejects.toMatchObject({ failure: "spawn", message: expect.stringMatching(/could not be started: .*ENOENT/) as unknown });
  });
});
