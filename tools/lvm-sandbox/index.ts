import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

import { onPath } from "../paths.js";

// Test helper over the `sandbox` script next to this file: loop-file-backed volume groups under a private
// LVM_SYSTEM_DIR that sees only its own loop devices. See tools/lvm-sandbox/README.md.

const execFileAsync = promisify(execFile);
const script = join(import.meta.dirname, "sandbox");

/** Where sandboxes without an explicit `dir` live and where every sandbox is registered for the sweep. */
export const sandboxRoot = process.env.LVM_SANDBOX_ROOT ?? "/tmp/topolvm-lvm-sandbox";

/** One volume group to create: one loop-backed physical volume per size (bytes, or "64M", "1G"...). */
export interface SandboxVolumeGroupSpec {
  name: string;
  sizes: readonly (number | string)[];
}

export interface CreateSandboxOptions {
  /** The sandbox directory (created if missing, must be empty); default: a fresh one under `sandboxRoot`. */
  dir?: string;
  volumeGroups: readonly SandboxVolumeGroupSpec[];
  /** Let LVM activate LVs (only where the kernel has device-mapper, such as the test VM). Default false. */
  activation?: boolean;
}

export interface SandboxVolumeGroup {
  name: string;
  /** The loop devices holding this VG's physical volumes, in the order of `sizes`. */
  physicalVolumes: string[];
}

export interface Sandbox {
  dir: string;
  /** A complete environment (this process's plus LVM_SYSTEM_DIR and LVM_SUPPRESS_FD_WARNINGS) for LVM commands. */
  env: Record<string, string>;
  /** The private LVM_SYSTEM_DIR holding lvm.conf. */
  systemDir: string;
  loopDevices: string[];
  volumeGroups: SandboxVolumeGroup[];
  /** Detaches the loop devices and deletes the directory; safe to call more than once. */
  destroy(): Promise<void>;
}

const live = new Set<string>();
let exitHookInstalled = false;

// A test process that ends without its afterAll (a crash, process.exit) still releases its loop devices.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const dir of live) {
      try {
        execFileSync(script, ["destroy", dir], { stdio: "ignore" });
      } catch {
        // The next sandbox creation sweeps whatever is left.
      }
    }
  });
}

function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Creates the volume groups in a new sandbox; on any failure, tears down what was built and rethrows. */
export async function createSandbox(options: CreateSandboxOptions): Promise<Sandbox> {
  if (options.volumeGroups.length === 0) throw new Error("createSandbox: volumeGroups is empty");
  let dir = options.dir;
  if (dir === undefined) {
    mkdirSync(join(sandboxRoot, "sandboxes"), { recursive: true });
    dir = mkdtempSync(join(sandboxRoot, "sandboxes", "sb-"));
  }
  const sandboxDir = dir;
  installExitHook();
  live.add(sandboxDir);
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= execFileAsync(script, ["destroy", sandboxDir]).then(
      () => {
        live.delete(sandboxDir);
      },
      (error: unknown) => {
        destroyed = undefined;
        throw error;
      },
    );
    return destroyed;
  };
  try {
    const volumeGroups: SandboxVolumeGroup[] = [];
    for (const vg of options.volumeGroups) {
      if (vg.sizes.length === 0) throw new Error(`createSandbox: volume group ${vg.name} has no sizes`);
      const flags = ["--owner", String(process.pid), ...(options.activation === true ? ["--activation"] : [])];
      const { stdout } = await execFileAsync(script, ["create", ...flags, sandboxDir, vg.name, ...vg.sizes.map(String)]);
      volumeGroups.push({ name: vg.name, physicalVolumes: stdout.trim().split("\n") });
    }
    const systemDir = join(sandboxDir, "etc");
    return {
      dir: sandboxDir,
      env: { ...inheritedEnv(), LVM_SYSTEM_DIR: systemDir, LVM_SUPPRESS_FD_WARNINGS: "1" },
      systemDir,
      loopDevices: volumeGroups.flatMap((vg) => vg.physicalVolumes),
      volumeGroups,
      destroy,
    };
  } catch (error) {
    // The creation error says what went wrong; a failing cleanup is left to the sweep.
    await destroy().catch(() => undefined);
    throw error;
  }
}

/** Destroys the registered sandboxes whose owner process has exited. */
export async function sweepSandboxes(): Promise<void> {
  await execFileAsync(script, ["sweep"]);
}

/**
 * Why sandboxes cannot be created on this machine, or undefined when they can. Tests skip on a reason only
 * outside CI; under CI=true they must run (and fail) instead.
 */
export function sandboxUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return "LVM sandboxes need root (losetup, pvcreate)";
  if (!existsSync("/dev/loop-control")) return "no loop device support (/dev/loop-control is missing)";
  for (const command of ["lvm", "losetup", "flock"]) {
    if (!onPath(command, ["/usr/sbin", "/sbin"])) return `${command} is not installed (run tools/ensure-deps)`;
  }
  return undefined;
}
