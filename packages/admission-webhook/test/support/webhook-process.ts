import { type ChildProcess, spawn } from "node:child_process";
import { type Agent, request } from "node:https";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { TLSSocket } from "node:tls";

/** The built bin; the integration target builds the package first. */
export const webhookBin = fileURLToPath(new URL("../../dist/bin/topolvm-webhook.js", import.meta.url));

/** One pino JSON log line. */
export type LogLine = Readonly<Record<string, unknown>> & { readonly msg?: string };

/** A topolvm-webhook child process and what it logged. */
export interface WebhookProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly metricsPort: number;
  readonly logs: readonly LogLine[];
  /** Resolves with the first log line (already seen or coming) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends the signal unless the process has exited, and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the bin to completion (for start-up failures): exit code, JSON logs and stderr. */
export function runWebhookToExit(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; logs: LogLine[]; stderr: string }> {
  const child = spawn(process.execPath, [webhookBin, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (line) => logs.push(JSON.parse(line) as LogLine));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("exit", (code) => { resolve({ code, logs, stderr }); }));
}

/** Starts the bin and waits for its "listening" line. */
export async function startWebhookProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<WebhookProcess> {
  const child = spawn(process.execPath, [webhookBin, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      exitCode = code;
      for (const wake of waiters) wake();
      resolve(code);
    }),
  );
  createInterface({ input: child.stdout }).on("line", (line) => {
    logs.push(JSON.parse(line) as LogLine);
    for (const wake of waiters) wake();
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (exitCode !== undefined) {
          finish();
          reject(new Error(`topolvm-webhook exited (${exitCode}) first; stderr: ${stderr}; logs: ${JSON.stringify(logs)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching log line within ${timeoutMs} ms; logs: ${JSON.stringify(logs)}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const listening = await waitForLog((line) => line.msg === "listening");
  return {
    child,
    port: listening.port as number,
    metricsPort: listening.metricsPort as number,
    logs,
    waitForLog,
    exited,
    async stop(signal = "SIGTERM") {
      if (exitCode === undefined) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Writes files into dir the way kubelet updates a Secret volume: a new timestamped directory, a `..data_tmp` symlink
 * to it renamed over `..data`, and top-level symlinks through `..data`.
 */
export function writeSecretVolume(dir: string, generation: number, files: Readonly<Record<string, Buffer | string>>): void {
  const versioned = `..gen_${generation}`;
  mkdirSync(join(dir, versioned), { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, versioned, name), content);
  }
  rmSync(join(dir, "..data_tmp"), { force: true });
  symlinkSync(versioned, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) {
      symlinkSync(join("..data", name), join(dir, name));
    }
  }
}

/** One HTTPS request on a fresh TLS connection, trusting only ca; returns the served certificate's fingerprint too. */
export function httpsRequest(options: {
  readonly port: number;
  readonly path: string;
  readonly ca: Buffer;
  readonly method?: string;
  readonly body?: string;
  readonly contentType?: string;
  /** Default: a new connection for this request alone. */
  readonly agent?: Agent;
}): Promise<{ status: number; body: string; fingerprint256: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: options.port,
        path: options.path,
        method: options.method ?? "POST",
        ca: options.ca,
        agent: options.agent ?? false,
        headers: { "Content-Type": options.contentType ?? "application/json" },
      },
      (res) => {
        const socket = res.socket;
        if (!(socket instanceof TLSSocket)) {
          reject(new Error("the response did not come over TLS"));
          return;
        }
        const fingerprint256 = socket.getPeerCertificate().fingerprint256;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => { resolve({ status: res.statusCode ?? 0, body, fingerprint256, localPort: socket.localPort ?? 0 }); });
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
