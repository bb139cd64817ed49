import type { ServerResponse } from "node:http";
import { sendJson, sendStatus, startTestServer, type RecordedRequest, type TestServer } from "./test-server.js";

/** An object the fake stores: a name, maybe a namespace, and whatever else a test puts in. */
export interface FakeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [field: string]: unknown };
  [field: string]: unknown;
}

interface HistoryEntry {
  readonly resourceVersion: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly object: FakeObject;
}

/** A loopback stand-in for one kube-apiserver collection: paged lists, watches from a resourceVersion, expiry. */
export interface FakeCollection {
  readonly server: TestServer;
  readonly path: string;
  /** Adds or replaces an object; open watches see ADDED or MODIFIED unless `quietly` (events a watch missed). */
  put(object: FakeObject, quietly?: boolean): void;
  remove(name: string, namespace?: string, quietly?: boolean): void;
  /** Forgets the history: watches from older versions get ERROR 410, open watches get it now. */
  expire(): void;
  /** Ends the open watches normally, as the server does at their timeoutSeconds. */
  endWatches(): void;
  /** Sends the open watches a BOOKMARK at the current version. */
  bookmark(): void;
  /** The next `count` requests, lists or watches, answer this status. */
  failNext(count: number, code: number): void;
  lists(): RecordedRequest[];
  watches(): RecordedRequest[];
  openWatches(): number;
  close(): Promise<void>;
}

function keyOf(name: string, namespace: string | undefined): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

/** Starts the fake serving `path` (a collection path such as /api/v1/configmaps). */
export async function startFakeCollection(path: string, initial: readonly FakeObject[] = []): Promise<FakeCollection> {
  let version = 1;
  let compactedBefore = 0;
  const objects = new Map<string, FakeObject>();
  let history: HistoryEntry[] = [];
  const watchers = new Set<ServerResponse>();
  let failures: { count: number; code: number } = { count: 0, code: 0 };

  function record(type: HistoryEntry["type"], object: FakeObject, quietly: boolean): void {
    const entry = { resourceVersion: version, type, object };
    history.push(entry);
    if (!quietly) {
      for (const watcher of watchers) {
        watcher.write(`${JSON.stringify({ type, object })}\n`);
      }
    }
  }

  function put(object: FakeObject, quietly = false): void {
    version += 1;
    const key = keyOf(object.metadata.name, object.metadata.namespace);
    const existed = objects.has(key);
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(version) } };
    objects.set(key, stored);
    record(existed ? "MODIFIED" : "ADDED", stored, quietly);
  }
  for (const object of initial) {
    put(object);
  }

  function serveList(request: RecordedRequest, response: ServerResponse): void {
    const all = [...objects.values()];
    const limit = Number(request.url.searchParams.get("limit") ?? all.length) || all.length;
    const offset = Number(request.url.searchParams.get("continue") ?? 0);
    const page = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    sendJson(response, {
      kind: "List",
      apiVersion: "v1",
      metadata: { resourceVersion: String(version), ...(next === undefined ? {} : { continue: next }) },
      items: page,
    });
  }

  function serveWatch(request: RecordedRequest, response: ServerResponse): void {
    response.writeHead(200, { "content-type": "application/json" });
    const from = Number(request.url.searchParams.get("resourceVersion") ?? "0");
    if (from < compactedBefore) {
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", code: 410, reason: "Expired", message: `too old resource version: ${from}` };
      response.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      return;
    }
    for (const entry of history) {
      if (entry.resourceVersion > from) {
        response.write(`${JSON.stringify({ type: entry.type, object: entry.object })}\n`);
      }
    }
    watchers.add(response);
    response.on("close", () => watchers.delete(response));
  }

  const server = await startTestServer((request, response) => {
    if (request.url.pathname !== path || request.method !== "GET") {
      sendStatus(response, 404, "NotFound", `${request.url.pathname} not found`);
      return;
    }
    if (failures.count > 0) {
      failures = { count: failures.count - 1, code: failures.code };
      sendStatus(response, failures.code, "InternalError", "injected failure");
      return;
    }
    if (request.url.searchParams.get("watch") === "true") {
      serveWatch(request, response);
    } else {
      serveList(request, response);
    }
  });

  const isWatch = (request: RecordedRequest): boolean => request.url.searchParams.get("watch") === "true";
  return {
    server,
    path,
    put,
    remove(name, namespace, quietly = false) {
      const key = keyOf(name, namespace);
      const object = objects.get(key);
      if (object !== undefined) {
        objects.delete(key);
        version += 1;
        record("DELETED", { ...object, metadata: { ...object.metadata, resourceVersion: String(version) } }, quietly);
      }
    },
    expire() {
      compactedBefore = version;
      history = [];
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", code: 410, reason: "Expired", message: "compacted" };
      for (const watcher of watchers) {
        watcher.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      }
    },
    endWatches() {
      for (const watcher of watchers) {
        watcher.end();
      }
    },
    bookmark() {
      for (const watcher of watchers) {
        watcher.write(`${JSON.stringify({ type: "BOOKMARK", object: { kind: "ConfigMap", apiVersion: "v1", metadata: { resourceVersion: String(version) } } })}\n`);
      }
    },
    failNext(count, code) {
      failures = { count, code };
    },
    lists: () => server.requests.filter((request) => request.url.pathname === path && !isWatch(request)),
    watches: () => server.requests.filter((request) => request.url.pathname === path && isWatch(request)),
    openWatches: () => watchers.size,
    close: () => server.close(),
  };
}
