import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { V1ObjectMeta } from "@kubernetes/client-node";
import { csi } from "@topolvm/proto";
import { describe, expect, it } from "vitest";
import { rejection } from "../../test/connect-rejection.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { creationTime, needsThinClass, planCreateSnapshot, snapshotIncompatibility, snapshotSpec } from "./create-snapshot.js";

const GiB = 1n << 30n;
const source: LogicalVolume = {
  metadata: Object.assign(new V1ObjectMeta(), { name: "pvc-1", uid: "uid-1" }),
  spec: { name: "pvc-1", nodeName: "node-1", size: GiB.toString(), deviceClass: "thin", lvcreateOptionClass: "" },
};


describe("planCreateSnapshot", () => {
  it("lowercases the name and keeps the source volume id", () => {
    expect(planCreateSnapshot(create(csi.CreateSnapshotRequestSchema, { name: "Snapshot-ABC", sourceVolumeId: "uid-1" }))).toEqual({ name: "snapshot-abc", sourceVolumeId: "uid-1" });
  });

  it("answers InvalidArgument naming the missing name or source_volume_id", () => {
    expect(rejection(() => planCreateSnapshot(create(csi.CreateSnapshotRequestSchema, { sourceVolumeId: "uid-1" })))).toEqual({
      code: Code.InvalidArgument,
      message: "name: required, got an empty name",
    });
    expect(rejection(() => planCreateSnapshot(create(csi.CreateSnapshotRequestSchema, { name: "s" })))).toEqual({
      code: Code.InvalidArgument,
      message: "source_volume_id: required, got an empty id",
    });
    expect(rejection(() => planCreateSnapshot(create(csi.CreateSnapshotRequestSchema, { name: "a/b", sourceVolumeId: "uid-1" }))).message).toContain('name: "a/b"');
  });
});

describe("snapshotSpec", () => {
  it("is read-only, on the source's node and class, as big as the source is now", () => {
    expect(snapshotSpec({ name: "snap-1", sourceVolumeId: "uid-1" }, source, 2n * GiB)).toEqual({
      name: "snap-1",
      nodeName: "node-1",
      size: (2n * GiB).toString(),
      deviceClass: "thin",
      source: "pvc-1",
      accessType: "ro",
    });
  });

  it("refuses a snapshot of a snapshot", () => {
    const snapshot: LogicalVolume = { ...source, spec: { ...source.spec, source: "pvc-0", accessType: "ro" } };
    expect(rejection(() => snapshotSpec({ name: "snap-2", sourceVolumeId: "uid-1" }, snapshot, GiB))).toEqual({
      code: Code.InvalidArgument,
      message: "source_volume_id: uid-1 is a snapshot, not a volume",
    });
  });
});

describe("snapshotIncompatibility", () => {
  const plan = { name: "snap-1", sourceVolumeId: "uid-1" };
  const existing = (spec: Partial<LogicalVolume["spec"]>): LogicalVolume => ({ ...source, metadata: Object.assign(new V1ObjectMeta(), { name: "snap-1" }), spec: { ...source.spec, name: "snap-1", ...spec } });

  it("accepts the same snapshot again (a retry)", () => {
    expect(snapshotIncompatibility(existing({ source: "pvc-1", accessType: "ro" }), plan, source)).toBeUndefined();
  });

  it("refuses a snapshot of another volume, or a volume of the name", () => {
    expect(snapshotIncompatibility(existing({ source: "pvc-9", accessType: "ro" }), plan, source)).toBe(
      "snapshot snap-1 exists of LogicalVolume pvc-9, this request asks for one of volume uid-1 (LogicalVolume pvc-1)",
    );
    expect(snapshotIncompatibility(existing({}), plan, source)).toBe("LogicalVolume snap-1 exists and is a volume, not a snapshot");
  });
});

describe("creationTime and needsThinClass", () => {
  it("reads the resource's creation time (a string from the API, or a Date)", () => {
    // A custom resource read through the API keeps the timestamp as JSON gives it: a string.
    const created: LogicalVolume = { ...source, metadata: Object.assign(new V1ObjectMeta(), { name: "pvc-1", creationTimestamp: "2026-01-02T03:04:05Z" }) };
    expect(creationTime(created, new Date(0))).toEqual({ seconds: 1767323045n, nanos: 0 });
    expect(creationTime(source, new Date(1500))).toEqual({ seconds: 1n, nanos: 500_000_000 });
  });

  it("says that a thin device-class is needed when the node answered Unimplemented", () => {
    const failure = needsThinClass(new ConnectError('node a failed LogicalVolume snap-1: device-class "thick" is thick: thick snapshots are not implemented yet', Code.Unimplemented));
    expect(failure.code).toBe(Code.Unimplemented);
    expect(failure.rawMessage).toMatch(/^snapshots, restores and clones need a thin device-class .*device-class "thick" is thick/);
    const other = new ConnectError("no space", Code.ResourceExhausted);
    expect(needsThinClass(other)).toBe(other);
  });
});
