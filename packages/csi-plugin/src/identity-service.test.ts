import { create } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import { csi } from "@topolvm/proto";
import { describe, expect, it } from "vitest";
import type { Readiness } from "./http-endpoints.js";
import { createIdentityService } from "./identity-service.js";

const context = (method: keyof typeof csi.Identity.method) =>
  createHandlerContext({ service: csi.Identity, method: csi.Identity.method[method], protocolName: "grpc", requestMethod: "POST", url: `/csi.v1.Identity/${method}` });

describe("createIdentityService", () => {
  it("names the driver and its version", async () => {
    const identity = createIdentityService({ version: "1.2.3", readiness: () => ({ ready: true }), controllerService: true });
    expect(await identity.getPluginInfo(create(csi.GetPluginInfoRequestSchema), context("getPluginInfo"))).toEqual({ name: "topolvm.cybozu.com", vendorVersion: "1.2.3" });
  });

  it("advertises the controller service, topology constraints and online expansion", async () => {
    const identity = createIdentityService({ version: "1", readiness: () => ({ ready: true }), controllerService: true });
    const { capabilities } = await identity.getPluginCapabilities(create(csi.GetPluginCapabilitiesRequestSchema), context("getPluginCapabilities"));
    const Service = csi.PluginCapability_Service_Type;
    expect(capabilities).toEqual([
      { type: { case: "service", value: { type: Service.CONTROLLER_SERVICE } } },
      { type: { case: "service", value: { type: Service.VOLUME_ACCESSIBILITY_CONSTRAINTS } } },
      { type: { case: "volumeExpansion", value: { type: csi.PluginCapability_VolumeExpansion_Type.ONLINE } } },
    ]);
  });

  it("leaves out the controller service for a node plugin", async () => {
    const identity = createIdentityService({ version: "1", readiness: () => ({ ready: true }), controllerService: false });
    const { capabilities } = await identity.getPluginCapabilities(create(csi.GetPluginCapabilitiesRequestSchema), context("getPluginCapabilities"));
    expect(capabilities).toHaveLength(2);
  });

  it("answers Probe with the current readiness", async () => {
    let state: Readiness = { ready: false, reason: "caches not synced" };
    const identity = createIdentityService({ version: "1", readiness: () => state, controllerService: true });
    expect(await identity.probe(create(csi.ProbeRequestSchema), context("probe"))).toEqual({ ready: false });
    state = { ready: true };
    expect(await identity.probe(create(csi.ProbeRequestSchema), context("probe"))).toEqual({ ready: true });
  });
});
