import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { createHandlerContext, createServiceImplSpec, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
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

function codecs(input: DescMessage, output: DescMessage) {
  return {
    requestSerialize: (message: GrpcMessage): Buffer => Buffer.from(toBinary(input, message)),
    requestDeserialize: (bytes: Buffer): GrpcMessage => fromBinary(input, bytes),
    responseSerialize: (message: GrpcMessage): Buffer => Buffer.from(toBinary(output, message)),
    responseDeserialize: (bytes: Buffer): GrpcMessage => fromBinary(output, bytes),
  };
}

function grpcStatus(err: unknown, log: Logger, path: string): Partial<grpc.StatusObject> {
  const error = toConnectError(err);
  // Codes are shared: Connect's Code enum is gRPC's status code numbering.
  const code = error.code as number as grpc.status;
  if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) {
    log.error({ err, rpc: path }, error.rawMessage);
  } else {
    log.debug({ rpc: path, code: grpc.status[code] }, error.rawMessage);
  }
  return { code, details: error.rawMessage };
}

function deadlineMs(call: grpc.ServerSurfaceCall): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function contextFor(service: DescService, method: DescService["methods"][number], call: grpc.ServerSurfaceCall, shutdown: AbortSignal): HandlerContext {
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

/**
 * Builds a grpc-js server from Connect-style implementations: messages are (de)serialized with their protobuf-es
 * schemas, thrown errors become gRPC statuses through the one error mapping, and `shutdown` ends streams.
 */
export function createGrpcServer(registrations: readonly ServiceRegistration[], shutdown: AbortSignal, log: Logger): grpc.Server {
  const server = new grpc.Server();
  for (const { service, impl } of registrations) {
    const spec = createServiceImplSpec(service, impl);
    const definition: grpc.ServiceDefinition = {};
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
          Promise.resolve()
            .then(() => methodSpec.impl(call.request, contextFor(service, method, call, shutdown)))
            .then(
              (result) => {
                callback(null, create(method.output, result));
              },
              (err: unknown) => {
                callback(grpcStatus(err, log, path));
              },
            );
        };
        handlers[method.localName] = unary;
      } else if (methodSpec.kind === "server_streaming") {
        const stream: grpc.handleServerStreamingCall<GrpcMessage, GrpcMessage> = (call) => {
          const context = contextFor(service, method, call, shutdown);
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
  return server;
}
