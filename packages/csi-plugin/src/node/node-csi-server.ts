import { registration } from "@topolvm/lvmd";
import { csi } from "@topolvm/proto";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { startCsiServer, type CsiServer } from "../csi-server.js";
import type { Readiness } from "../http-endpoints.js";
import { createIdentityService } from "../identity-service.js";
import { createDeviceNodes, DEFAULT_DEVICE_DIR } from "./device-node.js";
import type { LvmdClient } from "./lvmd-client.js";
import { createMounter, type Mounter } from "./mounter.js";
import { createNodeService } from "./node-service.js";
import { createVolumeLookup } from "./volume-lookup.js";

export interface NodeCsiServerOptions {
  readonly socketPath: string;
  readonly nodeName: string;
  /** vendor_version of GetPluginInfo. */
  readonly version: string;
  readonly lvmd: Pick<LvmdClient, "getLVList" | "watch">;
  /** What Probe answers: whether lvmd serves (and the process is not stopping). */
  readonly readiness: () => Readiness;
  readonly logger: Logger;
  /** Where the LVs' device nodes are made; default DEFAULT_DEVICE_DIR. */
  readonly deviceDir?: string;
  readonly mounter?: Mounter;
  readonly registry?: Registry;
}

/**
 * topolvm-node's CSI endpoint: the Identity service (the plugin's capabilities; Probe from `readiness`) and the Node
 * service on one unix socket. It needs lvmd and nothing of Kubernetes, so it also runs on its own (tests, the VM).
 */
export function startNodeCsiServer(options: NodeCsiServerOptions): Promise<CsiServer> {
  const logger = options.logger.child({ service: "csi-node" });
  const mounter = options.mounter ?? createMounter();
  // One Identity for the whole plugin, as upstream's: CONTROLLER_SERVICE says the plugin has a controller (served by
  // topolvm-controller). csi-sanity reads it from the node endpoint to decide whether to run its end-to-end specs
  // ("should work", "should be idempotent"), which drive both endpoints.
  const identity = createIdentityService({ version: options.version, readiness: options.readiness, controllerService: true });
  const node = createNodeService({
    nodeName: options.nodeName,
    volumes: createVolumeLookup(options.lvmd),
    mounter,
    deviceNodes: createDeviceNodes(options.deviceDir ?? DEFAULT_DEVICE_DIR, mounter),
    logger,
  });
  return startCsiServer({
    socketPath: options.socketPath,
    services: [registration(csi.Identity, identity), registration(csi.Node, node)],
    logger,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
  });
}
