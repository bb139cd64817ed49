import { create, equals, fromBinary, fromJson, getOption, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { csi } from "./index.js";

const GiB = 1n << 30n;

const request = create(csi.CreateVolumeRequestSchema, {
  name: "pvc-3f1c2b7e",
  capacityRange: { requiredBytes: GiB, limitBytes: 2n * GiB },
  volumeCapabilities: [
    {
      accessType: { case: "mount", value: { fsType: "xfs", mountFlags: ["noatime"] } },
      accessMode: { mode: csi.VolumeCapability_AccessMode_Mode.SINGLE_NODE_WRITER },
    },
    {
      accessType: { case: "block", value: {} },
      accessMode: { mode: csi.VolumeCapability_AccessMode_Mode.SINGLE_NODE_WRITER },
    },
  ],
  parameters: { "topolvm.cybozu.com/device-class": "ssd" },
  secrets: { token: "s3cret" },
  volumeContentSource: { type: { case: "snapshot", value: { snapshotId: "snap-1" } } },
  accessibilityRequirements: {
    requisite: [{ segments: { "topology.topolvm.cybozu.com/node": "node-1" } }],
    preferred: [{ segments: { "topology.topolvm.cybozu.com/node": "node-1" } }],
  },
  mutableParameters: { iops: "3000" },
});

describe("CSI CreateVolumeRequest", () => {
  it("round-trips through the binary encoding", () => {
    const decoded = fromBinary(csi.CreateVolumeRequestSchema, toBinary(csi.CreateVolumeRequestSchema, request));
    expect(equals(csi.CreateVolumeRequestSchema, decoded, request)).toBe(true);
  });

  it("round-trips through the JSON mapping", () => {
    const json = toJson(csi.CreateVolumeRequestSchema, request);
    expect(json).toEqual({
      name: "pvc-3f1c2b7e",
      capacityRange: { requiredBytes: "1073741824", limitBytes: "2147483648" },
      volumeCapabilities: [
        { mount: { fsType: "xfs", mountFlags: ["noatime"] }, accessMode: { mode: "SINGLE_NODE_WRITER" } },
        { block: {}, accessMode: { mode: "SINGLE_NODE_WRITER" } },
      ],
      parameters: { "topolvm.cybozu.com/device-class": "ssd" },
      secrets: { token: "s3cret" },
      volumeContentSource: { snapshot: { snapshotId: "snap-1" } },
      accessibilityRequirements: {
        requisite: [{ segments: { "topology.topolvm.cybozu.com/node": "node-1" } }],
        preferred: [{ segments: { "topology.topolvm.cybozu.com/node": "node-1" } }],
      },
      mutableParameters: { iops: "3000" },
    });
    expect(equals(csi.CreateVolumeRequestSchema, fromJson(csi.CreateVolumeRequestSchema, json), request)).toBe(true);
  });

  it("encodes name as field 1 and capacity_range as field 2, byte for byte as the spec numbers them", () => {
    const small = create(csi.CreateVolumeRequestSchema, { name: "a", capacityRange: { requiredBytes: 1n } });
    expect(Array.from(toBinary(csi.CreateVolumeRequestSchema, small))).toEqual([0x0a, 0x01, 0x61, 0x12, 0x02, 0x08, 0x01]);
  });
});

describe("CSI descriptors", () => {
  it("name the services by their csi.v1 gRPC names", () => {
    const services = [csi.Identity, csi.Controller, csi.GroupController, csi.SnapshotMetadata, csi.Node];
    expect(services.map((service) => `${service.typeName}: ${String(service.methods.length)}`)).toEqual([
      "csi.v1.Identity: 3",
      "csi.v1.Controller: 15",
      "csi.v1.GroupController: 4",
      "csi.v1.SnapshotMetadata: 2",
      "csi.v1.Node: 8",
    ]);
    expect(csi.Controller.method.createVolume.name).toBe("CreateVolume");
    expect(csi.SnapshotMetadata.method.getMetadataDelta.methodKind).toBe("server_streaming");
  });

  it("mark every secrets field with the csi_secret option, so callers can redact it", () => {
    const secretFields = csi.file_csi.messages
      .flatMap(function walk(message): (typeof message.fields)[number][] {
        return [...message.fields, ...message.nestedMessages.flatMap(walk)];
      })
      .filter((field) => field.name === "secrets");
    expect(secretFields.length).toBe(19);
    expect(secretFields.every((field) => getOption(field, csi.csi_secret))).toBe(true);
    expect(getOption(csi.CreateVolumeRequestSchema.field.name, csi.csi_secret)).toBe(false);
  });
});
