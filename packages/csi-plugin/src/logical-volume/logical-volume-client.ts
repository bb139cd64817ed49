import {
  ApiException,
  CustomObjectsApi,
  type KubeConfig,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type Informer,
  type ObjectCache,
} from "@kubernetes/client-node";
import {
  logicalVolumeApiVersion,
  logicalVolumeGroup,
  logicalVolumeKind,
  logicalVolumePlural,
  logicalVolumeVersion,
  type LogicalVolume,
  type LogicalVolumeList,
  type LogicalVolumeSpec,
  type LogicalVolumeStatus,
} from "./logical-volume.js";

/** An informer over LogicalVolumes with its cache. */
export type LogicalVolumeInformer = Informer<LogicalVolume> & ObjectCache<LogicalVolume>;

/**
 * The one client that reads and writes LogicalVolumes. Writes that depend on what was read carry its
 * resourceVersion, so a concurrent change makes them fail with 409 instead of being overwritten.
 */
export interface LogicalVolumeClient {
  /** The resource of that name, or undefined when there is none. */
  get(name: string): Promise<LogicalVolume | undefined>;
  /** Every LogicalVolume, or those of one node. */
  list(options?: { nodeName?: string }): Promise<LogicalVolume[]>;
  /** Creates the resource; rejects with an ApiException 409 when one of that name exists. */
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

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);

/** Whether an error is the API server's answer with that HTTP status. */
export function isApiStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

export function createLogicalVolumeClient(kubeConfig: KubeConfig, fieldManager: string): LogicalVolumeClient {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const coordinates = { group: logicalVolumeGroup, version: logicalVolumeVersion, plural: logicalVolumePlural };
  const path = `/apis/${logicalVolumeGroup}/${logicalVolumeVersion}/${logicalVolumePlural}`;
  const fieldSelectorOf = (nodeName: string | undefined): string | undefined =>
    nodeName === undefined ? undefined : `spec.nodeName=${nodeName}`;
  const listOf = async (nodeName: string | undefined): Promise<LogicalVolumeList> => {
    const fieldSelector = fieldSelectorOf(nodeName);
    return (await api.listClusterCustomObject({
      ...coordinates,
      ...(fieldSelector === undefined ? {} : { fieldSelector }),
    })) as LogicalVolumeList;
  };

  return {
    async get(name) {
      try {
        return (await api.getClusterCustomObject({ ...coordinates, name })) as LogicalVolume;
      } catch (error) {
        if (isApiStatus(error, 404)) {
          return undefined;
        }
        throw error;
      }
    },
    async list(options = {}) {
      return (await listOf(options.nodeName)).items;
    },
    async create(spec, metadata = {}) {
      const body = {
        apiVersion: logicalVolumeApiVersion,
        kind: logicalVolumeKind,
        metadata: { name: spec.name, ...metadata },
        spec,
      };
      return (await api.createClusterCustomObject({ ...coordinates, body, fieldManager })) as LogicalVolume;
    },
    async patch(name, body) {
      return (await api.patchClusterCustomObject({ ...coordinates, name, body, fieldManager }, mergePatch)) as LogicalVolume;
    },
    async setFinalizers(lv, finalizers) {
      const body = [
        { op: "test", path: "/metadata/resourceVersion", value: lv.metadata.resourceVersion },
        { op: "add", path: "/metadata/finalizers", value: finalizers },
      ];
      return (await api.patchClusterCustomObject({ ...coordinates, name: lv.metadata.name, body, fieldManager }, jsonPatch)) as LogicalVolume;
    },
    async setStatus(lv, status) {
      const body = { ...lv, status };
      return (await api.replaceClusterCustomObjectStatus({
        ...coordinates,
        name: lv.metadata.name,
        body,
        fieldManager,
      })) as LogicalVolume;
    },
    async delete(name) {
      try {
        await api.deleteClusterCustomObject({ ...coordinates, name });
        return true;
      } catch (error) {
        if (isApiStatus(error, 404)) {
          return false;
        }
        throw error;
      }
    },
    informer(options = {}) {
      return new ListWatch<LogicalVolume>(
        path,
        new Watch(kubeConfig),
        () => listOf(options.nodeName),
        false,
        undefined,
        fieldSelectorOf(options.nodeName),
      );
    },
  };
}
