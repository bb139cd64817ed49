// kubectl (built by tools/ensure-deps) for the chart's checks: `kubectl kustomize` of deploy/manifests and
// server-side applies of rendered objects, with YAML on stdin.
import { spawn } from "node:child_process";

import { binaryPath } from "../../cluster/src/binaries.js";

/** What kubectl printed when it failed. */
export class KubectlError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`kubectl ${args.join(" ")} exited ${String(code)}: ${stderr.trim()}`);
    this.name = "KubectlError";
  }
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `-f -`). */
  input?: string;
  /** --kubeconfig of the cluster to talk to. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** Runs kubectl with argv (never a shell); resolves with its stdout, rejects with a KubectlError. */
export function kubectl(args: readonly string[], options: KubectlOptions = {}): Promise<string> {
  const argv = [...(options.kubeconfig === undefined ? [] : [`--kubeconfig=${options.kubeconfig}`]), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(binaryPath("kubectl"), argv, { stdio: ["pipe", "pipe", "pipe"], timeout: options.timeoutMs ?? 120_000 });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) {
        resolve(Buffer.concat(stdout).toString());
      } else {
        reject(new KubectlError(args, code, Buffer.concat(stderr).toString()));
      }
    });
    child.stdin.end(options.input ?? "");
  });
}
