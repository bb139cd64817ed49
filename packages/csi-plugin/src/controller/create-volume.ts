import { Code, ConnectError } from "@connectrpc/connect";
import type { csi } from "@topolvm/proto";
import { deviceClassParameter, driverName, lvcreateOptionClassParameter, topologyKey } from "@topolvm/proto/names";
import type { LogicalVolume, LogicalVolumeSpec } from "../logical-volume/logical-volume.js";
import { describeDeviceClass, nodeFreeBytes, type CapacityNode } from "./capacity.js";

// The numeric values of csi.v1's enums, spelled out so this pure module needs no generated runtime code.
const accessModeNames: Readonly<Record<number, string>> = {
  0: "UNKNOWN",
  1: "SINGLE_NODE_WRITER",
  2: "SINGLE_NODE_READER_ONLY",
  3: "MULTI_NODE_READER_ONLY",
  4: "MULTI_NODE_SINGLE_WRITER",
  5: "MULTI_NODE_MULTI_WRITER",
  6: "SINGLE_NODE_SINGLE_WRITER",
  7: "SINGLE_NODE_MULTI_WRITER",
};

/** Access modes of a local volume: one node, any number of writers on it. */
const supportedAccessModes: ReadonlySet<number> = new Set([1, 6, 7]);

/** LVs are allocated in 4 KiB units at least; sizes are rounded up to it. */
export const sizeAlignmentBytes = 4096n;

/** Size of a volume whose request names none, as upstream. */
export const defaultVolumeBytes = 1n << 30n;

/** The largest size a CSI int64 field carries. */
const maxInt64 = (1n << 63n) - 1n;

/** Filesystems the node service formats (empty fsType: ext4). */
export const supportedFilesystems = ["ext4", "xfs", "btrfs"] as const;
export type Filesystem = (typeof supportedFilesystems)[number];

/** The smallest volume created per access type: mkfs of each filesystem needs room for its metadata. */
export interface MinimumAllocation {
  readonly blockBytes: bigint;
  readonly ext4Bytes: bigint;
  readonly xfsBytes: bigint;
  readonly btrfsBytes: bigint;
}

/** Upstream's defaults: block 8Mi, ext4 32Mi, xfs 300Mi, btrfs 200Mi. */
export const defaultMinimumAllocation: MinimumAllocation = {
  blockBytes: 8n << 20n,
  ext4Bytes: 32n << 20n,
  xfsBytes: 300n << 20n,
  btrfsBytes: 200n << 20n,
};

/** How a volume is accessed, from its capability. */
export type AccessType = { readonly kind: "block" } | { readonly kind: "mount"; readonly fsType: Filesystem };

/** The StorageClass parameters the driver reads. */
export interface VolumeParameters {
  /** "" is lvmd's default class. */
  readonly deviceClass: string;
  /** "" is none. */
  readonly lvcreateOptionClass: string;
}

/** What CreateVolume will ask for, before a node is chosen. */
export interface CreatePlan {
  /** metadata.name and spec.name of the LogicalVolume: the CSI name, lowercased. */
  readonly name: string;
  readonly sizeBytes: bigint;
  /** 0 when the caller set no limit. */
  readonly limitBytes: bigint;
  readonly parameters: VolumeParameters;
  readonly accessType: AccessType;
  /** Whether the capacity range asked for a size; a restore or clone without one takes its source's size. */
  readonly sizeRequested: boolean;
  /** The snapshot or volume to copy; undefined for an empty volume. */
  readonly source: ContentSource | undefined;
}

const invalid = (message: string): ConnectError => new ConnectError(message, Code.InvalidArgument);

/** What a new volume is made from: a snapshot (a restore) or another volume (a clone), by CSI id. */
export interface ContentSource {
  readonly kind: "snapshot" | "volume";
  readonly id: string;
}

/** The field path of a source's id, for messages. */
export function sourceField(source: ContentSource): string {
  return source.kind === "snapshot" ? "volume_content_source.snapshot.snapshot_id" : "volume_content_source.volume.volume_id";
}

/** The content source of a CreateVolumeRequest, undefined for an empty volume; an empty id is InvalidArgument. */
export function contentSourceOf(source: csi.VolumeContentSource | undefined): ContentSource | undefined {
  const type = source?.type;
  if (type?.case === undefined) {
    return undefined;
  }
  const parsed: ContentSource = type.case === "snapshot" ? { kind: "snapshot", id: type.value.snapshotId } : { kind: "volume", id: type.value.volumeId };
  if (parsed.id === "") {
    throw new ConnectError(`${sourceField(parsed)}: required, got an empty id`, Code.InvalidArgument);
  }
  return parsed;
}

/** Why a capability is not supported, or undefined when it is (the reason names `field` and the value). */
export function capabilityProblem(capability: csi.VolumeCapability, field: string): string | undefined {
  const { accessType, accessMode } = capability;
  if (accessType.case === undefined) {
    return `${field}.access_type: must be block or mount`;
  }
  if (accessType.case === "mount" && parseFsType(accessType.value.fsType) === undefined) {
    return `${field}.mount.fs_type: ${JSON.stringify(accessType.value.fsType)} is not supported (supported: ${supportedFilesystems.join(", ")}; empty is ext4)`;
  }
  const mode = accessMode?.mode ?? 0;
  if (!supportedAccessModes.has(mode)) {
    return `${field}.access_mode: ${accessModeNames[mode] ?? String(mode)} is not supported (a TopoLVM volume is local to one node: SINGLE_NODE_WRITER, SINGLE_NODE_SINGLE_WRITER or SINGLE_NODE_MULTI_WRITER)`;
  }
  return undefined;
}

function parseFsType(fsType: string): Filesystem | undefined {
  const name = fsType === "" ? "ext4" : fsType;
  return supportedFilesystems.find((fs) => fs === name);
}

/**
 * Checks every capability and returns the access type the volume is created for: block when any capability asks
 * for a block device, otherwise the filesystem of the mount capabilities (which must agree).
 */
export function accessTypeOf(capabilities: readonly csi.VolumeCapability[]): AccessType {
  if (capabilities.length === 0) {
    throw invalid("volume_capabilities: required, got none");
  }
  let accessType: AccessType | undefined;
  capabilities.forEach((capability, index) => {
    const field = `volume_capabilities[${index}]`;
    const problem = capabilityProblem(capability, field);
    if (problem !== undefined) {
      throw invalid(problem);
    }
    const next: AccessType =
      capability.accessType.case === "mount" ? { kind: "mount", fsType: parseFsType(capability.accessType.value.fsType) ?? "ext4" } : { kind: "block" };
    if (accessType !== undefined && (accessType.kind !== next.kind || (accessType.kind === "mount" && next.kind === "mount" && accessType.fsType !== next.fsType))) {
      throw invalid(`${field}: asks for ${describeAccessType(next)} but an earlier capability for ${describeAccessType(accessType)}; a volume has one access type`);
    }
    accessType = next;
  });
  return accessType ?? { kind: "block" };
}

function describeAccessType(accessType: AccessType): string {
  return accessType.kind === "block" ? "a block device" : `a ${accessType.fsType} filesystem`;
}

/** The minimum size for an access type. */
export function minimumBytes(accessType: AccessType, minimum: MinimumAllocation): bigint {
  if (accessType.kind === "block") {
    return minimum.blockBytes;
  }
  const byFs: Readonly<Record<Filesystem, bigint>> = { ext4: minimum.ext4Bytes, xfs: minimum.xfsBytes, btrfs: minimum.btrfsBytes };
  return byFs[accessType.fsType];
}

function roundUp(bytes: bigint): bigint {
  return ((bytes + sizeAlignmentBytes - 1n) / sizeAlignmentBytes) * sizeAlignmentBytes;
}

/**
 * The size to allocate for a capacity range: no request means 1 GiB (or the limit, rounded down to 4 KiB, when the
 * limit is smaller); the request is raised to `minimumBytes` and rounded up to 4 KiB. A malformed range is
 * InvalidArgument; one the result cannot fit is OutOfRange. Both messages name the fields and values.
 */
export function normaliseSize(range: csi.CapacityRange | undefined, minimum: bigint): bigint {
  const requiredBytes = range?.requiredBytes ?? 0n;
  const limitBytes = range?.limitBytes ?? 0n;
  if (requiredBytes < 0n) {
    throw invalid(`capacity_range.required_bytes: must not be negative, got ${requiredBytes}`);
  }
  if (limitBytes < 0n) {
    throw invalid(`capacity_range.limit_bytes: must not be negative, got ${limitBytes}`);
  }
  if (limitBytes > 0n && requiredBytes > limitBytes) {
    throw invalid(`capacity_range: required_bytes ${requiredBytes} exceeds limit_bytes ${limitBytes}`);
  }
  let sizeBytes = requiredBytes;
  if (sizeBytes === 0n) {
    sizeBytes = limitBytes === 0n || limitBytes >= defaultVolumeBytes ? defaultVolumeBytes : (limitBytes / sizeAlignmentBytes) * sizeAlignmentBytes;
  }
  if (sizeBytes < minimum) {
    sizeBytes = minimum;
  }
  sizeBytes = roundUp(sizeBytes);
  if (sizeBytes === 0n || (limitBytes > 0n && sizeBytes > limitBytes)) {
    throw new ConnectError(
      `capacity_range: limit_bytes ${limitBytes} cannot hold a volume of ${sizeBytes} bytes (required_bytes ${requiredBytes} raised to the minimum of ${minimum} and rounded up to ${sizeAlignmentBytes}-byte units)`,
      Code.OutOfRange,
    );
  }
  if (sizeBytes > maxInt64) {
    throw new ConnectError(`capacity_range.required_bytes: ${requiredBytes} is too large`, Code.OutOfRange);
  }
  return sizeBytes;
}

const ownPrefixes = [`${driverName}/`, "topolvm.io/"];
const knownParameters: readonly string[] = [deviceClassParameter, lvcreateOptionClassParameter];

/**
 * The device-class and lvcreate-option-class of StorageClass parameters. Keys of the provisioner
 * (`csi.storage.k8s.io/…`, e.g. from --extra-create-metadata) and of other tools are ignored; an unknown key under our
 * own prefix (or upstream's `topolvm.io/`) is InvalidArgument, because it is a typo that would otherwise silently
 * provision into the default class.
 */
export function parseParameters(parameters: Readonly<Record<string, string>>): VolumeParameters {
  for (const key of Object.keys(parameters)) {
    if (ownPrefixes.some((prefix) => key.startsWith(prefix)) && !knownParameters.includes(key)) {
      throw invalid(`parameters: unknown key ${JSON.stringify(key)} (this driver reads ${knownParameters.join(" and ")})`);
    }
  }
  const deviceClass = parameters[deviceClassParameter] ?? "";
  const lvcreateOptionClass = parameters[lvcreateOptionClassParameter] ?? "";
  // A device-class name is the tail of an annotation key: at most 63 characters of [A-Za-z0-9._-].
  for (const [key, value] of [
    [deviceClassParameter, deviceClass],
    [lvcreateOptionClassParameter, lvcreateOptionClass],
  ] as const) {
    if (value !== "" && !/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/.test(value)) {
      throw invalid(`parameters[${JSON.stringify(key)}]: ${JSON.stringify(value)} is not a valid class name (up to 63 letters, digits, '.', '_' or '-')`);
    }
  }
  return { deviceClass, lvcreateOptionClass };
}

/** A Kubernetes object name (DNS subdomain), which the lowercased CSI name becomes. */
const objectNamePattern = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** The LogicalVolume name of a CSI volume or snapshot name (lowercased); an empty or unusable one is InvalidArgument. */
export function objectNameOf(csiName: string): string {
  if (csiName === "") {
    throw invalid("name: required, got an empty name");
  }
  const name = csiName.toLowerCase();
  if (!objectNamePattern.test(name)) {
    throw invalid(`name: ${JSON.stringify(csiName)} lowercased is not a valid Kubernetes object name (up to 253 characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit)`);
  }
  return name;
}

/** Validates a CreateVolumeRequest and computes what to create, before choosing a node. */
export function planCreateVolume(request: csi.CreateVolumeRequest, minimum: MinimumAllocation): CreatePlan {
  const name = objectNameOf(request.name);
  const accessType = accessTypeOf(request.volumeCapabilities);
  const source = contentSourceOf(request.volumeContentSource);
  const parameters = parseParameters(request.parameters);
  const sizeBytes = normaliseSize(request.capacityRange, minimumBytes(accessType, minimum));
  const limitBytes = request.capacityRange?.limitBytes ?? 0n;
  const sizeRequested = (request.capacityRange?.requiredBytes ?? 0n) > 0n || limitBytes > 0n;
  return { name, sizeBytes, limitBytes, parameters, accessType, sizeRequested, source };
}

/**
 * The LogicalVolume spec for a plan on a node; sizes are written as decimal bytes. A restore or clone names its
 * source LogicalVolume and is writable (`accessType: rw`).
 */
export function logicalVolumeSpec(plan: CreatePlan, nodeName: string, sourceName?: string): LogicalVolumeSpec {
  return {
    name: plan.name,
    nodeName,
    size: plan.sizeBytes.toString(),
    deviceClass: plan.parameters.deviceClass,
    lvcreateOptionClass: plan.parameters.lvcreateOptionClass,
    ...(sourceName === undefined ? {} : { source: sourceName, accessType: "rw" }),
  };
}

/** The node segments of a requirement, preferred first, then requisite. */
export function requestedNodes(requirements: csi.TopologyRequirement): string[] {
  return [...requirements.preferred, ...requirements.requisite].flatMap((topology) => {
    const node = topology.segments[topologyKey];
    return node === undefined || node === "" ? [] : [node];
  });
}

/**
 * The node to create on: the first preferred, else requisite, segment holding the topology key; with no
 * requirements the node with the most free bytes for the device-class. The node must have room for `sizeBytes` by
 * its capacity annotation, else ResourceExhausted (the provisioner then reschedules the pod), naming node, class,
 * free and wanted bytes; a class the node does not report is ResourceExhausted too, naming the class.
 */
export function chooseNode(
  requirements: csi.TopologyRequirement | undefined,
  nodes: { get(name: string): CapacityNode | undefined; list(): readonly CapacityNode[] },
  deviceClass: string,
  sizeBytes: bigint,
): string {
  const dc = describeDeviceClass(deviceClass);
  if (requirements !== undefined && requirements.preferred.length + requirements.requisite.length > 0) {
    const nodeName = requestedNodes(requirements)[0];
    if (nodeName === undefined) {
      throw invalid(`accessibility_requirements: no preferred or requisite topology holds the key ${topologyKey}`);
    }
    const node = nodes.get(nodeName);
    const freeBytes = node === undefined ? undefined : nodeFreeBytes(node, deviceClass);
    if (node === undefined) {
      throw new ConnectError(`node ${nodeName}: no such Node (yet); cannot place ${sizeBytes} bytes of ${dc}`, Code.ResourceExhausted);
    }
    if (freeBytes === undefined) {
      throw new ConnectError(
        `node ${nodeName} has no ${dc} (no capacity annotation for it): check the StorageClass parameter ${deviceClassParameter} and lvmd.yaml on that node`,
        Code.ResourceExhausted,
      );
    }
    if (freeBytes < sizeBytes) {
      throw new ConnectError(`node ${nodeName}: ${dc} has ${freeBytes} bytes free, ${sizeBytes} wanted`, Code.ResourceExhausted);
    }
    return nodeName;
  }
  let best: { name: string; freeBytes: bigint } | undefined;
  for (const node of nodes.list()) {
    const name = node.metadata?.name;
    const freeBytes = nodeFreeBytes(node, deviceClass);
    if (name !== undefined && freeBytes !== undefined && (best === undefined || freeBytes > best.freeBytes)) {
      best = { name, freeBytes };
    }
  }
  if (best === undefined) {
    throw new ConnectError(
      `no node has ${dc} (no Node carries a capacity annotation for it): check the StorageClass parameter ${deviceClassParameter} and lvmd.yaml`,
      Code.ResourceExhausted,
    );
  }
  if (best.freeBytes < sizeBytes) {
    throw new ConnectError(`node ${best.name} has the most room for ${dc}, ${best.freeBytes} bytes free, ${sizeBytes} wanted`, Code.ResourceExhausted);
  }
  return best.name;
}

/**
 * Why an existing LogicalVolume of the plan's name cannot answer this request (AlreadyExists), or undefined when
 * it is the same volume (a retry): its class and option class must match, its size must lie within the range, its
 * content source must be the request's (spec.name of the source LogicalVolume, "" for none), and its node must be
 * one the requirements allow.
 */
export function incompatibility(
  existing: LogicalVolume,
  existingSizeBytes: bigint,
  plan: CreatePlan,
  requirements: csi.TopologyRequirement | undefined,
  sourceName = "",
): string | undefined {
  const { spec } = existing;
  const prefix = `LogicalVolume ${plan.name} exists`;
  if ((spec.deviceClass ?? "") !== plan.parameters.deviceClass) {
    return `${prefix} with ${describeDeviceClass(spec.deviceClass ?? "")}, this request asks for ${describeDeviceClass(plan.parameters.deviceClass)}`;
  }
  if ((spec.lvcreateOptionClass ?? "") !== plan.parameters.lvcreateOptionClass) {
    return `${prefix} with lvcreate-option-class ${JSON.stringify(spec.lvcreateOptionClass ?? "")}, this request asks for ${JSON.stringify(plan.parameters.lvcreateOptionClass)}`;
  }
  if (existingSizeBytes < plan.sizeBytes || (plan.limitBytes > 0n && existingSizeBytes > plan.limitBytes)) {
    const limit = plan.limitBytes > 0n ? ` and at most ${plan.limitBytes}` : "";
    return `${prefix} with ${existingSizeBytes} bytes, this request asks for at least ${plan.sizeBytes}${limit}`;
  }
  const existingSource = spec.source ?? "";
  if (existingSource !== sourceName) {
    const asked = sourceName === "" ? "none" : `LogicalVolume ${sourceName}`;
    return `${prefix} with the content source ${existingSource === "" ? "none" : `LogicalVolume ${existingSource}`}, this request asks for ${asked}`;
  }
  const allowed = requirements === undefined ? [] : requestedNodes(requirements);
  if (allowed.length > 0 && !allowed.includes(spec.nodeName)) {
    return `${prefix} on node ${spec.nodeName}, which the accessibility requirements do not allow (${[...new Set(allowed)].join(", ")})`;
  }
  return undefined;
}

// status.code is a gRPC code number, and Connect's Code enum has gRPC's numbering.
const grpcCodes: ReadonlyMap<number, Code> = new Map(
  [
    Code.Canceled,
    Code.Unknown,
    Code.InvalidArgument,
    Code.DeadlineExceeded,
    Code.NotFound,
    Code.AlreadyExists,
    Code.PermissionDenied,
    Code.ResourceExhausted,
    Code.FailedPrecondition,
    Code.Aborted,
    Code.OutOfRange,
    Code.Unimplemented,
    Code.Internal,
    Code.Unavailable,
    Code.DataLoss,
    Code.Unauthenticated,
  ].map((code) => [code, code]),
);

/** The CSI error for a LogicalVolume whose node reported a failure (status.code ≠ 0), with the node's message. */
export function statusError(lv: LogicalVolume): ConnectError | undefined {
  const code = lv.status?.code ?? 0;
  if (code === 0) {
    return undefined;
  }
  const message = lv.status?.message ?? "";
  const known = grpcCodes.get(code);
  const detail = known === undefined ? `unknown status code ${code}: ${message}` : message;
  return new ConnectError(`node ${lv.spec.nodeName} failed LogicalVolume ${lv.metadata.name}: ${detail}`, known ?? Code.Internal);
}

/** The topology a volume on `nodeName` is reachable from. */
export function nodeTopology(nodeName: string): { segments: Record<string, string> } {
  return { segments: { [topologyKey]: nodeName } };
}
