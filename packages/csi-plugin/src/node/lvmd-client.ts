import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { Health, ServingStatus } from "@topolvm/lvmd";
import { lvmd } from "@topolvm/proto";

/** Time limits of lvmd calls. lvmd runs one mutation per volume group at a time, each LVM command for up to 60 s. */
export interface LvmdTimeouts {
  /** CreateLV, CreateLVSnapshot, ResizeLV, RemoveLV; default 90 s. */
  readonly mutationMs?: number;
  /** GetLVList and the health check; default 15 s. */
  readonly readMs?: number;
}

/**
 * What topolvm-node asks of its lvmd. Every method rejects with a ConnectError whose code is the gRPC code lvmd
 * answered, or Unavailable when lvmd could not be reached (no socket, connection refused or cut mid-call).
 */
export interface LvmdClient {
  createLV(request: { name: string; deviceClass: string; lvcreateOptionClass: string; sizeBytes: bigint }): Promise<lvmd.LogicalVolume>;
  /** A thin snapshot (or a writable clone, accessType "rw") of the LV named `sourceVolume`. */
  createLVSnapshot(request: {
    name: string;
    deviceClass: string;
    sourceVolume: string;
    accessType: string;
    sizeBytes: bigint;
  }): Promise<lvmd.LogicalVolume>;
  /** Grows the LV to at least `sizeBytes`; resolves with its size afterwards. */
  resizeLV(request: { name: string; deviceClass: string; sizeBytes: bigint }): Promise<bigint>;
  removeLV(request: { name: string; deviceClass: string }): Promise<void>;
  getLVList(deviceClass: string): Promise<lvmd.LogicalVolume[]>;
  /** The VGService.Watch stream, until lvmd ends it (or fails it) or `signal` aborts it (it then ends quietly). */
  watch(signal: AbortSignal): AsyncIterable<lvmd.WatchResponse>;
  /** Whether lvmd's grpc.health.v1 service answers SERVING. */
  isServing(): Promise<boolean>;
}

/**
 * lvmd failures that say nothing about the request: lvmd is being restarted, is slow, or we are stopping. The call may
 * be retried as is (every lvmd mutation is idempotent by LV name), so these are never recorded as a volume's failure.
 */
export function isTransientLvmdError(error: ConnectError): boolean {
  return (
    error.code === Code.Unavailable || error.code === Code.DeadlineExceeded || error.code === Code.Canceled || error.code === Code.Aborted
  );
}

function hasSystemErrorCause(error: Error): boolean {
  const seen = new Set<unknown>();
  for (let cause: unknown = error.cause; cause instanceof Error && !seen.has(cause); cause = cause.cause) {
    seen.add(cause);
    if ("code" in cause && typeof cause.code === "string") {
      return true;
    }
  }
  return false;
}

/**
 * The one error mapping of the lvmd boundary. Connect gives a missing socket (ENOENT) Internal and a cut connection
 * Aborted; both mean that lvmd is not there right now, which is Unavailable. An answer from lvmd keeps its code.
 */
export function toLvmdError(error: unknown): ConnectError {
  const connectError = ConnectError.from(error);
  if (connectError.code !== Code.Unavailable && hasSystemErrorCause(connectError)) {
    return new ConnectError(`lvmd unreachable: ${connectError.rawMessage}`, Code.Unavailable, undefined, undefined, connectError);
  }
  return connectError;
}

async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toLvmdError(error);
  }
}

/** An lvmd client over a Connect transport (`unixSocketTransport(socketPath)` from @topolvm/lvmd), each call time-limited. */
export function createLvmdClient(transport: Transport, timeouts: LvmdTimeouts = {}): LvmdClient {
  const lv = createClient(lvmd.LVService, transport);
  const vg = createClient(lvmd.VGService, transport);
  const health = createClient(Health, transport);
  const mutation = { timeoutMs: timeouts.mutationMs ?? 90_000 };
  const read = { timeoutMs: timeouts.readMs ?? 15_000 };
  return {
    async createLV(request) {
      const response = await mapped(() => lv.createLV({ ...request, tags: [] }, mutation));
      if (response.volume === undefined) {
        throw new ConnectError("lvmd answered CreateLV without a volume", Code.Internal);
      }
      return response.volume;
    },
    async createLVSnapshot(request) {
      const response = await mapped(() => lv.createLVSnapshot({ ...request, tags: [] }, mutation));
      if (response.snapshot === undefined) {
        throw new ConnectError("lvmd answered CreateLVSnapshot without a snapshot", Code.Internal);
      }
      return response.snapshot;
    },
    async resizeLV(request) {
      return (await mapped(() => lv.resizeLV(request, mutation))).sizeBytes;
    },
    async removeLV(request) {
      await mapped(() => lv.removeLV(request, mutation));
    },
    async getLVList(deviceClass) {
      return (await mapped(() => vg.getLVList({ deviceClass }, read))).volumes;
    },
    async *watch(signal) {
      try {
        yield* vg.watch({}, { signal });
      } catch (error) {
        if (signal.aborted) {
          return;
        }
        throw toLvmdError(error);
      }
    },
    async isServing() {
      try {
        return (await health.check({ service: "" }, read)).status === ServingStatus.SERVING;
      } catch {
        return false;
      }
    },
  };
}
