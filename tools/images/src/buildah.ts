// buildah over a storage of tools/images' own (vfs driver, under $TOPOLVM_CACHE/images/containers), so loading and
// running images needs no daemon and touches no other containers on the machine.
import { execFile } from "node:child_process";
import { join } from "node:path";

/** The storage options every buildah call of tools/images passes. */
export function storageArgs(imagesCache: string): string[] {
  const storage = join(imagesCache, "containers");
  return ["--root", join(storage, "root"), "--runroot", join(storage, "runroot"), "--storage-driver", "vfs"];
}

/** What a finished command printed. */
export interface CommandOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs buildah with argv (never a shell) and resolves with its exit code and output, whatever the code. */
export function buildah(imagesCache: string, args: readonly string[], timeoutMs = 600_000): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      "buildah",
      [...storageArgs(imagesCache), ...args],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(new Error(`buildah could not run (installed by tools/ensure-deps): ${error.message}`));
          return;
        }
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** Runs buildah and resolves with its stdout; rejects naming the command and its stderr when it fails. */
export async function buildahOk(imagesCache: string, args: readonly string[], timeoutMs?: number): Promise<string> {
  const output = await buildah(imagesCache, args, timeoutMs);
  if (output.code !== 0) {
    throw new Error(`buildah ${args.join(" ")} exited ${output.code}: ${output.stderr.trim()}`);
  }
  return output.stdout;
}

/** Loads an OCI archive into the storage under the reference; dangling older builds are removed. */
export async function loadArchive(imagesCache: string, archive: string, reference: string): Promise<string> {
  const imageId = (await buildahOk(imagesCache, ["pull", "--quiet", `oci-archive:${archive}`])).trim();
  await buildahOk(imagesCache, ["tag", imageId, reference]);
  await buildahOk(imagesCache, ["rmi", "--prune"]);
  return imageId;
}
