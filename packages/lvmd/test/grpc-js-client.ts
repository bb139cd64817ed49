import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

// A plain @grpc/grpc-js client, the way a Go client talks: HTTP/2 gRPC framing, messages (de)serialized from the
// same .proto schemas, nothing of Connect's. Only unary and server-streaming methods, which is all lvmd has.

type Message = MessageShape<DescMessage>;

export interface PlainGrpcClient {
  unary(method: string, request: Message): Promise<Message>;
  stream(method: string, request: Message): grpc.ClientReadableStream<Message>;
  close(): void;
}

export function plainGrpcClient(service: DescService, socketPath: string): PlainGrpcClient {
  const definition: Record<string, grpc.MethodDefinition<Message, Message>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (m) => Buffer.from(toBinary(method.input, m)),
      requestDeserialize: (b) => fromBinary(method.input, b),
      responseSerialize: (m) => Buffer.from(toBinary(method.output, m)),
      responseDeserialize: (b) => fromBinary(method.output, b),
    };
  }
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  function find(name: string): grpc.MethodDefinition<Message, Message> {
    const method = definition[name];
    if (method === undefined) throw new Error(`${service.typeName} has no method ${name}`);
    return method;
  }
  return {
    unary(name, request) {
      const method = find(name);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, (err, value) => {
          if (err !== null) reject(err);
          else if (value === undefined) reject(new Error(`${method.path} answered nothing`));
          else resolve(value);
        });
      });
    },
    stream(name, request) {
      const method = find(name);
      return client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request);
    },
    close() {
      client.close();
    },
  };
}

/** The gRPC status code of a failed call. */
export async function grpcCode(call: Promise<unknown>): Promise<grpc.status> {
  try {
    await call;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
  throw new Error("the call succeeded");
}
