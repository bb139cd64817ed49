import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { health as healthApi } from "@topolvm/proto";
import { createHealth } from "./health.js";

const { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus: ServingStatus } = healthApi;

const ctx = () => createHandlerContext({ service: Health, method: Health.method.check, protocolName: "grpc", requestMethod: "POST", url: "/" });

describe("health", () => {
  it("answers SERVING for the server and its services, NOT_SERVING once draining", async () => {
    const health = createHealth(["proto.LVService"]);
    expect((await health.impl.check(create(HealthCheckRequestSchema, { service: "" }), ctx())).status).toBe(ServingStatus.SERVING);
    expect((await health.impl.check(create(HealthCheckRequestSchema, { service: "proto.LVService" }), ctx())).status).toBe(ServingStatus.SERVING);
    health.markNotServing();
    expect((await health.impl.check(create(HealthCheckRequestSchema, {}), ctx())).status).toBe(ServingStatus.NOT_SERVING);
  });

  it("answers NotFound for an unknown service", async () => {
    const health = createHealth([]);
    const answer = Promise.resolve().then(() => health.impl.check(create(HealthCheckRequestSchema, { service: "nope" }), ctx()));
    await expect(answer).rejects.toBeInstanceOf(ConnectError);
    await expect(answer).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("streams status changes on Watch until the call ends", async () => {
    const health = createHealth([]);
    const context = ctx();
    const stream = health.impl.watch(create(HealthCheckRequestSchema), context)[Symbol.asyncIterator]();
    expect((await stream.next()).value).toEqual({ status: ServingStatus.SERVING });
    health.markNotServing();
    expect((await stream.next()).value).toEqual({ status: ServingStatus.NOT_SERVING });
    const end = stream.next();
    context.abort();
    expect((await end).done).toBe(true);
  });
});
