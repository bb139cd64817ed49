import type { ServiceImpl } from "@connectrpc/connect";
import { csi } from "@topolvm/proto";
import { driverName } from "@topolvm/proto/names";
import type { Readiness } from "./http-endpoints.js";

export interface IdentityServiceOptions {
  /** vendor_version: the package version. */
  readonly version: string;
  /** Whether the plugin can serve: Probe answers ready=false (not an error) while it cannot. */
  readonly readiness: () => Readiness;
  /** Advertise CONTROLLER_SERVICE: the plugin has one (both of TopoLVM's endpoints say so, as upstream's do). */
  readonly controllerService: boolean;
}

/**
 * The CSI Identity service: the driver name and version, the plugin capabilities (controller service when asked,
 * volume accessibility constraints, online expansion) and Probe.
 */
export function createIdentityService(options: IdentityServiceOptions): ServiceImpl<typeof csi.Identity> {
  const ServiceType = csi.PluginCapability_Service_Type;
  const serviceCapability = (type: csi.PluginCapability_Service_Type) => ({ type: { case: "service" as const, value: { type } } });
  const capabilities = [
    ...(options.controllerService ? [serviceCapability(ServiceType.CONTROLLER_SERVICE)] : []),
    serviceCapability(ServiceType.VOLUME_ACCESSIBILITY_CONSTRAINTS),
    { type: { case: "volumeExpansion" as const, value: { type: csi.PluginCapability_VolumeExpansion_Type.ONLINE } } },
  ];
  return {
    getPluginInfo: () => ({ name: driverName, vendorVersion: options.version }),
    getPluginCapabilities: () => ({ capabilities }),
    probe: () => ({ ready: options.readiness().ready }),
  };
}
