import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { isKubeApiError } from "@topolvm/kube-client";
import { csi } from "@topolvm/proto";
import { resizeRequestedAtAnnotation } from "@topolvm/proto/names";
import type { Logger } from "pino";
import { describeError } from "../informer.js";
import { createKeyedLock } from "../keyed-lock.js";
import { currentSizeBytes, isDeleting, isSnapshot, specSizeBytes, type LogicalVolume, type LogicalVolumeSpec } from "../logical-volume/logical-volume.js";
import { isApiStatus, type LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import type { LogicalVolumeIndex } from "../logical-volume/logical-volume-index.js";
import { capacityOf, describeDeviceClass, nodeFreeBytes, type NodeLister } from "./capacity.js";
import { placeFromSource } from "./content-source.js";
import { creationTime, needsThinClass, planCreateSnapshot, snapshotIncompatibility, snapshotSpec } from "./create-snapshot.js";
import {
  capabilityProblem,
  chooseNode,
  incompatibility,
  logicalVolumeSpec,
  nodeTopology,
  normaliseSize,
  parseParameters,
  planCreateVolume,
  statusError,
  type MinimumAllocation,
} from "./create-volume.js";

/** How long a call without a deadline waits for a node at most. */
export const DEFAULT_MAX_WAIT_MS = 5 * 60_000;

export interface ControllerServiceOptions {
  /** Writes LogicalVolumes. */
  readonly client: LogicalVolumeClient;
  /** Reads LogicalVolumes and waits for their status. */
  readonly index: LogicalVolumeIndex;
  readonly nodes: NodeLister;
  /** Whether the LogicalVolume and Node caches have synced; calls are Unavailable until then. */
  readonly synced: () => boolean;
  readonly minimumAllocation: MinimumAllocation;
  readonly logger: Logger;
  readonly maxWaitMs?: number;
  readonly now?: () => Date;
}

const invalid = (message: string): ConnectError => new ConnectError(message, Code.InvalidArgument);

/** The CSI code for a failed Kubernetes API call: conflicts are retried (Aborted), outages are Unavailable. */
function kubernetesError(action: string, error: unknown): ConnectError {
  if (error instanceof ConnectError) {
    return error;
  }
  if (isKubeApiError(error)) {
    const { status } = error;
    const code = status === 409 ? Code.Aborted : status === 403 ? Code.PermissionDenied : status >= 500 || status === 429 ? Code.Unavailable : Code.Internal;
    return new ConnectError(`${action}: ${describeError(error)}`, code, undefined, undefined, error);
  }
  return new ConnectError(`${action}: ${describeError(error)}`, Code.Unavailable, undefined, undefined, error);
}

async function api<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw kubernetesError(action, error);
  }
}

/** A size of a resource; an unreadable quantity (written by hand) is Internal. */
function bytesOf(lv: LogicalVolume, read: (lv: LogicalVolume) => bigint | undefined): bigint | undefined {
  try {
    return read(lv);
  } catch (error) {
    throw new ConnectError((error as Error).message, Code.Internal, undefined, undefined, error);
  }
}

/** status.currentSize, or spec.size while the node has reported none. */
const sizeOf = (lv: LogicalVolume): bigint => bytesOf(lv, currentSizeBytes) ?? specSizeOf(lv);
const specSizeOf = (lv: LogicalVolume): bigint => bytesOf(lv, specSizeBytes) ?? 0n;

const unimplemented = (method: string) => (): never => {
  throw new ConnectError(`csi.v1.Controller.${method} is not implemented`, Code.Unimplemented);
};

/**
 * The CSI Controller service over LogicalVolumes: CreateVolume (empty, or restored from a snapshot, or cloned from a
 * volume), DeleteVolume, CreateSnapshot, DeleteSnapshot, ControllerExpandVolume, ValidateVolumeCapabilities,
 * GetCapacity and ControllerGetCapabilities; the rest answer Unimplemented. The decisions are those of
 * create-volume.ts, content-source.ts, create-snapshot.ts and capacity.ts; this adapter reads and writes the
 * resources, waits for the node's answer under the caller's deadline and serialises calls per volume.
 */
export function createControllerService(options: ControllerServiceOptions): ServiceImpl<typeof csi.Controller> {
  const { client, index, nodes, logger, minimumAllocation } = options;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const now = options.now ?? (() => new Date());
  const locks = createKeyedLock();

  function requireSynced(): void {
    if (!options.synced()) {
      throw new ConnectError("the LogicalVolume and Node caches have not synced with the API server yet", Code.Unavailable);
    }
  }

  function signalOf(context: HandlerContext): AbortSignal {
    return context.timeoutMs() === undefined ? AbortSignal.any([context.signal, AbortSignal.timeout(maxWaitMs)]) : context.signal;
  }

  /** Runs a wait; when the call ends first the error says what was being waited for. */
  async function wait<T>(name: string, select: (lv: LogicalVolume | undefined) => T | undefined, signal: AbortSignal, what: string): Promise<T> {
    try {
      return await index.waitFor(name, select, signal);
    } catch (error) {
      if (!signal.aborted || error !== signal.reason) {
        throw error instanceof ConnectError ? error : kubernetesError(`reading LogicalVolume ${name}`, error);
      }
      const reason: unknown = signal.reason;
      const code =
        reason instanceof ConnectError ? reason.code : reason instanceof DOMException && reason.name === "TimeoutError" ? Code.DeadlineExceeded : Code.Canceled;
      throw new ConnectError(`${what}: the call ended before that (${Code[code]}); a retry continues from here`, code);
    }
  }

  /**
   * The LogicalVolume `name`: the existing one when `problemWith` finds it compatible (a retry), else a new one of
   * `spec()` (which may refuse, e.g. when no node has room).
   */
  async function findOrCreate(name: string, spec: () => LogicalVolumeSpec, problemWith: (existing: LogicalVolume) => string | undefined): Promise<LogicalVolume> {
    let existing = index.get(name);
    if (existing === undefined) {
      const wanted = spec();
      try {
        const created = await client.create(wanted);
        logger.info({ logicalVolume: name, node: wanted.nodeName, deviceClass: wanted.deviceClass, size: wanted.size, source: wanted.source }, "LogicalVolume created");
        return created;
      } catch (error) {
        if (!isApiStatus(error, 409)) {
          throw kubernetesError(`creating LogicalVolume ${name}`, error);
        }
      }
      existing = await api(`reading LogicalVolume ${name}`, () => client.get(name));
      if (existing === undefined) {
        throw new ConnectError(`LogicalVolume ${name} was deleted while this call created it; retry`, Code.Aborted);
      }
    }
    if (isDeleting(existing)) {
      throw new ConnectError(`LogicalVolume ${name} is being deleted; retry once it is gone`, Code.Aborted);
    }
    const problem = problemWith(existing);
    if (problem !== undefined) {
      throw new ConnectError(problem, Code.AlreadyExists);
    }
    return existing;
  }

  /**
   * Waits until the node has created the LV of `lv` and answers the resource; a failure the node reported deletes
   * the resource (so a retry starts afresh) and is thrown, passed through `mapFailure`.
   */
  async function awaitCreated(lv: LogicalVolume, signal: AbortSignal, mapFailure: (failure: ConnectError) => ConnectError): Promise<LogicalVolume> {
    const { name, uid } = lv.metadata;
    const { nodeName } = lv.spec;
    const outcome = await wait(
      name,
      (current): { lv: LogicalVolume; failure?: ConnectError } | undefined => {
        if (!sameResource(current, uid) || isDeleting(current)) {
          throw new ConnectError(`LogicalVolume ${name} was deleted before node ${nodeName} created its LV; retry`, Code.Aborted);
        }
        const failure = statusError(current);
        if (failure !== undefined) {
          return { lv: current, failure };
        }
        return (current.status?.volumeID ?? "") === "" ? undefined : { lv: current };
      },
      signal,
      `waiting for node ${nodeName} to create LogicalVolume ${name}`,
    );
    if (outcome.failure !== undefined) {
      await discardFailed(outcome.lv);
      throw mapFailure(outcome.failure);
    }
    return outcome.lv;
  }

  /** Deletes the LogicalVolume of a volume or snapshot id (when `matches` it) and waits until its node removed the LV. */
  async function removeById(id: string, matches: (lv: LogicalVolume) => boolean, signal: AbortSignal): Promise<void> {
    await locks.run(`id/${id}`, signal, async () => {
      const lv = await api(`finding the LogicalVolume of id ${id}`, () => index.findByVolumeId(id));
      if (lv === undefined || !matches(lv)) {
        return;
      }
      const { name } = lv.metadata;
      if (!isDeleting(lv)) {
        await api(`deleting LogicalVolume ${name}`, () => client.delete(name));
        logger.info({ logicalVolume: name, id, node: lv.spec.nodeName, snapshot: isSnapshot(lv) }, "LogicalVolume deleted");
      }
      await wait(
        name,
        (current) => (sameResource(current, lv.metadata.uid) ? undefined : true),
        signal,
        `waiting for node ${lv.spec.nodeName} to remove the LV of LogicalVolume ${name} and its finalizer`,
      );
    });
  }

  /** Deletes a LogicalVolume whose node failed it, so a retry (maybe elsewhere) starts afresh. */
  async function discardFailed(lv: LogicalVolume): Promise<void> {
    try {
      await client.delete(lv.metadata.name);
      logger.info({ logicalVolume: lv.metadata.name, node: lv.spec.nodeName, code: lv.status?.code, message: lv.status?.message }, "LogicalVolume failed on its node; deleted");
    } catch (error) {
      logger.warn({ logicalVolume: lv.metadata.name, err: (error as Error).message }, "deleting a failed LogicalVolume failed");
    }
  }

  const sameResource = (lv: LogicalVolume | undefined, uid: string | undefined): lv is LogicalVolume =>
    lv !== undefined && (uid === undefined || lv.metadata.uid === uid);

  return {
    async createVolume(request, context) {
      const plan = planCreateVolume(request, minimumAllocation);
      requireSynced();
      const signal = signalOf(context);
      const requirements = request.accessibilityRequirements;
      return locks.run(`name/${plan.name}`, signal, async () => {
        let created: LogicalVolume;
        if (plan.source === undefined) {
          created = await findOrCreate(
            plan.name,
            () => logicalVolumeSpec(plan, chooseNode(requirements, nodes, plan.parameters.deviceClass, plan.sizeBytes)),
            (existing) => incompatibility(existing, specSizeOf(existing), plan, requirements),
          );
        } else {
          const { source } = plan;
          const sourceLv = await api(`finding the LogicalVolume of ${source.kind} ${source.id}`, () => index.findByVolumeId(source.id));
          const placement = placeFromSource(
            { source, deviceClass: plan.parameters.deviceClass, sizeBytes: plan.sizeBytes, sizeRequested: plan.sizeRequested, limitBytes: plan.limitBytes },
            sourceLv,
            sourceLv === undefined ? 0n : sizeOf(sourceLv),
            requirements,
          );
          const sized = { ...plan, sizeBytes: placement.sizeBytes };
          created = await findOrCreate(
            plan.name,
            () => logicalVolumeSpec(sized, placement.nodeName, placement.sourceName),
            (existing) => incompatibility(existing, specSizeOf(existing), sized, requirements, placement.sourceName),
          );
        }
        const lv = await awaitCreated(created, signal, plan.source === undefined ? (failure) => failure : needsThinClass);
        return {
          volume: {
            volumeId: lv.status?.volumeID ?? "",
            capacityBytes: sizeOf(lv),
            accessibleTopology: [nodeTopology(lv.spec.nodeName)],
            ...(request.volumeContentSource === undefined ? {} : { contentSource: request.volumeContentSource }),
          },
        };
      });
    },

    async deleteVolume(request, context) {
      const { volumeId } = request;
      if (volumeId === "") {
        throw invalid("volume_id: required, got an empty id");
      }
      requireSynced();
      // A snapshot's id is no volume's: DeleteSnapshot removes it.
      await removeById(volumeId, (lv) => !isSnapshot(lv), signalOf(context));
      return {};
    },

    async createSnapshot(request, context) {
      const plan = planCreateSnapshot(request);
      requireSynced();
      const signal = signalOf(context);
      return locks.run(`name/${plan.name}`, signal, async () => {
        const source = await api(`finding the LogicalVolume of volume ${plan.sourceVolumeId}`, () => index.findByVolumeId(plan.sourceVolumeId));
        if (source === undefined || isDeleting(source)) {
          throw new ConnectError(`source_volume_id: no volume has the id ${JSON.stringify(plan.sourceVolumeId)}`, Code.NotFound);
        }
        const created = await findOrCreate(
          plan.name,
          () => snapshotSpec(plan, source, sizeOf(source)),
          (existing) => snapshotIncompatibility(existing, plan, source),
        );
        const lv = await awaitCreated(created, signal, needsThinClass);
        return {
          snapshot: {
            snapshotId: lv.status?.volumeID ?? "",
            sourceVolumeId: plan.sourceVolumeId,
            sizeBytes: sizeOf(lv),
            creationTime: creationTime(lv, now()),
            readyToUse: true,
          },
        };
      });
    },

    async deleteSnapshot(request, context) {
      const { snapshotId } = request;
      if (snapshotId === "") {
        throw invalid("snapshot_id: required, got an empty id");
      }
      requireSynced();
      await removeById(snapshotId, isSnapshot, signalOf(context));
      return {};
    },

    async controllerExpandVolume(request, context) {
      const { volumeId } = request;
      if (volumeId === "") {
        throw invalid("volume_id: required, got an empty id");
      }
      if (request.capacityRange === undefined) {
        throw invalid("capacity_range: required");
      }
      if (request.capacityRange.requiredBytes === 0n) {
        throw invalid("capacity_range.required_bytes: required for an expansion, got 0");
      }
      const capability = request.volumeCapability;
      const problem = capability === undefined ? undefined : capabilityProblem(capability, "volume_capability");
      if (problem !== undefined) {
        throw invalid(problem);
      }
      const requestedBytes = normaliseSize(request.capacityRange, 0n);
      const nodeExpansionRequired = capability?.accessType.case !== "block";
      requireSynced();
      const signal = signalOf(context);
      return locks.run(`id/${volumeId}`, signal, async () => {
        const lv = await api(`finding the LogicalVolume of volume ${volumeId}`, () => index.findByVolumeId(volumeId));
        if (lv === undefined) {
          throw new ConnectError(`volume ${volumeId}: no LogicalVolume has this volume id`, Code.NotFound);
        }
        const { name } = lv.metadata;
        const { nodeName } = lv.spec;
        if (isDeleting(lv)) {
          throw new ConnectError(`LogicalVolume ${name} is being deleted`, Code.FailedPrecondition);
        }
        const currentBytes = sizeOf(lv);
        if (requestedBytes <= currentBytes) {
          return { capacityBytes: currentBytes, nodeExpansionRequired };
        }
        if (specSizeOf(lv) < requestedBytes) {
          // A retry whose size is already asked for skips the check: the node may have taken part of it already.
          const deviceClass = lv.spec.deviceClass ?? "";
          const dc = describeDeviceClass(deviceClass);
          const node = nodes.get(nodeName);
          const freeBytes = node === undefined ? undefined : nodeFreeBytes(node, deviceClass);
          const wantedBytes = requestedBytes - currentBytes;
          if (freeBytes === undefined) {
            throw new ConnectError(`node ${nodeName} reports no free bytes for ${dc} (no capacity annotation), so volume ${volumeId} cannot grow by ${wantedBytes} bytes`, Code.ResourceExhausted);
          }
          if (freeBytes < wantedBytes) {
            throw new ConnectError(`node ${nodeName}: ${dc} has ${freeBytes} bytes free, ${wantedBytes} wanted to grow volume ${volumeId} from ${currentBytes} to ${requestedBytes} bytes`, Code.ResourceExhausted);
          }
          await api(`raising spec.size of LogicalVolume ${name}`, () =>
            client.patch(name, { metadata: { annotations: { [resizeRequestedAtAnnotation]: now().toISOString() } }, spec: { size: requestedBytes.toString() } }),
          );
          logger.info({ logicalVolume: name, volumeId, node: nodeName, fromBytes: currentBytes.toString(), toBytes: requestedBytes.toString() }, "LogicalVolume size raised");
        }
        // A failure the node reported before this request is not this request's answer.
        const before = { code: lv.status?.code ?? 0, message: lv.status?.message ?? "" };
        const capacityBytes = await wait(
          name,
          (current) => {
            if (!sameResource(current, lv.metadata.uid)) {
              throw new ConnectError(`LogicalVolume ${name} was deleted while it was expanded`, Code.NotFound);
            }
            const size = sizeOf(current);
            if (size >= requestedBytes) {
              return size;
            }
            const failure = statusError(current);
            if (failure !== undefined && (current.status?.code !== before.code || (current.status.message ?? "") !== before.message)) {
              throw failure;
            }
            return undefined;
          },
          signal,
          `waiting for node ${nodeName} to grow LogicalVolume ${name} to ${requestedBytes} bytes`,
        );
        return { capacityBytes, nodeExpansionRequired };
      });
    },

    async validateVolumeCapabilities(request) {
      const { volumeId } = request;
      if (volumeId === "") {
        throw invalid("volume_id: required, got an empty id");
      }
      if (request.volumeCapabilities.length === 0) {
        throw invalid("volume_capabilities: required, got none");
      }
      requireSynced();
      const lv = await api(`finding the LogicalVolume of volume ${volumeId}`, () => index.findByVolumeId(volumeId));
      if (lv === undefined) {
        throw new ConnectError(`volume ${volumeId}: no LogicalVolume has this volume id`, Code.NotFound);
      }
      for (const [i, capability] of request.volumeCapabilities.entries()) {
        const problem = capabilityProblem(capability, `volume_capabilities[${i}]`);
        if (problem !== undefined) {
          return { message: problem };
        }
      }
      let deviceClass: string;
      try {
        deviceClass = parseParameters(request.parameters).deviceClass;
      } catch (error) {
        return { message: error instanceof ConnectError ? error.rawMessage : String(error) };
      }
      const volumeClass = lv.spec.deviceClass ?? "";
      if (Object.keys(request.parameters).length > 0 && deviceClass !== volumeClass) {
        return { message: `volume ${volumeId} is in ${describeDeviceClass(volumeClass)}, the parameters ask for ${describeDeviceClass(deviceClass)}` };
      }
      return {
        confirmed: { volumeContext: request.volumeContext, volumeCapabilities: request.volumeCapabilities, parameters: request.parameters },
        message: "",
      };
    },

    getCapacity(request) {
      const { deviceClass } = parseParameters(request.parameters);
      requireSynced();
      if (request.volumeCapabilities.some((capability) => capabilityProblem(capability, "volume_capabilities") !== undefined)) {
        return { availableCapacity: 0n, maximumVolumeSize: 0n };
      }
      const capacity = capacityOf(nodes, deviceClass, request.accessibleTopology);
      return { availableCapacity: capacity.availableBytes, maximumVolumeSize: capacity.maximumVolumeBytes };
    },

    controllerGetCapabilities() {
      const Type = csi.ControllerServiceCapability_RPC_Type;
      return {
        capabilities: [Type.CREATE_DELETE_VOLUME, Type.GET_CAPACITY, Type.EXPAND_VOLUME, Type.CREATE_DELETE_SNAPSHOT, Type.CLONE_VOLUME].map((type) => ({ type: { case: "rpc" as const, value: { type } } })),
      };
    },

    controllerPublishVolume: unimplemented("ControllerPublishVolume"),
    controllerUnpublishVolume: unimplemented("ControllerUnpublishVolume"),
    listVolumes: unimplemented("ListVolumes"),
    listSnapshots: unimplemented("ListSnapshots"),
    getSnapshot: unimplemented("GetSnapshot"),
    controllerGetVolume: unimplemented("ControllerGetVolume"),
    controllerModifyVolume: unimplemented("ControllerModifyVolume"),
  };
}
