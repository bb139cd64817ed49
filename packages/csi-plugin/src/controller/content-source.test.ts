import { Code } from "@connectrpc/connect";
import { V1ObjectMeta } from "@kubernetes/client-node";
import { create } from "@bufbuild/protobuf";
import { csi } from "@topolvm/proto";
import { deviceClassParameter, topologyKey } from "@topolvm/proto/names";
import { describe, expect, it } from "vitest";
import { rejection } from "../../test/connect-rejection.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { placeFromSource, type SourceRequest } from "./content-source.js";

const GiB = 1n << 30n;

const lv = (name: string, spec: Partial<LogicalVolume["spec"]> = {}): LogicalVolume => ({
  metadata: Object.assign(new V1ObjectMeta(), { name, uid: `uid-${name}` }),
  spec: { name, nodeName: "node-1", size: GiB.toString(), deviceClass: "thin", ...spec },
  status: { volumeID: `uid-${name}`, code: 0, currentSize: GiB.toString() },
});
const snapshot = lv("snap-1", { source: "pvc-1", accessType: "ro" });
const volume = lv("pvc-1");

const restore = (init: Partial<SourceRequest> = {}): SourceRequest => ({
  source: { kind: "snapshot", id: "uid-snap-1" },
  deviceClass: "thin",
  sizeBytes: GiB,
  sizeRequested: true,
  limitBytes: 0n,
  ...init,
});

const at = (...nodes: string[]) =>
  create(csi.TopologyRequirementSchema, { requisite: nodes.map((node) => ({ segments: { [topologyKey]: node } })) });


describe("placeFromSource", () => {
  it("places a restore on the snapshot's node with the requested size", () => {
    expect(placeFromSource(restore({ sizeBytes: 2n * GiB }), snapshot, GiB, at("node-2", "node-1"))).toEqual({ nodeName: "node-1", sizeBytes: 2n * GiB, sourceName: "snap-1" });
  });

  it("takes the source's size when the request names none", () => {
    expect(placeFromSource(restore({ sizeBytes: 8n << 20n, sizeRequested: false }), snapshot, 3n * GiB, undefined).sizeBytes).toBe(3n * GiB);
  });

  it("places a clone of a volume", () => {
    expect(placeFromSource(restore({ source: { kind: "volume", id: "uid-pvc-1" } }), volume, GiB, undefined)).toEqual({ nodeName: "node-1", sizeBytes: GiB, sourceName: "pvc-1" });
  });

  it("answers NotFound for a missing source, or a volume given as a snapshot and the reverse", () => {
    expect(rejection(() => placeFromSource(restore(), undefined, 0n, undefined))).toEqual({
      code: Code.NotFound,
      message: 'volume_content_source.snapshot.snapshot_id: no snapshot has the id "uid-snap-1"',
    });
    expect(rejection(() => placeFromSource(restore(), volume, GiB, undefined)).code).toBe(Code.NotFound);
    expect(rejection(() => placeFromSource(restore({ source: { kind: "volume", id: "uid-snap-1" } }), snapshot, GiB, undefined))).toEqual({
      code: Code.NotFound,
      message: 'volume_content_source.volume.volume_id: no volume has the id "uid-snap-1"',
    });
  });

  it("answers OutOfRange for a size or limit below the source's, naming both", () => {
    expect(rejection(() => placeFromSource(restore({ sizeBytes: GiB }), snapshot, 2n * GiB, undefined))).toEqual({
      code: Code.OutOfRange,
      message: `capacity_range.required_bytes: ${GiB} is below the ${2n * GiB} bytes of the source snapshot uid-snap-1; a restore or clone is at least as big as its source`,
    });
    expect(rejection(() => placeFromSource(restore({ sizeRequested: true, limitBytes: GiB }), snapshot, 2n * GiB, undefined)).message).toContain("capacity_range.limit_bytes");
  });

  it("answers InvalidArgument for another device-class, naming the parameter and both classes", () => {
    expect(rejection(() => placeFromSource(restore({ deviceClass: "ssd" }), snapshot, GiB, undefined))).toEqual({
      code: Code.InvalidArgument,
      message: `parameters["${deviceClassParameter}"]: device-class "ssd" differs from device-class "thin" of the source snapshot uid-snap-1; a restore or clone stays in its source's device-class`,
    });
  });

  it("answers InvalidArgument when the requirements exclude the source's node", () => {
    expect(rejection(() => placeFromSource(restore(), snapshot, GiB, at("node-2")))).toEqual({
      code: Code.InvalidArgument,
      message: "accessibility_requirements: the source snapshot uid-snap-1 is on node node-1, which the requirements do not allow (node-2); a restore or clone is made on its source's node",
    });
  });
});
