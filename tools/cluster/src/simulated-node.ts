import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  StorageV1Api,
  type V1Node,
  type V1NodeCondition,
} from "@kubernetes/client-node";
import { driverName } from "@topolvm/proto/names";


/** Writes of the simulated kubelet are server-side applies under this field manager. */
const fieldManager = "topolvm-ts-simulated-kubelet";
const applyOptions = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
const leaseNamespace = "kube-node-lease";
/** As kubelet: leases last 40 s and are renewed every 10 s, well inside the node lifecycle controller's grace. */
export const leaseDurationSeconds = 40;
export const leaseRenewIntervalMs = 10_000;

/** What a simulated node reports as its resources; quantities in Kubernetes notation. */
export interface NodeResources {
  cpu: string;
  memory: string;
  pods: string;
}

export const defaultNodeResources: NodeResources = { cpu: "8", memory: "32Gi", pods: "110" };

/** The Kubernetes API clients a simulated kubelet needs. */
export interface NodeClients {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  storage: StorageV1Api;
}

export function nodeClients(kubeConfig: KubeConfig): NodeClients {
  return {
    core: kubeConfig.makeApiClient(CoreV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    storage: kubeConfig.makeApiClient(StorageV1Api),
  };
}

/** A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits, which the API server insists on. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Kubernetes Time: RFC 3339 in whole seconds. */
function time(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The conditions of a healthy node, keeping the transition times of `previous` ones (they have not changed). */
function nodeConditions(now: Date, previous: readonly V1NodeCondition[] = []): object[] {
  const at = time(now);
  const condition = (type: string, status: string, reason: string, message: string): object => {
    const before = previous.find((entry) => entry.type === type && entry.status === status)?.lastTransitionTime;
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: at,
      lastTransitionTime: before === undefined ? at : time(new Date(before)),
    };
  };
  return [
    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "simulated kubelet has sufficient memory"),
    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "simulated kubelet has no disk pressure"),
    condition("PIDPressure", "False", "KubeletHasSufficientPID", "simulated kubelet has sufficient PID available"),
    condition("Ready", "True", "KubeletReady", "simulated kubelet is posting ready status"),
  ];
}

function isNotFound(error: unknown): boolean {
  return error instanceof ApiException && error.code === 404;
}

export interface RegisterNodeOptions {
  resources?: NodeResources;
  labels?: Record<string, string>;
  /** Reported as the kubelet version, as a real node would. */
  kubeletVersion: string;
}

/**
 * Registers a node the way kubelet does when it starts: the Node object with its status (capacity, a Ready
 * condition), its Lease in kube-node-lease and an empty CSINode. All three are owned by the Node, so deleting the
 * Node removes the rest. Idempotent.
 */
export async function registerNode(clients: NodeClients, name: string, options: RegisterNodeOptions): Promise<V1Node> {
  const resources = options.resources ?? defaultNodeResources;
  const node = await clients.core.patchNode(
    {
      name,
      fieldManager,
      force: true,
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          labels: {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            ...options.labels,
          },
        },
      },
    },
    applyOptions,
  );
  const ownerReferences = ownedBy(node, name);
  const now = new Date();
  const registered = await applyNodeStatus(clients, name, {
    capacity: resources,
    allocatable: resources,
    conditions: nodeConditions(now),
    addresses: [
      { type: "InternalIP", address: "127.0.0.1" },
      { type: "Hostname", address: name },
    ],
    nodeInfo: {
      machineID: name,
      systemUUID: name,
      bootID: name,
      kernelVersion: "simulated",
      osImage: "topolvm-ts simulated node",
      containerRuntimeVersion: "none://0",
      kubeletVersion: options.kubeletVersion,
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: "amd64",
    },
  });
  await Promise.all([
    applyLease(clients, name, now, ownerReferences),
    clients.storage.patchCSINode(
      {
        name,
        fieldManager,
        force: true,
        body: {
          apiVersion: "storage.k8s.io/v1",
          kind: "CSINode",
          metadata: { name, ownerReferences },
          spec: { drivers: [] },
        },
      },
      applyOptions,
    ),
  ]);
  return registered;
}

/** An owner reference to a Node, as apply JSON. */
interface NodeOwnerReference {
  readonly apiVersion: "v1";
  readonly kind: "Node";
  readonly name: string;
  readonly uid: string;
}

/** Owner references naming the Node, so what is made for it goes when it goes. */
function ownedBy(node: V1Node, name: string): NodeOwnerReference[] {
  const uid = node.metadata?.uid;
  if (uid === undefined) {
    throw new Error(`the API server returned Node ${name} without a uid`);
  }
  return [{ apiVersion: "v1", kind: "Node", name, uid }];
}

/**
 * Server-side applies the part of a Node's status that the simulated kubelet owns (as apply JSON, times as text).
 * An apply drops the fields its manager applied before and leaves out now, so the heartbeat, which sends only the
 * conditions, applies under a manager of its own and the registered capacity and node info stay.
 */
function applyNodeStatus(clients: NodeClients, name: string, status: object, manager = fieldManager): Promise<V1Node> {
  return clients.core.patchNodeStatus(
    { name, fieldManager: manager, force: true, body: { apiVersion: "v1", kind: "Node", metadata: { name }, status } },
    applyOptions,
  );
}

async function applyLease(clients: NodeClients, name: string, now: Date, ownerReferences: NodeOwnerReference[]): Promise<void> {
  await clients.coordination.patchNamespacedLease(
    {
      name,
      namespace: leaseNamespace,
      fieldManager,
      force: true,
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace: leaseNamespace, ownerReferences },
        spec: { holderIdentity: name, leaseDurationSeconds, renewTime: microTime(now) },
      },
    },
    applyOptions,
  );
}

/**
 * Renews a node's Lease (every leaseRenewIntervalMs) and, when refreshStatus is set, the heartbeat of its
 * conditions (kubelet does that every few minutes), so the node lifecycle controller keeps the node Ready and
 * untainted. Returns false when the Node no longer exists.
 */
export async function heartbeat(clients: NodeClients, name: string, refreshStatus: boolean): Promise<boolean> {
  let node: V1Node;
  try {
    node = await clients.core.readNode({ name });
  } catch (error) {
    if (isNotFound(error)) {
      return false;
    }
    throw error;
  }
  const now = new Date();
  await applyLease(clients, name, now, ownedBy(node, name));
  if (refreshStatus) {
    await applyNodeStatus(
      clients,
      name,
      { conditions: nodeConditions(now, node.status?.conditions) },
      `${fieldManager}-heartbeat`,
    );
  }
  return true;
}

/** What a CSI node plugin reports through NodeGetInfo, which kubelet turns into CSINode, labels and annotation. */
export interface CsiNodeInfo {
  /** Defaults to topolvm.cybozu.com. */
  driver?: string;
  nodeId: string;
  /** accessible_topology segments; each becomes a Node label and its key a CSINode topology key. */
  topology: Record<string, string>;
  /** max_volumes_per_node, when the plugin reports a limit. */
  maxVolumesPerNode?: number;
}

/**
 * Does what kubelet's CSI plugin registration does after NodeGetInfo: adds the driver to the node's CSINode
 * (node ID, topology keys, volume limit), labels the Node with the topology segments and records the node ID in
 * the `csi.volume.kubernetes.io/nodeid` annotation.
 */
export async function registerCsiDriver(clients: NodeClients, nodeName: string, info: CsiNodeInfo): Promise<void> {
  const driver = info.driver ?? driverName;
  const node = await clients.core.readNode({ name: nodeName });
  const nodeIdAnnotation = "csi.volume.kubernetes.io/nodeid";
  const existingIds = node.metadata?.annotations?.[nodeIdAnnotation];
  const nodeIds = (existingIds === undefined ? {} : JSON.parse(existingIds)) as Record<string, string>;
  nodeIds[driver] = info.nodeId;
  await clients.core.patchNode(
    {
      name: nodeName,
      fieldManager: `${fieldManager}-${driver}`,
      force: true,
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: nodeName,
          labels: info.topology,
          annotations: { [nodeIdAnnotation]: JSON.stringify(nodeIds) },
        },
      },
    },
    applyOptions,
  );
  // CSINode drivers are a list map keyed by name: applying one entry under a manager of its own leaves the
  // entries of other drivers alone, as kubelet's per-driver registration does.
  await clients.storage.patchCSINode(
    {
      name: nodeName,
      fieldManager: `${fieldManager}-${driver}`,
      force: true,
      body: {
        apiVersion: "storage.k8s.io/v1",
        kind: "CSINode",
        metadata: { name: nodeName },
        spec: {
          drivers: [
            {
              name: driver,
              nodeID: info.nodeId,
              topologyKeys: Object.keys(info.topology),
              ...(info.maxVolumesPerNode === undefined ? {} : { allocatable: { count: info.maxVolumesPerNode } }),
            },
          ],
        },
      },
    },
    applyOptions,
  );
}

/** Deletes a Node; its Lease and CSINode are deleted with it (they are owned by it), and here right away too. */
export async function deleteNode(clients: NodeClients, name: string): Promise<void> {
  const ignoreNotFound = (error: unknown): void => {
    if (!isNotFound(error)) {
      throw error;
    }
  };
  await clients.core.deleteNode({ name }).catch(ignoreNotFound);
  await Promise.all([
    clients.coordination.deleteNamespacedLease({ name, namespace: leaseNamespace }).catch(ignoreNotFound),
    clients.storage.deleteCSINode({ name }).catch(ignoreNotFound),
  ]);
}
