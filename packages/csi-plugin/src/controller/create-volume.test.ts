import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { csi } from "@topolvm/proto";
import { capacityAnnotationPrefix, deviceClassParameter, lvcreateOptionClassParameter, topologyKey } from "@topolvm/proto/names";
import { V1ObjectMeta } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { rejection } from "../../test/connect-rejection.js";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import type { CapacityNode } from "./capacity.js";
import {
  accessTypeOf,
  chooseNode,
  defaultMinimumAllocation,
  incompatibility,
  logicalVolumeSpec,
  normaliseSize,
  parseParameters,
  planCreateVolume,
  statusError,
} from "./create-volume.js";

const Mode = csi.VolumeCapability_AccessMode_Mode;
const GiB = 1n << 30n;
const MiB = 1n << 20n;

const mount = (fsType = "", mode = Mode.SINGLE_NODE_WRITER): MessageInitShape<typeof csi.VolumeCapabilitySchema> => ({
  accessType: { case: "mount", value: { fsType } },
  accessMode: { mode },
});
const block = (mode = Mode.SINGLE_NODE_WRITER): MessageInitShape<typeof csi.VolumeCapabilitySchema> => ({
  accessType: { case: "block", value: {} },
  accessMode: { mode },
});
const request = (init: MessageInitShape<typeof csi.CreateVolumeRequestSchema>): csi.CreateVolumeRequest =>
  create(csi.CreateVolumeRequestSchema, { name: "pvc-A1", volumeCapabilities: [mount()], ...init });
const capabilities = (...init: MessageInitShape<typeof csi.VolumeCapabilitySchema>[]): csi.VolumeCapability[] =>
  init.map((one) => create(csi.VolumeCapabilitySchema, one));
const range = (requiredBytes: bigint, limitBytes = 0n): csi.CapacityRange => create(csi.CapacityRangeSchema, { requiredBytes, limitBytes });

const meta = (name: string): LogicalVolume["metadata"] => Object.assign(new V1ObjectMeta(), { name });


function node(name: string, annotations: Record<string, string>, labels: Record<string, string> = { [topologyKey]: name }): CapacityNode {
  return { metadata: { name, annotations, labels } };
}
function lister(...nodes: CapacityNode[]): { get(name: string): CapacityNode | undefined; list(): readonly CapacityNode[] } {
  return { get: (name) => nodes.find((n) => n.metadata?.name === name), list: () => nodes };
}
const free = (deviceClass: string, bytes: bigint): Record<string, string> => ({ [capacityAnnotationPrefix + deviceClass]: bytes.toString() });
const requirements = (preferred: string[], requisite: string[] = []): csi.TopologyRequirement =>
  create(csi.TopologyRequirementSchema, {
    preferred: preferred.map((n) => ({ segments: { [topologyKey]: n } })),
    requisite: requisite.map((n) => ({ segments: { [topologyKey]: n } })),
  });

describe("planCreateVolume", () => {
  it("lowercases the CSI name into the LogicalVolume name", () => {
    expect(planCreateVolume(request({ name: "PVC-AbC" }), defaultMinimumAllocation).name).toBe("pvc-abc");
  });

  it("rejects an empty name, naming the field", () => {
    expect(rejection(() => planCreateVolume(request({ name: "" }), defaultMinimumAllocation))).toEqual({
      code: Code.InvalidArgument,
      message: "name: required, got an empty name",
    });
  });

  it("rejects a name that is no Kubernetes object name once lowercased", () => {
    const { code, message } = rejection(() => planCreateVolume(request({ name: "pvc_1" }), defaultMinimumAllocation));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toContain('name: "pvc_1"');
  });

  it("rejects a request without capabilities", () => {
    expect(rejection(() => planCreateVolume(request({ volumeCapabilities: [] }), defaultMinimumAllocation))).toEqual({
      code: Code.InvalidArgument,
      message: "volume_capabilities: required, got none",
    });
  });

  it("reads a snapshot or volume content source and whether the request named a size", () => {
    const restore = planCreateVolume(request({ capacityRange: range(GiB), volumeContentSource: { type: { case: "snapshot", value: { snapshotId: "s-1" } } } }), defaultMinimumAllocation);
    expect(restore.source).toEqual({ kind: "snapshot", id: "s-1" });
    expect(restore.sizeRequested).toBe(true);
    const clone = planCreateVolume(request({ capacityRange: undefined, volumeContentSource: { type: { case: "volume", value: { volumeId: "v-1" } } } }), defaultMinimumAllocation);
    expect(clone.source).toEqual({ kind: "volume", id: "v-1" });
    expect(clone.sizeRequested).toBe(false);
    expect(planCreateVolume(request({}), defaultMinimumAllocation).source).toBeUndefined();
  });

  it("rejects a content source with an empty id, naming the field", () => {
    expect(rejection(() => planCreateVolume(request({ volumeContentSource: { type: { case: "snapshot", value: { snapshotId: "" } } } }), defaultMinimumAllocation))).toEqual({
      code: Code.InvalidArgument,
      message: "volume_content_source.snapshot.snapshot_id: required, got an empty id",
    });
    expect(rejection(() => planCreateVolume(request({ volumeContentSource: { type: { case: "volume", value: { volumeId: "" } } } }), defaultMinimumAllocation)).message).toBe(
      "volume_content_source.volume.volume_id: required, got an empty id",
    );
  });

  it("raises the size to the minimum of the filesystem (xfs 300Mi) and of block volumes (8Mi)", () => {
    expect(planCreateVolume(request({ volumeCapabilities: [mount("xfs")], capacityRange: range(MiB) }), defaultMinimumAllocation).sizeBytes).toBe(300n * MiB);
    expect(planCreateVolume(request({ volumeCapabilities: [mount("")], capacityRange: range(MiB) }), defaultMinimumAllocation).sizeBytes).toBe(32n * MiB);
    expect(planCreateVolume(request({ volumeCapabilities: [mount("btrfs")], capacityRange: range(MiB) }), defaultMinimumAllocation).sizeBytes).toBe(200n * MiB);
    expect(planCreateVolume(request({ volumeCapabilities: [block()], capacityRange: range(MiB) }), defaultMinimumAllocation).sizeBytes).toBe(8n * MiB);
  });

  it("reads the device-class and lvcreate-option-class parameters", () => {
    const plan = planCreateVolume(
      request({ parameters: { [deviceClassParameter]: "ssd", [lvcreateOptionClassParameter]: "raid1", "csi.storage.k8s.io/pvc/name": "data" } }),
      defaultMinimumAllocation,
    );
    expect(plan.parameters).toEqual({ deviceClass: "ssd", lvcreateOptionClass: "raid1" });
    expect(logicalVolumeSpec(plan, "node-1")).toEqual({
      name: "pvc-a1",
      nodeName: "node-1",
      size: GiB.toString(),
      deviceClass: "ssd",
      lvcreateOptionClass: "raid1",
    });
  });
});

describe("accessTypeOf", () => {
  it("accepts the single-node access modes for mount and block", () => {
    expect(accessTypeOf(capabilities(mount("xfs", Mode.SINGLE_NODE_SINGLE_WRITER)))).toEqual({ kind: "mount", fsType: "xfs" });
    expect(accessTypeOf(capabilities(block(Mode.SINGLE_NODE_MULTI_WRITER)))).toEqual({ kind: "block" });
    expect(accessTypeOf(capabilities(mount("")))).toEqual({ kind: "mount", fsType: "ext4" });
  });

  it("rejects a multi-node access mode, naming the capability and the mode", () => {
    const { code, message } = rejection(() => accessTypeOf(capabilities(mount("", Mode.MULTI_NODE_MULTI_WRITER))));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toContain("volume_capabilities[0].access_mode: MULTI_NODE_MULTI_WRITER is not supported");
  });

  it("rejects an unset access mode and an unset access type", () => {
    expect(rejection(() => accessTypeOf(capabilities({ accessType: { case: "block", value: {} } }))).message).toContain("access_mode: UNKNOWN");
    expect(rejection(() => accessTypeOf(capabilities({ accessMode: { mode: Mode.SINGLE_NODE_WRITER } }))).message).toBe(
      "volume_capabilities[0].access_type: must be block or mount",
    );
  });

  it("rejects an unsupported filesystem, naming it", () => {
    expect(rejection(() => accessTypeOf(capabilities(mount("zfs")))).message).toContain('volume_capabilities[0].mount.fs_type: "zfs" is not supported');
  });

  it("rejects capabilities that disagree on the access type", () => {
    expect(rejection(() => accessTypeOf(capabilities(mount("xfs"), mount("ext4")))).message).toContain(
      "volume_capabilities[1]: asks for a ext4 filesystem but an earlier capability for a xfs filesystem",
    );
  });
});

describe("normaliseSize", () => {
  it("gives 1 GiB when nothing is asked", () => {
    expect(normaliseSize(undefined, 0n)).toBe(GiB);
    expect(normaliseSize(range(0n, 2n * GiB), 0n)).toBe(GiB);
  });

  it("gives the limit rounded down to 4 KiB when nothing is asked and the limit is below 1 GiB", () => {
    expect(normaliseSize(range(0n, 10_000n), 0n)).toBe(8192n);
  });

  it("rounds the request up to a multiple of 4096", () => {
    expect(normaliseSize(range(1n), 0n)).toBe(4096n);
    expect(normaliseSize(range(4096n), 0n)).toBe(4096n);
    expect(normaliseSize(range(GiB + 1n), 0n)).toBe(GiB + 4096n);
  });

  it("raises the request to the minimum", () => {
    expect(normaliseSize(range(MiB), 32n * MiB)).toBe(32n * MiB);
  });

  it("rejects negative sizes and a request above the limit as InvalidArgument", () => {
    expect(rejection(() => normaliseSize(range(-1n), 0n))).toEqual({
      code: Code.InvalidArgument,
      message: "capacity_range.required_bytes: must not be negative, got -1",
    });
    expect(rejection(() => normaliseSize(range(0n, -5n), 0n)).message).toBe("capacity_range.limit_bytes: must not be negative, got -5");
    expect(rejection(() => normaliseSize(range(10n * GiB, GiB), 0n))).toEqual({
      code: Code.InvalidArgument,
      message: `capacity_range: required_bytes ${10n * GiB} exceeds limit_bytes ${GiB}`,
    });
  });

  it("answers OutOfRange when rounding or the minimum exceeds the limit", () => {
    expect(rejection(() => normaliseSize(range(4097n, 5000n), 0n)).code).toBe(Code.OutOfRange);
    expect(rejection(() => normaliseSize(range(MiB, 2n * MiB), 300n * MiB)).code).toBe(Code.OutOfRange);
    expect(rejection(() => normaliseSize(range(0n, 100n), 0n)).code).toBe(Code.OutOfRange);
  });
});

describe("parseParameters", () => {
  it("maps missing parameters to the default class and no option class", () => {
    expect(parseParameters({})).toEqual({ deviceClass: "", lvcreateOptionClass: "" });
  });

  it("ignores the provisioner's csi.storage.k8s.io keys and other tools' keys", () => {
    expect(parseParameters({ "csi.storage.k8s.io/fstype": "xfs", "csi.storage.k8s.io/pvc/namespace": "ns", "example.com/x": "y" })).toEqual({
      deviceClass: "",
      lvcreateOptionClass: "",
    });
  });

  it("rejects an unknown key under the driver's prefix or upstream's topolvm.io", () => {
    expect(rejection(() => parseParameters({ "topolvm.cybozu.com/device_class": "ssd" }))).toEqual({
      code: Code.InvalidArgument,
      message: `parameters: unknown key "topolvm.cybozu.com/device_class" (this driver reads ${deviceClassParameter} and ${lvcreateOptionClassParameter})`,
    });
    expect(rejection(() => parseParameters({ "topolvm.io/device-class": "ssd" })).code).toBe(Code.InvalidArgument);
  });

  it("rejects a class name that cannot be an annotation key", () => {
    expect(rejection(() => parseParameters({ [deviceClassParameter]: "ssd/fast" })).message).toContain('"ssd/fast" is not a valid class name');
  });
});

describe("chooseNode", () => {
  const nodes = lister(node("a", free("ssd", 5n * GiB)), node("b", free("ssd", 9n * GiB)), node("c", free("hdd", 20n * GiB)));

  it("takes the first preferred node, then requisite", () => {
    expect(chooseNode(requirements(["a"], ["b"]), nodes, "ssd", GiB)).toBe("a");
    expect(chooseNode(requirements([], ["b", "a"]), nodes, "ssd", GiB)).toBe("b");
  });

  it("skips segments without the topology key", () => {
    const mixed = create(csi.TopologyRequirementSchema, {
      preferred: [{ segments: { "kubernetes.io/hostname": "x" } }, { segments: { [topologyKey]: "b" } }],
    });
    expect(chooseNode(mixed, nodes, "ssd", GiB)).toBe("b");
  });

  it("rejects requirements that name no node", () => {
    const none = create(csi.TopologyRequirementSchema, { requisite: [{ segments: { zone: "z" } }] });
    expect(rejection(() => chooseNode(none, nodes, "ssd", GiB))).toEqual({
      code: Code.InvalidArgument,
      message: `accessibility_requirements: no preferred or requisite topology holds the key ${topologyKey}`,
    });
  });

  it("without requirements takes the node with the most free bytes of the class", () => {
    expect(chooseNode(undefined, nodes, "ssd", GiB)).toBe("b");
    expect(chooseNode(undefined, nodes, "hdd", GiB)).toBe("c");
  });

  it("reads the default class from the 00default annotation", () => {
    expect(chooseNode(undefined, lister(node("a", free("00default", GiB)), node("b", free("ssd", 9n * GiB))), "", GiB)).toBe("a");
  });

  it("answers ResourceExhausted naming node, class, free and wanted bytes when the node is short", () => {
    expect(rejection(() => chooseNode(requirements(["a"]), nodes, "ssd", 6n * GiB))).toEqual({
      code: Code.ResourceExhausted,
      message: `node a: device-class "ssd" has ${5n * GiB} bytes free, ${6n * GiB} wanted`,
    });
    expect(rejection(() => chooseNode(undefined, nodes, "ssd", 10n * GiB)).message).toBe(
      `node b has the most room for device-class "ssd", ${9n * GiB} bytes free, ${10n * GiB} wanted`,
    );
  });

  it("answers ResourceExhausted naming the class when the node has no such class", () => {
    const { code, message } = rejection(() => chooseNode(requirements(["a"]), nodes, "nvme", GiB));
    expect(code).toBe(Code.ResourceExhausted);
    expect(message).toContain('node a has no device-class "nvme"');
  });

  it("answers ResourceExhausted naming the class when no node has it", () => {
    const { code, message } = rejection(() => chooseNode(undefined, nodes, "nvme", GiB));
    expect(code).toBe(Code.ResourceExhausted);
    expect(message).toContain('no node has device-class "nvme"');
  });

  it("answers ResourceExhausted for a node it does not know", () => {
    expect(rejection(() => chooseNode(requirements(["zz"]), nodes, "ssd", GiB)).code).toBe(Code.ResourceExhausted);
  });

  it("treats an unreadable annotation as missing", () => {
    expect(rejection(() => chooseNode(requirements(["a"]), lister(node("a", { [capacityAnnotationPrefix + "ssd"]: "lots" })), "ssd", GiB)).code).toBe(
      Code.ResourceExhausted,
    );
  });
});

describe("incompatibility", () => {
  const plan = planCreateVolume(request({ capacityRange: range(GiB), parameters: { [deviceClassParameter]: "ssd" } }), defaultMinimumAllocation);
  const existing = (spec: Partial<LogicalVolume["spec"]> = {}): LogicalVolume => ({
    metadata: meta("pvc-a1"),
    spec: { name: "pvc-a1", nodeName: "a", size: GiB.toString(), deviceClass: "ssd", lvcreateOptionClass: "", ...spec },
  });

  it("accepts the same volume again (a retry)", () => {
    expect(incompatibility(existing(), GiB, plan, undefined)).toBeUndefined();
    expect(incompatibility(existing(), GiB, plan, requirements(["b"], ["a", "b"]))).toBeUndefined();
  });

  it("refuses a smaller existing volume, naming both sizes", () => {
    expect(incompatibility(existing(), GiB / 2n, plan, undefined)).toBe(`LogicalVolume pvc-a1 exists with ${GiB / 2n} bytes, this request asks for at least ${GiB}`);
  });

  it("refuses a volume larger than the limit", () => {
    const limited = planCreateVolume(request({ capacityRange: range(GiB, GiB), parameters: { [deviceClassParameter]: "ssd" } }), defaultMinimumAllocation);
    expect(incompatibility(existing(), 2n * GiB, limited, undefined)).toContain("and at most");
  });

  it("refuses another device-class or option class", () => {
    expect(incompatibility(existing({ deviceClass: "hdd" }), GiB, plan, undefined)).toContain('with device-class "hdd"');
    expect(incompatibility(existing({ lvcreateOptionClass: "raid" }), GiB, plan, undefined)).toContain("lvcreate-option-class");
  });

  it("refuses another content source, or one where the request has none", () => {
    expect(incompatibility(existing({ source: "snap-1", accessType: "rw" }), GiB, plan, undefined)).toBe(
      "LogicalVolume pvc-a1 exists with the content source LogicalVolume snap-1, this request asks for none",
    );
    expect(incompatibility(existing({ source: "snap-1", accessType: "rw" }), GiB, plan, undefined, "snap-2")).toContain("asks for LogicalVolume snap-2");
    expect(incompatibility(existing({ source: "snap-1", accessType: "rw" }), GiB, plan, undefined, "snap-1")).toBeUndefined();
  });

  it("writes the source and accessType rw for a restore or clone", () => {
    expect(logicalVolumeSpec(plan, "a", "snap-1")).toMatchObject({ name: "pvc-a1", nodeName: "a", source: "snap-1", accessType: "rw" });
  });

  it("refuses a volume on a node the requirements do not allow", () => {
    expect(incompatibility(existing(), GiB, plan, requirements(["b"], ["b", "c"]))).toBe(
      "LogicalVolume pvc-a1 exists on node a, which the accessibility requirements do not allow (b, c)",
    );
  });
});

describe("statusError", () => {
  const failed = (code: number, message = "no space"): LogicalVolume => ({
    metadata: meta("pvc-a1"),
    spec: { name: "pvc-a1", nodeName: "a", size: "1" },
    status: { code, message },
  });

  it("is undefined while the status is OK", () => {
    expect(statusError(failed(0))).toBeUndefined();
    expect(statusError({ metadata: meta("x"), spec: { name: "x", nodeName: "a", size: "1" } })).toBeUndefined();
  });

  it("carries the node's gRPC code and message", () => {
    const error = statusError(failed(Code.ResourceExhausted));
    expect(error?.code).toBe(Code.ResourceExhausted);
    expect(error?.rawMessage).toBe("node a failed LogicalVolume pvc-a1: no space");
  });

  it("maps an unknown code to Internal", () => {
    const error = statusError(failed(99, "odd"));
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toContain("unknown status code 99: odd");
  });
});
