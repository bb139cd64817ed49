import type { ClaimInfo, ClusterLookup, StorageClassInfo } from "../../src/cluster-lookup.js";

/** A StorageClass with the given provisioner and parameters. */
export function storageClass(
  name: string,
  provisioner: string,
  parameters: Record<string, string> = {},
  annotations: Record<string, string> = {},
  creationTimestamp = "2026-01-01T00:00:00Z",
): StorageClassInfo {
  return { metadata: { name, annotations, creationTimestamp }, provisioner, parameters };
}

/** A PVC of a StorageClass requesting storage (none when undefined), in the given phase. */
export function claim(
  namespace: string,
  name: string,
  storageClassName: string | undefined,
  storage: string | undefined,
  phase = "Pending",
): ClaimInfo {
  return {
    metadata: { namespace, name },
    spec: {
      ...(storageClassName === undefined ? {} : { storageClassName }),
      resources: storage === undefined ? {} : { requests: { storage } },
    },
    status: { phase },
  };
}

/** A ClusterLookup over fixed objects, counting lookups so tests can check memoization. */
export function fixedLookup(
  storageClasses: readonly StorageClassInfo[],
  claims: readonly ClaimInfo[] = [],
): ClusterLookup & { readonly calls: { storageClass: number; storageClasses: number; claim: number } } {
  const calls = { storageClass: 0, storageClasses: 0, claim: 0 };
  return {
    calls,
    storageClass(name) {
      calls.storageClass += 1;
      return Promise.resolve(storageClasses.find((sc) => sc.metadata?.name === name));
    },
    storageClasses() {
      calls.storageClasses += 1;
      return Promise.resolve(storageClasses);
    },
    persistentVolumeClaim(namespace, name) {
      calls.claim += 1;
      return Promise.resolve(
        claims.find((pvc) => pvc.metadata?.namespace === namespace && pvc.metadata.name === name),
      );
    },
  };
}
