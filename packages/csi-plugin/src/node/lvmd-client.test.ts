import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { createGrpcServer, Health, registration, ServingStatus, unixSocketTransport } from "@topolvm/lvmd";
import { lvmd } from "@topolvm/proto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createLvmdClient, isTransientLvmdError, toLvmdError } from "./lvmd-client.js";

const logger = pino({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), "lvmd-client-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let servers: grpc.Server[] = [];
afterEach(() => {
  for (const server of servers) {
    server.forceShutdown();
  }
  servers = [];
});

/** A stand-in lvmd on a unix socket: one LV "a" of 1 GiB, CreateLV always out of space, Watch sends two messages and stays open. */
async function serve(socketPath: string): Promise<grpc.Server> {
  const shutdown = new AbortController();
  const { server } = createGrpcServer(
    [
      registration(lvmd.LVService, {
        createLV: () => {
          throw new ConnectError("no enough space left on VG: free=0, requested=1", Code.ResourceExhausted);
        },
        removeLV: () => ({}),
        resizeLV: (request) => ({ sizeBytes: request.sizeBytes + 4096n }),
        createLVSnapshot: () => {
          throw new ConnectError("thick snapshots are not implemented", Code.Unimplemented);
        },
      }),
      registration(lvmd.VGService, {
        getLVList: () => ({ volumes: [{ name: "a", sizeBytes: 1n << 30n }] }),
        getFreeBytes: () => ({ freeBytes: 0n }),
        async *watch(_request, context) {
          yield { freeBytes: 1n, items: [] };
          yield { freeBytes: 2n, items: [] };
          await new Promise<void>((resolve) => { context.signal.addEventListener("abort", () => {
            resolve();
          }); });
        },
      }),
      registration(Health, { check: () => ({ status: ServingStatus.SERVING }), watch: () => { throw new ConnectError("no", Code.Unimplemented); } }),
    ],
    shutdown.signal,
    logger,
  );
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) => {
      if (error === null) {
        resolve();
      } else {
        reject(error);
      }
    });
  });
  servers.push(server);
  return server;
}

describe("createLvmdClient", () => {
  it("passes lvmd's answers and its error codes through", async () => {
    const socket = join(dir, "answers.sock");
    await serve(socket);
    const client = createLvmdClient(unixSocketTransport(socket));
    expect((await client.getLVList("")).map((volume) => [volume.name, volume.sizeBytes])).toEqual([["a", 1n << 30n]]);
    await expect(client.resizeLV({ name: "a", deviceClass: "", sizeBytes: 8192n })).resolves.toBe(12288n);
    await expect(client.removeLV({ name: "a", deviceClass: "" })).resolves.toBeUndefined();
    await expect(client.createLV({ name: "b", deviceClass: "", lvcreateOptionClass: "", sizeBytes: 1n })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: "no enough space left on VG: free=0, requested=1",
    });
    await expect(client.isServing()).resolves.toBe(true);
  });

  it("streams Watch messages until the signal aborts", async () => {
    const socket = join(dir, "watch.sock");
    await serve(socket);
    const client = createLvmdClient(unixSocketTransport(socket));
    const abort = new AbortController();
    const seen: bigint[] = [];
    for await (const message of client.watch(abort.signal)) {
      seen.push(message.freeBytes);
      if (seen.length === 2) {
        abort.abort();
      }
    }
    expect(seen).toEqual([1n, 2n]);
  });

  it("answers Unavailable for every call while there is no lvmd, and is not serving", async () => {
    const client = createLvmdClient(unixSocketTransport(join(dir, "missing.sock")));
    await expect(client.getLVList("")).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(client.createLV({ name: "b", deviceClass: "", lvcreateOptionClass: "", sizeBytes: 1n })).rejects.toMatchObject({ code: Code.Unavailable });
    const consume = async (): Promise<void> => {
      for await (const message of client.watch(new AbortController().signal)) {
        expect(message).toBeUndefined();
      }
    };
    await expect(consume()).rejects.toMatchObject({ code: Code.Unavailable });
    await expect(client.isServing()).resolves.toBe(false);
  });

  it("reaches lvmd again after it was restarted on the same socket", async () => {
    const socket = join(dir, "restart.sock");
    const first = await serve(socket);
    const client = createLvmdClient(unixSocketTransport(socket));
    await expect(client.getLVList("")).resolves.toHaveLength(1);
    first.forceShutdown();
    await expect(client.getLVList("")).rejects.toMatchObject({ code: Code.Unavailable });
    rmSync(socket, { force: true });
    await serve(socket);
    await expect(client.getLVList("")).resolves.toHaveLength(1);
  });
});

describe("toLvmdError", () => {
  it("keeps the code of an answer and turns a failed connection into Unavailable", () => {
    expect(toLvmdError(new ConnectError("exists", Code.AlreadyExists)).code).toBe(Code.AlreadyExists);
    const refused = Object.assign(new Error("connect ECONNRESET"), { code: "ECONNRESET" });
    expect(toLvmdError(new ConnectError("cut", Code.Aborted, undefined, undefined, refused)).code).toBe(Code.Unavailable);
    expect(toLvmdError(new Error("boom")).code).toBe(Code.Unknown);
  });

  it("treats only the codes of an absent or slow lvmd as transient", () => {
    const transient = [Code.Unavailable, Code.DeadlineExceeded, Code.Canceled, Code.Aborted];
    for (const code of Object.values(Code).filter((value): value is Code => typeof value === "number")) {
      expect(isTransientLvmdError(new ConnectError("x", code))).toBe(transient.includes(code));
    }
  });
});
