import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { Code, createHandlerContext, createServiceImplSpec, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { toConnectError } from "./errors.js";

/** A service descriptor and its implementation, in Connect's shape. */
export interface ServiceRegistration {
  readonly service: DescService;
  readonly impl: Partial<ServiceImpl<DescService>>;
}

/** Pairs a service with its implementation, keeping the two type-checked against each other. */
export function registration<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceRegistration {
  return { service, impl: impl as Partial<ServiceImpl<DescService>> };
}

type GrpcMessage = MessageShape<DescMessage>;
type SurfaceCall = grpc.ServerUnaryCall<GrpcMessage, GrpcMessage> | grpc.ServerWritableStream<GrpcMessage, GrpcMessage>;

function codecs(input: DescMessage, output: DescMessage) {
  // A handler that answers with the same (unchanged) message again, as GetLVList does from its cache, is sent the
  // bytes already encoded for it.
  const encoded = new WeakMap<GrpcMessage, Buffer>();
  return {
    requestSerialize: (message: GrpcMessage): Buffer => Buffer.from(toBinary(input, message)),
    requestDeserialize: (bytes: Buffer): GrpcMessage => fromBinary(input, bytes),
    responseSerialize: (message: GrpcMessage): Buffer => {
      let bytes = encoded.get(message);
      if (bytes === undefined) {
        bytes = Buffer.from(toBinary(output, message));
        encoded.set(message, bytes);
      }
      return bytes;
    },
    responseDeserialize: (bytes: Buffer): GrpcMessage => fromBinary(output, bytes),
  };
}

// Connect's Code enum is gRPC's numbering under other names; spelled out so neither side is cast.
const grpcCodes: Readonly<Record<Code, grpc.status>> = {
  [Code.Canceled]: grpc.status.CANCELLED,
  [Code.Unknown]: grpc.status.UNKNOWN,
  [Code.InvalidArgument]: grpc.status.INVALID_ARGUMENT,
  [Code.DeadlineExceeded]: grpc.status.DEADLINE_EXCEEDED,
  [Code.NotFound]: grpc.status.NOT_FOUND,
  [Code.AlreadyExists]: grpc.status.ALREADY_EXISTS,
  [Code.PermissionDenied]: grpc.status.PERMISSION_DENIED,
  [Code.ResourceExhausted]: grpc.status.RESOURCE_EXHAUSTED,
  [Code.FailedPrecondition]: grpc.status.FAILED_PRECONDITION,
  [Code.Aborted]: grpc.status.ABORTED,
  [Code.OutOfRange]: grpc.status.OUT_OF_RANGE,
  [Code.Unimplemented]: grpc.status.UNIMPLEMENTED,
  [Code.Internal]: grpc.status.INTERNAL,
  [Code.Unavailable]: grpc.status.UNAVAILABLE,
  [Code.DataLoss]: grpc.status.DATA_LOSS,
  [Code.Unauthenticated]: grpc.status.UNAUTHENTICATED,
};

function grpcStatus(err: unknown, log: Logger, path: string): Partial<grpc.StatusObject> {
  const error = toConnectError(err);
  const code = grpcCodes[error.code];
  if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) {
    log.error({ err, rpc: path }, error.rawMessage);
  } else {
    log.debug({ rpc: path, code: grpc.status[code] }, error.rawMessage);
  }
  return { code, details: error.rawMessage };
}

function deadlineMs(call: SurfaceCall): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function contextFor(service: DescService, method: DescService["methods"][number], call: SurfaceCall, shutdown: AbortSignal): HandlerContext {
  const timeoutMs = deadlineMs(call);
  const context = createHandlerContext({
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/${service.typeName}/${method.name}`,
    shutdownSignal: shutdown,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  call.on("cancelled", () => {
    context.abort();
  });
  return context;
}

/** A grpc-js server that knows when its calls have finished. */
export interface GrpcServer {
  readonly server: grpc.Server;
  /** Settles once no call is running (at once when none is). */
  readonly idle: () => Promise<void>;
}

/**
 * Builds a grpc-js server from Connect-style implementations: messages are (de)serialized with their protobuf-es
 * schemas, thrown errors become gRPC statuses through the one error mapping, and `shutdown` ends streams.
 */
export function createGrpcServer(registrations: readonly ServiceRegistration[], shutdown: AbortSignal, log: Logger): GrpcServer {
  const server = new grpc.Server();
  let running = 0;
  const idleWaiters = new Set<() => void>();
  const started = (): void => {
    running += 1;
  };
  const finished = (): void => {
    running -= 1;
    if (running === 0) {
      for (const wake of idleWaiters) {
        wake();
      }
      idleWaiters.clear();
    }
  };
  for (const { service, impl } of registrations) {
    const spec = createServiceImplSpec(service, impl);
    const definition: Record<string, grpc.MethodDefinition<GrpcMessage, GrpcMessage>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const methodSpec of Object.values(spec.methods)) {
      const { method } = methodSpec;
      const path = `/${service.typeName}/${method.name}`;
      definition[method.localName] = {
        path,
        requestStream: false,
        responseStream: methodSpec.kind === "server_streaming",
        originalName: method.name,
        ...codecs(method.input, method.output),
      };
      if (methodSpec.kind === "unary") {
        const unary: grpc.handleUnaryCall<GrpcMessage, GrpcMessage> = (call, callback) => {
          started();
          Promise.resolve()
            .then(() => methodSpec.impl(call.request, contextFor(service, method, call, shutdown)))
            .then(
              (result) => {
                callback(null, create(method.output, result));
              },
              (err: unknown) => {
                callback(grpcStatus(err, log, path));
              },
            )
            .finally(finished);
        };
        handlers[method.localName] = unary;
      } else if (methodSpec.kind === "server_streaming") {
        const stream: grpc.handleServerStreamingCall<GrpcMessage, GrpcMessage> = (call) => {
          const context = contextFor(service, method, call, shutdown);
          started();
          void (async () => {
            try {
              for await (const message of methodSpec.impl(call.request, context)) {
                if (!call.write(create(method.output, message))) {
                  await new Promise((resolve) => call.once("drain", resolve));
                }
              }
              call.end();
            } catch (err) {
              // grpc-js turns an "error" event on a server stream into the call's final status.
              const status = grpcStatus(err, log, path);
              call.emit("error", Object.assign(new Error(status.details), status));
            } finally {
              finished();
            }
          })();
        };
        handlers[method.localName] = stream;
      } else {
        throw new Error(`${path}: ${methodSpec.kind} methods are not served`);
      }
    }
    server.addService(definition, handlers);
  }
  return {
    server,
    idle: () =>
      running === 0
        ? Promise.resolve()
        : new Promise((resolve) => {
            idleWaiters.add(resolve);
          }),
  };
}
