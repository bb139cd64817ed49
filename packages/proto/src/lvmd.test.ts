import { create, equals, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { lvmd } from "./index.js";

const GiB = 1n << 30n;

describe("lvmd CreateLVRequest", () => {
  const request = create(lvmd.CreateLVRequestSchema, {
    name: "9b0e5c6a-2f4d-4a55-8d0b-6a8f0e3c1d2e",
    sizeGb: 5n,
    tags: ["owner=topolvm"],
    deviceClass: "ssd",
    lvcreateOptionClass: "raid1",
    sizeBytes: 5n * GiB,
  });

  it("round-trips through the binary encoding, deprecated size_gb included", () => {
    const decoded = fromBinary(lvmd.CreateLVRequestSchema, toBinary(lvmd.CreateLVRequestSchema, request));
    expect(equals(lvmd.CreateLVRequestSchema, decoded, request)).toBe(true);
    expect(decoded).toMatchObject({ sizeGb: 5n, sizeBytes: 5n * GiB });
  });

  it("round-trips through the JSON mapping with 64-bit sizes as strings", () => {
    const json = toJson(lvmd.CreateLVRequestSchema, request);
    expect(json).toEqual({
      name: "9b0e5c6a-2f4d-4a55-8d0b-6a8f0e3c1d2e",
      sizeGb: "5",
      tags: ["owner=topolvm"],
      deviceClass: "ssd",
      lvcreateOptionClass: "raid1",
      sizeBytes: "5368709120",
    });
    expect(equals(lvmd.CreateLVRequestSchema, fromJson(lvmd.CreateLVRequestSchema, json), request)).toBe(true);
  });

  it("puts size_gb on field 2 and size_bytes on field 6, as both upstream generations expect", () => {
    const reader = new BinaryReader(
      toBinary(lvmd.CreateLVRequestSchema, create(lvmd.CreateLVRequestSchema, { sizeGb: 3n, sizeBytes: 3n * GiB })),
    );
    const fields: [number, WireType, bigint][] = [];
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag();
      fields.push([fieldNo, wireType, BigInt(reader.uint64())]);
    }
    expect(fields).toEqual([
      [2, WireType.Varint, 3n],
      [6, WireType.Varint, 3n * GiB],
    ]);
  });
});

describe("lvmd v0.5-era wire shape", () => {
  it("decodes a LogicalVolume that carries only the v0.5 fields 1-5", () => {
    const v05 = new BinaryWriter()
      .tag(1, WireType.LengthDelimited)
      .string("lv-0")
      .tag(2, WireType.Varint)
      .uint64(7)
      .tag(3, WireType.Varint)
      .uint32(253)
      .tag(4, WireType.Varint)
      .uint32(4)
      .tag(5, WireType.LengthDelimited)
      .string("a")
      .tag(5, WireType.LengthDelimited)
      .string("b")
      .finish();

    const volume = fromBinary(lvmd.LogicalVolumeSchema, v05);

    expect(volume).toMatchObject({
      name: "lv-0",
      sizeGb: 7n,
      devMajor: 253,
      devMinor: 4,
      tags: ["a", "b"],
      sizeBytes: 0n,
      path: "",
      attr: "",
    });
  });

  it("lets a v0.5 client read a ResizeLVResponse as the Empty it expects", () => {
    const body = toBinary(lvmd.ResizeLVResponseSchema, create(lvmd.ResizeLVResponseSchema, { sizeBytes: 2n * GiB }));
    expect(body.length).toBeGreaterThan(0);
    const asEmpty = fromBinary(lvmd.EmptySchema, body);
    expect(toJson(lvmd.EmptySchema, asEmpty)).toEqual({});
  });
});

describe("lvmd services", () => {
  it("serve the upstream gRPC paths", () => {
    const paths = [lvmd.LVService, lvmd.VGService].flatMap((service) =>
      service.methods.map((method) => `/${service.typeName}/${method.name} ${method.methodKind}`),
    );
    expect(paths).toEqual([
      "/proto.LVService/CreateLV unary",
      "/proto.LVService/RemoveLV unary",
      "/proto.LVService/ResizeLV unary",
      "/proto.LVService/CreateLVSnapshot unary",
      "/proto.VGService/GetLVList unary",
      "/proto.VGService/GetFreeBytes unary",
      "/proto.VGService/Watch server_streaming",
    ]);
  });

  it("answer ResizeLV with ResizeLVResponse, as current upstream does", () => {
    expect(lvmd.LVService.method.resizeLV.output.typeName).toBe("proto.ResizeLVResponse");
  });
});
