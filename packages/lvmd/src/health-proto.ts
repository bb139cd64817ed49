import { create, createFileRegistry, type DescFile, type Message } from "@bufbuild/protobuf";
import type { GenEnum, GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

/**
 * The standard gRPC health service (`grpc/health/v1/health.proto`), described by hand: it is two messages and one
 * enum, so a descriptor literal here is smaller than a second generated package.
 */
const fileProto = create(FileDescriptorProtoSchema, {
  name: "grpc/health/v1/health.proto",
  package: "grpc.health.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "HealthCheckRequest",
      field: [
        {
          name: "service",
          jsonName: "service",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.STRING,
        },
      ],
    },
    {
      name: "HealthCheckResponse",
      field: [
        {
          name: "status",
          jsonName: "status",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.ENUM,
          typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus",
        },
      ],
      enumType: [
        {
          name: "ServingStatus",
          value: [
            { name: "UNKNOWN", number: 0 },
            { name: "SERVING", number: 1 },
            { name: "NOT_SERVING", number: 2 },
            { name: "SERVICE_UNKNOWN", number: 3 },
          ],
        },
      ],
    },
  ],
  service: [
    {
      name: "Health",
      method: [
        {
          name: "Check",
          inputType: ".grpc.health.v1.HealthCheckRequest",
          outputType: ".grpc.health.v1.HealthCheckResponse",
        },
        {
          name: "Watch",
          inputType: ".grpc.health.v1.HealthCheckRequest",
          outputType: ".grpc.health.v1.HealthCheckResponse",
          serverStreaming: true,
        },
      ],
    },
  ],
});

const file: DescFile = (() => {
  const registered = createFileRegistry(fileProto, () => undefined).getFile(fileProto.name);
  if (registered === undefined) {
    throw new Error(`descriptor ${fileProto.name} did not register`);
  }
  return registered;
})();

/** Serving status of grpc.health.v1.HealthCheckResponse. */
export enum ServingStatus {
  UNKNOWN = 0,
  SERVING = 1,
  NOT_SERVING = 2,
  SERVICE_UNKNOWN = 3,
}

/** grpc.health.v1.HealthCheckRequest. */
export type HealthCheckRequest = Message<"grpc.health.v1.HealthCheckRequest"> & { service: string };

/** grpc.health.v1.HealthCheckResponse. */
export type HealthCheckResponse = Message<"grpc.health.v1.HealthCheckResponse"> & { status: ServingStatus };

// The descriptors below are the ones declared above; the casts only attach the hand-written runtime shapes, exactly
// as generated code does with messageDesc()/serviceDesc().
/** Schema of grpc.health.v1.HealthCheckRequest. */
export const HealthCheckRequestSchema = file.messages[0] as unknown as GenMessage<HealthCheckRequest>;

/** Schema of grpc.health.v1.HealthCheckResponse. */
export const HealthCheckResponseSchema = file.messages[1] as unknown as GenMessage<HealthCheckResponse>;

/** Schema of grpc.health.v1.HealthCheckResponse.ServingStatus. */
export const ServingStatusSchema = file.messages[1]?.nestedEnums[0] as unknown as GenEnum<ServingStatus>;

/** grpc.health.v1.Health. */
export const Health = file.services[0] as unknown as GenService<{
  check: { methodKind: "unary"; input: typeof HealthCheckRequestSchema; output: typeof HealthCheckResponseSchema };
  watch: {
    methodKind: "server_streaming";
    input: typeof HealthCheckRequestSchema;
    output: typeof HealthCheckResponseSchema;
  };
}>;
