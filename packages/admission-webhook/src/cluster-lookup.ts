/** The fields of a StorageClass the hooks read, as the API sends them (JSON: timestamps are RFC 3339 strings). */
export interface StorageClassInfo {
  readonly metadata?: {
    readonly name?: string;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly creationTimestamp?: string;
  };
  readonly provisioner: string;
  readonly parameters?: Readonly<Record<string, string>>;
}

/** The fields of a PersistentVolumeClaim the pod hook reads. */
export interface ClaimInfo {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly spec?: {
    readonly storageClassName?: string;
    readonly resources?: { readonly requests?: Readonly<Record<string, string>> };
  };
  readonly status?: { readonly phase?: string };
}

/**
 * The cluster state the hooks read. The process serves it from informer caches; tests hand in plain maps. A lookup
 * that cannot answer (caches not synced, API server unreachable) rejects with a LookupUnavailableError.
 */
export interface ClusterLookup {
  /** The StorageClass of that name, or undefined when there is none. */
  storageClass(name: string): Promise<StorageClassInfo | undefined>;
  /** Every StorageClass known, for picking the cluster default. */
  storageClasses(): Promise<readonly StorageClassInfo[]>;
  /** The PVC of that namespace and name, or undefined when there is none. */
  persistentVolumeClaim(namespace: string, name: string): Promise<ClaimInfo | undefined>;
}

/** The cluster state could not be read in time; the request should fail so the API server's failurePolicy decides. */
export class LookupUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LookupUnavailableError";
  }
}
