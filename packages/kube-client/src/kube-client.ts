import type { KubeCredentials } from "./kube-credentials.js";
import type { KubeList, KubeObject, KubeStatus } from "./kube-object.js";
import { KubeRequestError } from "./kube-request-error.js";
import { loadKubeCredentials, type LoadCredentialsOptions } from "./load-credentials.js";
import { readBody } from "./response-body.js";
import { createTransport, shownPath, type HttpMethod, type Query, type TransportOptions } from "./transport.js";
import { watchPath, type WatchEvent, type WatchOptions } from "./watch.js";

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** Time allowed for the whole request, body included; default the client's timeoutMs. */
  readonly timeoutMs?: number;
}

export interface GetOptions extends RequestOptions {
  readonly query?: Query;
  /** Ask for PartialObjectMetadata: the object's apiVersion, kind and metadata only. */
  readonly metadataOnly?: boolean;
}

export interface ListOptions extends RequestOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Items per page; the next page is asked for with the response's metadata.continue. */
  readonly limit?: number;
  readonly continue?: string;
  readonly resourceVersion?: string;
  /** Ask for a PartialObjectMetadataList: the items' apiVersion, kind and metadata only. */
  readonly metadataOnly?: boolean;
  readonly query?: Query;
}

export interface WriteOptions extends RequestOptions {
  readonly fieldManager?: string;
  /** Validate and admit, but do not persist (dryRun=All). */
  readonly dryRun?: boolean;
}

/** The patch formats: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902), server-side apply. */
export type PatchType = "merge" | "strategic" | "json" | "apply";

export type PatchOptions = RequestOptions &
  (
    | { readonly type: "merge" | "strategic" | "json"; readonly fieldManager?: string; readonly dryRun?: boolean }
    | {
        readonly type: "apply";
        /** Server-side apply records the fields as this manager's. */
        readonly fieldManager: string;
        /** Take over fields other managers own instead of failing with a Conflict. */
        readonly force?: boolean;
        readonly dryRun?: boolean;
      }
  );

export interface DeleteOptions extends RequestOptions {
  readonly propagationPolicy?: "Foreground" | "Background" | "Orphan";
  /** Delete only if the object still has this uid and/or resourceVersion (else 409 Conflict). */
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly gracePeriodSeconds?: number;
  readonly dryRun?: boolean;
}

/**
 * A Kubernetes API client over paths (`/api/v1/namespaces/ns/configmaps/name`, `.../status` for the status
 * subresource): JSON in, JSON out, errors as KubeApiError (the server answered with an error status) or
 * KubeRequestError (no usable answer). Objects are returned as parsed, unvalidated: `T` is the caller's claim.
 */
export interface KubeClient {
  readonly server: string;
  /** The kubeconfig context's namespace or the service account's, if any. */
  readonly namespace: string | undefined;
  get<T = unknown>(path: string, options?: GetOptions): Promise<T>;
  list<T = unknown>(path: string, options?: ListOptions): Promise<KubeList<T>>;
  create<T = unknown>(path: string, body: unknown, options?: WriteOptions): Promise<T>;
  /** PUT: replaces the object; its metadata.resourceVersion, when set, must be current (else 409 Conflict). */
  replace<T = unknown>(path: string, body: unknown, options?: WriteOptions): Promise<T>;
  patch<T = unknown>(path: string, body: unknown, options: PatchOptions): Promise<T>;
  /** Resolves with what the server answers: the object (still there while finalizers run) or a Status. */
  delete<T = KubeObject | KubeStatus>(path: string, options?: DeleteOptions): Promise<T>;
  /** Streams a collection's changes; see watchPath. */
  watch<T = unknown>(
    path: string,
    options: WatchOptions,
    onEvent: (event: WatchEvent<T>) => void | Promise<void>,
  ): Promise<void>;
  /** Destroys the client's connections; call it once nothing uses the client any more. */
  close(): void;
}

export interface KubeClientOptions extends TransportOptions {
  /** Default time allowed per request (for a watch: until its response starts); default 30 s. */
  readonly timeoutMs?: number;
  /** Largest response body read; default 32 MiB. List big collections in pages (`limit`). */
  readonly maxResponseBytes?: number;
  /** Largest single watch event; default 16 MiB (etcd stores objects of up to 1.5 MiB by default). */
  readonly maxEventBytes?: number;
}

/**
 * A list as it arrives: items may be null, and are whatever the caller's item type claims (`never` is assignable to
 * it).
 */
interface WireList {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: KubeList<never>["metadata"];
  readonly items?: never[] | null;
}

const jsonAccept = "application/json";
const metadataAccept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
const metadataListAccept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

const patchContentTypes: Readonly<Record<PatchType, string>> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

/** Creates a client for these credentials; connections open with the first request and are kept alive. */
export function createKubeClient(credentials: KubeCredentials, options: KubeClientOptions = {}): KubeClient {
  const transport = createTransport(credentials, options);
  const defaultTimeoutMs = options.timeoutMs ?? 30_000;
  const maxResponseBytes = options.maxResponseBytes ?? 32 * 1024 * 1024;
  const maxEventBytes = options.maxEventBytes ?? 16 * 1024 * 1024;

  async function requestJson<T>(
    method: HttpMethod,
    path: string,
    request: RequestOptions & { query?: Query; accept?: string; body?: unknown; contentType?: string },
  ): Promise<T> {
    const timeoutMs = request.timeoutMs ?? defaultTimeoutMs;
    const shown = shownPath(path);
    const response = await transport.send({
      method,
      path,
      accept: request.accept ?? jsonAccept,
      responseTimeoutMs: timeoutMs,
      totalTimeoutMs: timeoutMs,
      ...(request.query === undefined ? {} : { query: request.query }),
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      ...(request.contentType === undefined ? {} : { contentType: request.contentType }),
      ...(request.signal === undefined ? {} : { signal: request.signal }),
    });
    let body: Buffer;
    try {
      body = await readBody(
        response.message,
        maxResponseBytes,
        () => new KubeRequestError(method, shown, `the response exceeds ${maxResponseBytes} bytes (maxResponseBytes)`),
      );
    } catch (error) {
      throw response.failure(error);
    }
    try {
      return JSON.parse(body.toString("utf8")) as T;
    } catch (error) {
      throw new KubeRequestError(method, shown, `malformed JSON response: ${(error as Error).message}`, { cause: error });
    }
  }

  const dryRun = (options: { dryRun?: boolean }): string | undefined => (options.dryRun === true ? "All" : undefined);

  return {
    server: credentials.server,
    namespace: credentials.namespace,
    get: (path, getOptions = {}) =>
      requestJson("GET", path, {
        ...getOptions,
        ...(getOptions.metadataOnly === true ? { accept: metadataAccept } : {}),
      }),
    async list(path, listOptions = {}) {
      const list = await requestJson<WireList>("GET", path, {
        ...listOptions,
        query: {
          ...listOptions.query,
          labelSelector: listOptions.labelSelector,
          fieldSelector: listOptions.fieldSelector,
          limit: listOptions.limit,
          continue: listOptions.continue,
          resourceVersion: listOptions.resourceVersion,
        },
        ...(listOptions.metadataOnly === true ? { accept: metadataListAccept } : {}),
      });
      // Go encodes an empty list's items as null on some paths.
      return { ...list, metadata: list.metadata ?? {}, items: list.items ?? [] };
    },
    create: (path, body, writeOptions = {}) =>
      requestJson("POST", path, {
        ...writeOptions,
        body,
        query: { fieldManager: writeOptions.fieldManager, dryRun: dryRun(writeOptions) },
      }),
    replace: (path, body, writeOptions = {}) =>
      requestJson("PUT", path, {
        ...writeOptions,
        body,
        query: { fieldManager: writeOptions.fieldManager, dryRun: dryRun(writeOptions) },
      }),
    patch: (path, body, patchOptions) =>
      requestJson("PATCH", path, {
        ...patchOptions,
        body,
        contentType: patchContentTypes[patchOptions.type],
        query: {
          fieldManager: patchOptions.fieldManager,
          dryRun: dryRun(patchOptions),
          force: patchOptions.type === "apply" ? patchOptions.force : undefined,
        },
      }),
    delete: (path, deleteOptions = {}) =>
      requestJson("DELETE", path, {
        ...deleteOptions,
        body: {
          apiVersion: "v1",
          kind: "DeleteOptions",
          ...(deleteOptions.propagationPolicy === undefined ? {} : { propagationPolicy: deleteOptions.propagationPolicy }),
          ...(deleteOptions.preconditions === undefined ? {} : { preconditions: deleteOptions.preconditions }),
          ...(deleteOptions.gracePeriodSeconds === undefined
            ? {}
            : { gracePeriodSeconds: deleteOptions.gracePeriodSeconds }),
          ...(deleteOptions.dryRun === true ? { dryRun: ["All"] } : {}),
        },
      }),
    watch: (path, watchOptions, onEvent) =>
      watchPath(transport, { timeoutMs: defaultTimeoutMs, maxEventBytes }, path, watchOptions, onEvent),
    close() {
      transport.close();
    },
  };
}

/** Finds credentials (see loadKubeCredentials) and creates a client for them. */
export async function connectKube(options: LoadCredentialsOptions & KubeClientOptions = {}): Promise<KubeClient> {
  return createKubeClient(await loadKubeCredentials(options), options);
}
