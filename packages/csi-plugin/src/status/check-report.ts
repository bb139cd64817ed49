import { capacityAnnotationPrefix } from "@topolvm/proto/names";
import type { LogicalVolume } from "../logical-volume/logical-volume.js";
import { indexClusterState, namespacedName, type ClusterIndex, type ClusterState, type V1Node, type V1PersistentVolumeClaim, type V1Pod } from "./cluster-state.js";

/** What `topolvm check` flags. */
export type FindingKind =
  | "logicalvolume-node-gone"
  | "logicalvolume-pv-gone"
  | "logicalvolume-claim-gone"
  | "logicalvolume-failed"
  | "claim-pending"
  | "claim-terminating"
  | "node-capacity-stale";

export interface Finding {
  readonly kind: FindingKind;
  /** `LogicalVolume/name`, `PersistentVolumeClaim/namespace/name` or `Node/name`. */
  readonly object: string;
  readonly message: string;
}

export interface CheckOptions {
  readonly now: Date;
  /** How long a claim may be Pending or Terminating, a new volume may lack its PV, and a node's annotations may lag its newest volume before that is flagged; default 60 s. */
  readonly graceMs?: number;
}

/** The field manager topolvm-node writes the Node annotations and the LogicalVolume statuses as. */
const nodeFieldManager = "topolvm-node";

const ageMs = (since: string | Date | undefined, now: Date): number =>
  since === undefined ? 0 : now.getTime() - new Date(since).getTime();

/** A managedFields entry: who changed the object (or its subresource) last, and when. */
interface FieldsEntry {
  readonly manager?: string;
  readonly subresource?: string;
  readonly time?: string | Date;
}

/** When `manager` last changed the object (its subresource's fields when given), from metadata.managedFields. */
function lastWrite(managedFields: readonly FieldsEntry[] | undefined, manager: string, subresource = ""): number | undefined {
  const times = (managedFields ?? [])
    .filter((entry) => entry.manager === manager && (entry.subresource ?? "") === subresource && entry.time !== undefined)
    .map((entry) => new Date(entry.time ?? 0).getTime());
  return times.length === 0 ? undefined : Math.max(...times);
}

function logicalVolumeFindings(lv: LogicalVolume, index: ClusterIndex, now: Date, graceMs: number): Finding[] {
  const object = `LogicalVolume/${lv.metadata.name}`;
  if (!index.nodeNames.has(lv.spec.nodeName)) {
    return [{ kind: "logicalvolume-node-gone", object, message: `node ${lv.spec.nodeName} is gone; its LV cannot be reached (delete the LogicalVolume and its PV to release them)` }];
  }
  const status = lv.status;
  if (status?.code !== undefined && status.code !== 0) {
    return [{ kind: "logicalvolume-failed", object, message: `node ${lv.spec.nodeName} reports code ${String(status.code)}: ${status.message ?? "(no message)"}` }];
  }
  const volumeId = status?.volumeID;
  if (volumeId === undefined || volumeId === "" || lv.metadata.deletionTimestamp !== undefined) {
    return [];
  }
  const pv = index.pvByVolumeId.get(volumeId);
  if (pv === undefined) {
    return ageMs(lv.metadata.creationTimestamp, now) > graceMs
      ? [{ kind: "logicalvolume-pv-gone", object, message: `no PersistentVolume uses volume ${volumeId} on node ${lv.spec.nodeName}` }]
      : [];
  }
  const claimRef = pv.spec?.claimRef;
  const claim = claimRef === undefined ? undefined : `${claimRef.namespace ?? ""}/${claimRef.name ?? ""}`;
  if (claim !== undefined && !index.claimByName.has(claim) && pv.status?.phase !== "Bound") {
    return [{ kind: "logicalvolume-claim-gone", object, message: `claim ${claim} of PersistentVolume ${pv.metadata?.name ?? ""} is gone (PV ${pv.status?.phase ?? "phase unknown"}, reclaim policy ${pv.spec?.persistentVolumeReclaimPolicy ?? "unknown"})` }];
  }
  return [];
}

/** Why a Pending claim waits: its pods' scheduling condition, or that no pod uses it yet. */
function pendingReason(claim: V1PersistentVolumeClaim, pods: readonly V1Pod[]): string {
  const selectedNode = claim.metadata?.annotations?.["volume.kubernetes.io/selected-node"];
  if (selectedNode !== undefined) {
    return `placed on node ${selectedNode}, but no volume was provisioned there yet (see its events: kubectl describe pvc)`;
  }
  if (pods.length === 0) {
    return "no pod uses it (WaitForFirstConsumer: the volume is made where its first pod is placed)";
  }
  const reasons = pods.map((pod) => {
    const scheduled = pod.status?.conditions?.find((condition) => condition.type === "PodScheduled");
    const why = scheduled?.status === "False" ? `${scheduled.reason ?? "Unschedulable"}: ${scheduled.message ?? ""}` : `pod phase ${pod.status?.phase ?? "unknown"}`;
    return `pod ${namespacedName(pod)}: ${why.trim()}`;
  });
  return reasons.join("; ");
}

function claimFindings(claim: V1PersistentVolumeClaim, index: ClusterIndex, now: Date, graceMs: number): Finding[] {
  const name = namespacedName(claim);
  const object = `PersistentVolumeClaim/${name}`;
  const pods = index.podsByClaim.get(name) ?? [];
  if (claim.metadata?.deletionTimestamp !== undefined) {
    if (ageMs(claim.metadata.deletionTimestamp, now) <= graceMs) {
      return [];
    }
    const users = pods.length === 0 ? "" : `; used by ${pods.map(namespacedName).join(", ")}`;
    return [{ kind: "claim-terminating", object, message: `deleted ${formatAge(ageMs(claim.metadata.deletionTimestamp, now))} ago, held by finalizers ${(claim.metadata.finalizers ?? []).join(", ") || "(none)"}${users}` }];
  }
  if (claim.status?.phase === "Pending" && ageMs(claim.metadata?.creationTimestamp, now) > graceMs) {
    return [{ kind: "claim-pending", object, message: `Pending for ${formatAge(ageMs(claim.metadata?.creationTimestamp, now))}: ${pendingReason(claim, pods)}` }];
  }
  return [];
}

function hasCapacityAnnotations(node: V1Node): boolean {
  return Object.keys(node.metadata?.annotations ?? {}).some((key) => key.startsWith(capacityAnnotationPrefix));
}

/**
 * A node's capacity annotations are stale when nothing keeps them current: the node is not Ready (topolvm-node runs
 * under its kubelet), or a volume made on it after topolvm-node last wrote them (every new LV changes its class's
 * free bytes) is older than the grace.
 */
function nodeFindings(node: V1Node, lvs: readonly LogicalVolume[], now: Date, graceMs: number): Finding[] {
  if (!hasCapacityAnnotations(node)) {
    return [];
  }
  const name = node.metadata?.name ?? "";
  const object = `Node/${name}`;
  const ready = node.status?.conditions?.find((condition) => condition.type === "Ready");
  if (ready !== undefined && ready.status !== "True") {
    return [{ kind: "node-capacity-stale", object, message: `node is not Ready (${ready.reason ?? ready.status}): its capacity annotations are not kept current` }];
  }
  const annotated = lastWrite(node.metadata?.managedFields, nodeFieldManager);
  // Only volumes that exist count: a failed one changed no free bytes.
  const made = lvs.filter((lv) => (lv.status?.code ?? 0) === 0 && (lv.status?.volumeID ?? "") !== "");
  const newestVolume = Math.max(0, ...made.map((lv) => lastWrite(lv.metadata.managedFields, nodeFieldManager, "status") ?? 0));
  if (annotated !== undefined && newestVolume - annotated > graceMs && now.getTime() - newestVolume > graceMs) {
    return [{ kind: "node-capacity-stale", object, message: `capacity annotations last written ${formatAge(now.getTime() - annotated)} ago, before its newest volume (${formatAge(now.getTime() - newestVolume)} ago): is topolvm-node running there?` }];
  }
  return [];
}

/** LogicalVolumes whose node, PV or claim is gone or that failed, stuck claims, and nodes with stale capacity. */
export function checkReport(state: ClusterState, options: CheckOptions): Finding[] {
  const graceMs = options.graceMs ?? 60_000;
  const index = indexClusterState(state);
  const findings: Finding[] = [];
  for (const lv of state.logicalVolumes) {
    findings.push(...logicalVolumeFindings(lv, index, options.now, graceMs));
  }
  for (const claim of state.claims) {
    if (index.topolvmStorageClasses.has(claim.spec?.storageClassName ?? "")) {
      findings.push(...claimFindings(claim, index, options.now, graceMs));
    }
  }
  for (const node of state.nodes) {
    const lvs = state.logicalVolumes.filter((lv) => lv.spec.nodeName === node.metadata?.name);
    findings.push(...nodeFindings(node, lvs, options.now, graceMs));
  }
  return findings;
}

/** 45s, 12m, 3h, 2d. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) {
    return `${String(seconds)}s`;
  }
  if (seconds < 7200) {
    return `${String(Math.round(seconds / 60))}m`;
  }
  return seconds < 172_800 ? `${String(Math.round(seconds / 3600))}h` : `${String(Math.round(seconds / 86_400))}d`;
}
