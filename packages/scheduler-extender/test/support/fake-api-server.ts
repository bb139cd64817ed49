import { writeFile } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The part of a Node the fake serves: a name and annotations, plus any bulk a test wants to add. */
export interface FakeNode {
  metadata: { name: string; annotations?: Record<string, string>; resourceVersion?: string };
  [field: string]: unknown;
}

/** A loopback stand-in for kube-apiserver's Node list and watch, enough for the extender's node cache. */
export interface FakeApiServer {
  readonly url: string;
  /** Adds or replaces a Node and sends the watchers an ADDED or MODIFIED event. */
  setNode(node: FakeNode): void;
  deleteNode(name: string): void;
  /** Holds list responses until the returned function is called, to observe a cache that has not synced. */
  holdLists(): () => void;
  /** How many list requests (pages) were served. */
  listRequests(): number;
  /** The Accept headers of every list and watch request so far. */
  accepts(): string[];
  /** Writes a kubeconfig pointing at the fake and returns its path. */
  writeKubeconfig(path: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts the fake on an ephemeral loopback port. */
export async function startFakeApiServer(initial: readonly FakeNode[] = []): Promise<FakeApiServer> {
  let resourceVersion = 1;
  const nodes = new Map<string, FakeNode>();
  const watchers = new Set<ServerResponse>();
  let held: Promise<void> | undefined;
  let lists = 0;
  const acceptHeaders: string[] = [];

  function store(node: FakeNode): FakeNode {
    resourceVersion += 1;
    const stored = { ...node, metadata: { ...node.metadata, resourceVersion: String(resourceVersion) } };
    nodes.set(node.metadata.name, stored);
    return stored;
  }
  // Like kube-apiserver, answer `Accept: ...;as=PartialObjectMetadata...` with the metadata alone.
  const metadataOnly = new WeakSet<ServerResponse>();
  function render(node: FakeNode, response: ServerResponse): Record<string, unknown> {
    return metadataOnly.has(response)
      ? { apiVersion: "meta.k8s.io/v1", kind: "PartialObjectMetadata", metadata: node.metadata }
      : { apiVersion: "v1", kind: "Node", ...node };
  }
  function broadcast(type: string, node: FakeNode): void {
    for (const watcher of watchers) {
      watcher.write(`${JSON.stringify({ type, object: render(node, watcher) })}\n`);
    }
  }
  for (const node of initial) {
    store(node);
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://fake");
    if (url.pathname !== "/api/v1/nodes" || request.method !== "GET") {
      response.writeHead(404, { "content-type": "application/json" });
      response.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 404 }));
      return;
    }
    const accept = request.headers.accept ?? "";
    acceptHeaders.push(accept);
    if (accept.startsWith("application/json;as=PartialObjectMetadata")) {
      metadataOnly.add(response);
    }
    if (url.searchParams.get("watch") === "true") {
      response.writeHead(200, { "content-type": "application/json" });
      response.flushHeaders();
      watchers.add(response);
      response.on("close", () => watchers.delete(response));
      return;
    }
    const serveList = (): void => {
      lists += 1;
      const all = [...nodes.values()];
      const limit = Number(url.searchParams.get("limit") ?? all.length) || all.length;
      const offset = Number(url.searchParams.get("continue") ?? 0);
      const page = all.slice(offset, offset + limit);
      const next = offset + limit < all.length ? String(offset + limit) : undefined;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          apiVersion: "v1",
          kind: "NodeList",
          metadata: { resourceVersion: String(resourceVersion), ...(next === undefined ? {} : { continue: next }) },
          items: page.map((node) => render(node, response)),
        }),
      );
    };
    if (held === undefined) {
      serveList();
    } else {
      void held.then(serveList);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    setNode(node) {
      const existed = nodes.has(node.metadata.name);
      broadcast(existed ? "MODIFIED" : "ADDED", store(node));
    },
    deleteNode(name) {
      const node = nodes.get(name);
      if (node !== undefined) {
        nodes.delete(name);
        resourceVersion += 1;
        broadcast("DELETED", { ...node, metadata: { ...node.metadata, resourceVersion: String(resourceVersion) } });
      }
    },
    holdLists() {
      let release = (): void => undefined;
      held = new Promise<void>((resolve) => {
        release = () => {
          held = undefined;
          resolve();
        };
      });
      return release;
    },
    listRequests: () => lists,
    accepts: () => [...acceptHeaders],
    async writeKubeconfig(path) {
      await writeFile(
        path,
        [
          "apiVersion: v1",
          "kind: Config",
          // client-node refuses plain http unless TLS verification is declared off.
          `clusters: [{name: fake, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]`,
          "users: [{name: fake, user: {}}]",
          "contexts: [{name: fake, context: {cluster: fake, user: fake}}]",
          "current-context: fake",
          "",
        ].join("\n"),
      );
      return path;
    },
    async close() {
      for (const watcher of watchers) {
        watcher.end();
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
