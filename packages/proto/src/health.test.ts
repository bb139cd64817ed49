import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { health } from "./index.js";

describe("grpc.health.v1", () => {
  it("serves the standard gRPC paths", () => {
    const paths = health.Health.methods.map((method) => `/${health.Health.typeName}/${method.name} ${method.methodKind}`);
    expect(paths).toEqual(["/grpc.health.v1.Health/Check unary", "/grpc.health.v1.Health/Watch server_streaming"]);
  });

  it("encodes the request's service on field 1 and the response's status on field 1, as grpc-go's client sends and reads them", () => {
    const request = toBinary(health.HealthCheckRequestSchema, create(health.HealthCheckRequestSchema, { service: "proto.LVService" }));
    expect(request).toEqual(new BinaryWriter().tag(1, WireType.LengthDelimited).string("proto.LVService").finish());
    const response = toBinary(
      health.HealthCheckResponseSchema,
      create(health.HealthCheckResponseSchema, { status: health.HealthCheckResponse_ServingStatus.NOT_SERVING }),
    );
    expect(response).toEqual(new BinaryWriter().tag(1, WireType.Varint).int32(2).finish());
  });

  it("numbers the serving statuses as the published file does", () => {
    expect(health.HealthCheckResponse_ServingStatusSchema.values.map((value) => `${value.name}=${value.number}`)).toEqual([
      "UNKNOWN=0",
      "SERVING=1",
      "NOT_SERVING=2",
      "SERVICE_UNKNOWN=3",
    ]);
  });
});
