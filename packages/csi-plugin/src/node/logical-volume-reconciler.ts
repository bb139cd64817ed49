import { Code, ConnectError } from "@connectrpc/connect";
import { logicalVolumeFinalizer, pendingDeletionAnnotation } from "@topolvm/proto/names";
import type { lvmd as lvmdApi } from "@topolvm/proto";
import type { Logger } from "pino";
import { currentSizeBytes, isDeleting, LogicalVolumeSizeError, specSizeBytes, type LogicalVolume, type LogicalVolumeStatus } from "../logical-volume/logical-volume.js";
import { isApiStatus, type LogicalVolumeClient } from "../logical-volume/logical-volume-client.js";
import type { Reconcile } from "../work-queue.js";
import { isTransientLvmdError, toLvmdError, type LvmdClient } from "./lvmd-client.js";
import type { LvOperation, NodeMetrics } from "./metrics.js";

/** What the reconciler does next to a LogicalVolume, decided from the resource alone. */
export type LogicalVolumeStep =
  | { readonly kind: "none"; readonly reason: string }
  | { readonly kind: "add-finalizer" }
  | { readonly kind: "create"; readonly sizeBytes: bigint }
  | { readonly kind: "resize"; readonly sizeBytes: bigint }
  | { readonly kind: "remove" }
  | { readonly kind: "fail"; readonly code: Code; readonly message: string };

/** The next step for `lv` on node `nodeName` (upstream's LogicalVolume controller, one step at a time). */
export function nextStep(lv: LogicalVolume | undefined, nodeName: string): LogicalVolumeStep {
  if (lv === undefined) {
    return { kind: "none", reason: "gone" };
  }
  if (lv.spec.nodeName !== nodeName) {
    return { kind: "none", reason: `on node ${lv.spec.nodeName}` };
  }
  if (lv.metadata.annotations?.[pendingDeletionAnnotation] !== undefined) {
    // The controller is releasing the volumes of a deleted Node; the LV is left alone.
    return { kind: "none", reason: "pending deletion" };
  }
  const finalizers = lv.metadata.finalizers ?? [];
  if (isDeleting(lv)) {
    return finalizers.includes(logicalVolumeFinalizer) ? { kind: "remove" } : { kind: "none", reason: "deleting, not ours" };
  }
  if (!finalizers.includes(logicalVolumeFinalizer)) {
    return { kind: "add-finalizer" };
  }
  const status = lv.status ?? {};
  let sizeBytes: bigint;
  try {
    sizeBytes = specSizeBytes(lv);
  } catch (error) {
    if (!(error instanceof LogicalVolumeSizeError)) {
      throw error;
    }
    return status.code === Code.InvalidArgument && status.message === error.message
      ? { kind: "none", reason: "invalid size recorded" }
      : { kind: "fail", code: Code.InvalidArgument, message: error.message };
  }
  if (status.volumeID === undefined || status.volumeID === "") {
    // A recorded failure is final: the controller deletes the resource and the provisioner retries elsewhere.
    return (status.code ?? 0) === 0 ? { kind: "create", sizeBytes } : { kind: "none", reason: "creation failed" };
  }
  const current = currentSizeBytes(lv);
  return current === undefined || sizeBytes > current ? { kind: "resize", sizeBytes } : { kind: "none", reason: "up to date" };
}

/** The parts of the LogicalVolume client the reconciler uses. */
export type LogicalVolumeAccess = Pick<LogicalVolumeClient, "get" | "setFinalizers" | "setStatus">;

export interface LogicalVolumeReconcilerOptions {
  readonly nodeName: string;
  readonly logicalVolumes: LogicalVolumeAccess;
  readonly lvmd: Pick<LvmdClient, "createLV" | "createLVSnapshot" | "resizeLV" | "removeLV" | "getLVList">;
  readonly logger: Logger;
  readonly metrics?: Pick<NodeMetrics, "countLvOperation">;
  /** Delay before a reconcile whose write lost a resourceVersion race runs again; default 100 ms. */
  readonly conflictRetryMs?: number;
}

/** Steps one reconcile may take (add finalizer, create or adopt, resize): a bound against a step that never settles. */
const MAX_STEPS = 6;

function sameStatus(a: LogicalVolumeStatus, b: LogicalVolumeStatus): boolean {
  return a.volumeID === b.volumeID && a.code === b.code && a.message === b.message && (a.currentSize ?? null) === (b.currentSize ?? null);
}

/**
 * The LogicalVolume controller of topolvm-node: a work-queue reconcile keyed by resource name. It reads the resource
 * fresh (so a write never races a stale cache), then adds the finalizer, creates (or adopts) the LV named by the
 * resource's UID, grows it, or removes it and the finalizer. LVM is the source of truth: an LV of that name found in
 * lvmd is adopted, never created twice, so a node killed at any point converges to exactly one LV. lvmd failures
 * that mean "lvmd is not there" are thrown for the queue's backoff; answers are recorded in the status.
 */
export function createLogicalVolumeReconciler(options: LogicalVolumeReconcilerOptions): Reconcile {
  const { nodeName, logicalVolumes, lvmd, logger, metrics } = options;
  const conflictRetryMs = options.conflictRetryMs ?? 100;

  async function writeStatus(lv: LogicalVolume, change: LogicalVolumeStatus): Promise<LogicalVolume> {
    const status = { ...lv.status, ...change };
    return sameStatus(lv.status ?? {}, status) ? lv : logicalVolumes.setStatus(lv, status);
  }

  /** Runs one lvmd operation, counting and logging it; a transient failure is rethrown, an answer returned. */
  async function operate<T>(operation: LvOperation, lv: LogicalVolume, call: () => Promise<T>): Promise<T | ConnectError> {
    const started = performance.now();
    const fields = context(lv, operation);
    try {
      const result = await call();
      metrics?.countLvOperation(operation, undefined);
      logger.info({ ...fields, durationMs: Math.round(performance.now() - started) }, `${operation} done`);
      return result;
    } catch (caught) {
      const error = toLvmdError(caught);
      metrics?.countLvOperation(operation, error.code);
      const failed = { ...fields, code: Code[error.code], err: error.rawMessage, durationMs: Math.round(performance.now() - started) };
      if (isTransientLvmdError(error)) {
        logger.warn(failed, `${operation}: lvmd unavailable, will retry`);
        throw error;
      }
      logger.info(failed, `${operation} failed`);
      return error;
    }
  }

  function context(lv: LogicalVolume, operation: LvOperation): Record<string, unknown> {
    return { logicalVolume: lv.metadata.name, lv: lv.metadata.uid, deviceClass: lv.spec.deviceClass ?? "", operation };
  }

  async function adopt(lv: LogicalVolume, name: string, sizeBytes: bigint): Promise<LogicalVolume> {
    metrics?.countLvOperation("adopt", undefined);
    logger.info({ ...context(lv, "adopt"), sizeBytes: String(sizeBytes) }, "adopting the LV that already exists");
    return writeStatus(lv, { volumeID: name, code: 0, message: "", currentSize: String(sizeBytes) });
  }

  /** The size of the LV `name` in the resource's device-class, undefined when lvmd does not list it, or lvmd's answer. */
  async function findLv(lv: LogicalVolume, name: string): Promise<bigint | undefined | ConnectError> {
    try {
      const volumes = await lvmd.getLVList(lv.spec.deviceClass ?? "");
      return volumes.find((volume) => volume.name === name)?.sizeBytes;
    } catch (caught) {
      const error = toLvmdError(caught);
      logger.info({ ...context(lv, "create"), code: Code[error.code], err: error.rawMessage }, "listing the device-class failed");
      if (isTransientLvmdError(error)) {
        throw error;
      }
      return error;
    }
  }

  async function createSource(lv: LogicalVolume, source: string): Promise<{ volumeID: string; accessType: string } | ConnectError> {
    const accessType = lv.spec.accessType ?? "";
    if (accessType !== "ro" && accessType !== "rw") {
      return new ConnectError(`spec.accessType must be "ro" or "rw" for a volume with a source, not ${JSON.stringify(accessType)}`, Code.InvalidArgument);
    }
    const sourceLv = await logicalVolumes.get(source);
    const volumeID = sourceLv?.status?.volumeID ?? "";
    if (volumeID === "") {
      // The source may still be on its way; the queue retries with backoff.
      throw new Error(`source LogicalVolume ${source} has no volume yet`);
    }
    return { volumeID, accessType };
  }

  async function create(lv: LogicalVolume, name: string, sizeBytes: bigint): Promise<LogicalVolume> {
    const found = await findLv(lv, name);
    if (typeof found === "bigint") {
      return adopt(lv, name, found);
    }
    const deviceClass = lv.spec.deviceClass ?? "";
    let result: lvmdApi.LogicalVolume | ConnectError;
    if (found instanceof ConnectError) {
      result = found;
    } else if (lv.spec.source !== undefined && lv.spec.source !== "") {
      const source = await createSource(lv, lv.spec.source);
      result =
        source instanceof ConnectError
          ? source
          : await operate("create", lv, () => lvmd.createLVSnapshot({ name, deviceClass, sourceVolume: source.volumeID, accessType: source.accessType, sizeBytes }));
    } else {
      const lvcreateOptionClass = lv.spec.lvcreateOptionClass ?? "";
      result = await operate("create", lv, () => lvmd.createLV({ name, deviceClass, lvcreateOptionClass, sizeBytes }));
    }
    if (result instanceof ConnectError) {
      if (result.code === Code.AlreadyExists) {
        // An LV of this name that lvmd did not list a moment ago (made concurrently, or by a crashed run): ours.
        const again = await findLv(lv, name);
        if (typeof again === "bigint") {
          return adopt(lv, name, again);
        }
      }
      return writeStatus(lv, { code: result.code, message: result.rawMessage });
    }
    return writeStatus(lv, { volumeID: name, code: 0, message: "", currentSize: String(result.sizeBytes) });
  }

  async function resize(lv: LogicalVolume, name: string, sizeBytes: bigint): Promise<LogicalVolume> {
    const deviceClass = lv.spec.deviceClass ?? "";
    const result = await operate("resize", lv, () => lvmd.resizeLV({ name, deviceClass, sizeBytes }));
    if (result instanceof ConnectError) {
      // Recorded so a waiting ControllerExpandVolume fails with this code; the volume itself stays. Retried with backoff,
      // as space may be freed; the next success clears the code.
      await writeStatus(lv, { code: result.code, message: result.rawMessage });
      throw result;
    }
    if (result < sizeBytes) {
      throw new Error(`lvmd resized ${name} to ${result} bytes, below the ${sizeBytes} asked for`);
    }
    return writeStatus(lv, { code: 0, message: "", currentSize: String(result) });
  }

  async function remove(lv: LogicalVolume, name: string): Promise<void> {
    const deviceClass = lv.spec.deviceClass ?? "";
    const result = await operate("remove", lv, () => lvmd.removeLV({ name, deviceClass }));
    if (result instanceof ConnectError && result.code !== Code.NotFound) {
      // The LV is still there (busy, LVM failed): keep the finalizer and retry.
      throw result;
    }
    await logicalVolumes.setFinalizers(
      lv,
      (lv.metadata.finalizers ?? []).filter((finalizer) => finalizer !== logicalVolumeFinalizer),
    );
  }

  async function reconcileOnce(key: string): Promise<void> {
    let lv = await logicalVolumes.get(key);
    for (let steps = 0; steps < MAX_STEPS; steps += 1) {
      const step = nextStep(lv, nodeName);
      if (lv === undefined || step.kind === "none") {
        return;
      }
      const name = lv.metadata.uid;
      if (name === undefined || name === "") {
        throw new Error(`LogicalVolume ${key} has no UID`);
      }
      logger.debug({ logicalVolume: key, step: step.kind }, "reconcile step");
      switch (step.kind) {
        case "add-finalizer":
          lv = await logicalVolumes.setFinalizers(lv, [...(lv.metadata.finalizers ?? []), logicalVolumeFinalizer]);
          break;
        case "create":
          lv = await create(lv, name, step.sizeBytes);
          break;
        case "resize":
          lv = await resize(lv, name, step.sizeBytes);
          break;
        case "remove":
          await remove(lv, name);
          return;
        case "fail":
          logger.info({ logicalVolume: key, code: Code[step.code], err: step.message }, "invalid LogicalVolume");
          await writeStatus(lv, { code: step.code, message: step.message });
          return;
      }
    }
    throw new Error(`LogicalVolume ${key} did not settle in ${MAX_STEPS} steps`);
  }

  return async (key) => {
    try {
      await reconcileOnce(key);
      return undefined;
    } catch (error) {
      if (isApiStatus(error, 409)) {
        // Changed since we read it: read it again. Nothing was lost; lvmd calls are idempotent by name.
        logger.debug({ logicalVolume: key }, "conflict; reading again");
        return { requeueAfterMs: conflictRetryMs };
      }
      if (isApiStatus(error, 404)) {
        return undefined;
      }
      throw error;
    }
  };
}
