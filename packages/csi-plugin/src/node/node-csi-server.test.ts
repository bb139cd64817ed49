import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { unixSocketTransport } from "@topolvm/lvmd";
import { csi, lvmd } from "@topolvm/proto";
import { topologyKey } from "@topolvm/proto/names";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import type { Readiness } from "../http-endpoints.js";
import type { LvmdClient } from "./lvmd-client.js";
import { startNodeCsiServer } from "./node-csi-server.js";

const dir = mkdtempSync(join(tmpdir(), "node-csi-server-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An lvmd with one device-class and no LVs. */
const lvmdStub: Pick<LvmdClient, "getLVList" | "watch"> = {
  getLVList: () => Promise.resolve([]),
  async *watch(signal) {
    yield create(lvmd.WatchResponseSchema, { items: [{ deviceClass: "ssd" }] });
    await new Promise((resolve) => {
        signal.addEventListener("abort", resolve);
      });
  },
};

describe("startNodeCsiServer", () => {
  it("serves Identity (the plugin's capabilities, Probe from the readiness) and Node on one socket", async () => {
    let readiness: Readiness = { ready: false, reason: "lvmd is not serving" };
    const socketPath = join(dir, "plugins", "csi-topolvm.sock");
    const server = await startNodeCsiServer({
      socketPath,
      nodeName: "node-7",
      version: "1.2.3",
      lvmd: lvmdStub,
      readiness: () => readiness,
      logger: pino({ level: "silent" }),
      deviceDir: join(dir, "dev"),
    });
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      const transport = unixSocketTransport(socketPath);
      const identity = createClient(csi.Identity, transport);
      const nodeClient = createClient(csi.Node, transport);
      expect(await identity.getPluginInfo({})).toMatchObject({ name: "topolvm.cybozu.com", vendorVersion: "1.2.3" });
      const { capabilities } = await identity.getPluginCapabilities({});
      // The plugin's capabilities, the same as topolvm-controller's (csi-sanity reads them on the node endpoint).
      expect(capabilities.map((capability) => capability.type.case === "service" && capability.type.value.type)).toContain(csi.PluginCapability_Service_Type.CONTROLLER_SERVICE);
      expect((await identity.probe({})).ready).toBe(false);
      readiness = { ready: true };
      expect((await identity.probe({})).ready).toBe(true);
      expect(await nodeClient.nodeGetInfo({})).toMatchObject({ nodeId: "node-7", accessibleTopology: { segments: { [topologyKey]: "node-7" } } });
      const publish = nodeClient.nodePublishVolume({
        volumeId: "pvc-1",
        targetPath: join(dir, "target"),
        volumeCapability: { accessType: { case: "mount", value: {} }, accessMode: { mode: csi.VolumeCapability_AccessMode_Mode.SINGLE_NODE_WRITER } },
      });
      await expect(publish).rejects.toMatchObject({ code: Code.NotFound });
      await expect(nodeClient.nodeStageVolume({})).rejects.toSatisfy((error) => ConnectError.from(error).code === Code.Unimplemented);
    } finally {
      await server.close();
    }
  });
});
