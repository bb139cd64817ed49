import * as grpc from "@grpc/grpc-js";
import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import net from "node:net";
import { dirname } from "node:path";

// How long a connection attempt to an existing socket may take before it counts as stale.
const probeTimeoutMs = 1000;

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (alive: boolean): void => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(probeTimeoutMs, () => {
      done(false);
    });
    socket.once("connect", () => {
      done(true);
    });
    socket.once("error", () => {
      done(false);
    });
  });
}

/**
 * Makes `path` free for a new listening socket: creates its directory, and removes a socket file left behind by a
 * process that is gone. Refuses to remove a socket someone still answers on, or a file that is not a socket.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return;
    }
    throw err;
  }
  if (!stats.isSocket()) {
    throw new Error(`socket path ${path} exists and is not a socket; not removing it`);
  }
  if (await answers(path)) {
    throw new Error(`socket ${path} is in use: another process answers on it (a second instance of this server?)`);
  }
  await unlink(path);
}

/**
 * Binds a gRPC server to a unix socket at `path` (made free with prepareSocketPath) that only its owner can reach:
 * the socket is created under umask 177, so it is never open to others, not even between bind and chmod 0600.
 */
export async function bindUnixSocket(server: grpc.Server, path: string): Promise<void> {
  await prepareSocketPath(path);
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (error) => {
        if (error === null) {
          resolve();
        } else {
          reject(error);
        }
      });
    });
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
}
