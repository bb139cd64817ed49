import { createInformer, isKubeApiError, type Informer, type KubeClient } from "@topolvm/kube-client";
import { withoutManagedFields } from "../informer.js";
import {
  logicalVolumeApiVersion,
  logicalVolumeGroup,
  logicalVolumeKind,
  logicalVolumePlural,
  logicalVolumeVersion,
  type LogicalVolume,
  type LogicalVolumeSpec,
  type LogicalVolumeStatus,
} from "./logical-volume.js";

/** An informer over LogicalVolumes with its cache. */
export type LogicalVolumeInformer = Informer<LogicalVolume>;

/**
 * The one client that reads and writes LogicalVolumes. Writes that depend on what was read carry its
 * resourceVersion, so a concurrent change makes them fail with 409 instead of being overwritten.
 */
export interface LogicalVolumeClient {
  /** The resource of that name, or undefined when there is none. */
  get(name: string): Promise<LogicalVolume | undefined>;
  /** Every LogicalVolume, or those of one node. */
  list(options?: { nodeName?: string }): Promise<LogicalVolume[]>;
  /** Creates the resource; rejects with a KubeApiError 409 (AlreadyExists) when one of that name exists. */
  create(spec: LogicalVolumeSpec, metadata?: { annotations?: Record<string, string> }): Promise<LogicalVolume>;
  /** A JSON merge patch of metadata and spec (not status). */
  patch(name: string, patch: { metadata?: object; spec?: Partial<LogicalVolumeSpec> }): Promise<LogicalVolume>;
  /** Replaces the finalizers, guarded by the resourceVersion of `lv`. */
  setFinalizers(lv: LogicalVolume, finalizers: string[]): Promise<LogicalVolume>;
  /** Replaces the status (status subresource), guarded by the resourceVersion of `lv`. */
  setStatus(lv: LogicalVolume, status: LogicalVolumeStatus): Promise<LogicalVolume>;
  /** Deletes the resource; resolves false when it did not exist. */
  delete(name: string): Promise<boolean>;
  /** An informer (not started) over every LogicalVolume, or those of one node (a field selector on spec.nodeName). */
  informer(options?: { nodeName?: string }): LogicalVolumeInformer;
}

/** Whether an error is the API server's answer with that HTTP status (404 NotFound, 409 Conflict or AlreadyExists...). */
export function isApiStatus(error: unknown, status: number): boolean {
  return isKubeApiError(error) && error.status === status;
}

/** The client over kube-client's `kube`; writes are recorded as `fieldManager`'s. */
export function createLogicalVolumeClient(kube: KubeClient, fieldManager: string): LogicalVolumeClient {
  const path = `/apis/${logicalVolumeGroup}/${logicalVolumeVersion}/${logicalVolumePlural}`;
  const pathOf = (name: string): string => `${path}/${encodeURIComponent(name)}`;
  const fieldSelectorOf = (nodeName: string | undefined): { fieldSelector?: string } =>
    nodeName === undefined ? {} : { fieldSelector: `spec.nodeName=${nodeName}` };

  return {
    async get(name) {
      try {
        return await kube.get<LogicalVolume>(pathOf(name));
      } catch (error) {
        if (isApiStatus(error, 404)) {
          return undefined;
        }
        throw error;
      }
    },
    async list(options = {}) {
      return (await kube.list<LogicalVolume>(path, fieldSelectorOf(options.nodeName))).items;
    },
    create(spec, metadata = {}) {
      const body = {
        apiVersion: logicalVolumeApiVersion,
        kind: logicalVolumeKind,
        metadata: { name: spec.name, ...metadata },
        spec,
      };
      return kube.create<LogicalVolume>(path, body, { fieldManager });
    },
    patch(name, body) {
      return kube.patch<LogicalVolume>(pathOf(name), body, { type: "merge", fieldManager });
    },
    setFinalizers(lv, finalizers) {
      const body = [
        { op: "test", path: "/metadata/resourceVersion", value: lv.metadata.resourceVersion },
        { op: "add", path: "/metadata/finalizers", value: finalizers },
      ];
      return kube.patch<LogicalVolume>(pathOf(lv.metadata.name), body, { type: "json", fieldManager });
    },
    setStatus(lv, status) {
      const body = { ...lv, status };
      return kube.replace<LogicalVolume>(`${pathOf(lv.metadata.name)}/status`, body, { fieldManager });
    },
    async delete(name) {
      try {
        await kube.delete(pathOf(name));
        return true;
      } catch (error) {
        if (isApiStatus(error, 404)) {
          return false;
        }
        throw error;
      }
    },
    informer(options = {}) {
      // Every reader re-reads a resource before writing it; the cache only decides what to look at.
      return createInformer<LogicalVolume>(kube, { path, ...fieldSelectorOf(options.nodeName), transform: withoutManagedFields });
    },
  };
}
