import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../../tools/eventually.js";
import { startFakeCollection, type FakeCollection, type FakeObject } from "../test/support/fake-collection.js";
import { sendJson, startTestServer } from "../test/support/test-server.js";
import { createInformer, type Informer } from "./informer.js";
import { createKubeClient, type KubeClient } from "./kube-client.js";

interface ConfigMap extends FakeObject {
  data?: Record<string, string>;
}

const path = "/api/v1/configmaps";
const configMap = (name: string, value: string, namespace = "ns"): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace },
  data: { value },
});

let fake: FakeCollection | undefined;
let client: KubeClient | undefined;
let informer: Informer<ConfigMap> | undefined;

afterEach(async () => {
  await informer?.stop();
  client?.close();
  await fake?.close();
  informer = undefined;
  client = undefined;
  fake = undefined;
});

/** Starts a fake collection and an informer over it that records its events as text. */
async function setUp(initial: ConfigMap[], options: { pageSize?: number; initialRetryMs?: number } = {}) {
  const collection = await startFakeCollection(path, initial);
  fake = collection;
  const kube = createKubeClient({ server: collection.server.url, insecureSkipTlsVerify: false, source: "test" });
  client = kube;
  const watched = createInformer<ConfigMap>(kube, { path, watchTimeoutSeconds: 60, ...options });
  informer = watched;
  const events: string[] = [];
  const errors: { message: string; retryInMs: number | undefined }[] = [];
  const value = (object: ConfigMap): string => `${object.metadata.name}=${object.data?.value ?? ""}`;
  watched.on("add", (object) => events.push(`add ${value(object)}`));
  watched.on("update", (object, old) => events.push(`update ${value(old)} -> ${value(object)}`));
  watched.on("delete", (object) => events.push(`delete ${value(object)}`));
  watched.on("synced", () => events.push("synced"));
  watched.on("error", (error, retryInMs) => errors.push({ message: (error as Error).message, retryInMs }));
  return { collection, watched, events, errors };
}

describe("createInformer", () => {
  it("lists in pages, watches from the list's version with bookmarks, and follows adds, updates and deletes", async () => {
    const { collection, watched, events } = await setUp(
      [configMap("a", "1"), configMap("b", "1"), configMap("c", "1"), configMap("d", "1", "other"), configMap("e", "1")],
      { pageSize: 2 },
    );
    expect(watched.synced()).toBe(false);
    watched.start();
    await until("synced", () => Promise.resolve(watched.synced()));
    expect(events).toEqual(["add a=1", "add b=1", "add c=1", "add d=1", "add e=1", "synced"]);
    expect(collection.lists().map((request) => Object.fromEntries(request.url.searchParams))).toEqual([
      { limit: "2" },
      { limit: "2", continue: "2" },
      { limit: "2", continue: "4" },
    ]);
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    expect(Object.fromEntries(collection.watches()[0]?.url.searchParams ?? [])).toEqual({
      watch: "true",
      resourceVersion: "6",
      allowWatchBookmarks: "true",
      timeoutSeconds: "60",
    });

    events.length = 0;
    collection.put(configMap("a", "2"));
    collection.put(configMap("f", "1"));
    collection.remove("b", "ns");
    await until("three events", () => Promise.resolve(events.length === 3));
    expect(events).toEqual(["update a=1 -> a=2", "add f=1", "delete b=1"]);
    expect(watched.get("a", "ns")?.data).toEqual({ value: "2" });
    expect(watched.get("b", "ns")).toBeUndefined();
    expect(watched.get("a")).toBeUndefined();
    expect(watched.list("other").map((object) => object.metadata.name)).toEqual(["d"]);
    expect(watched.list().map((object) => object.metadata.name).sort()).toEqual(["a", "c", "d", "e", "f"]);
  });

  it("renews a watch the server ended from the last version seen (a bookmark's too), without listing again", async () => {
    const { collection, watched, events } = await setUp([configMap("a", "1")]);
    watched.start();
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    collection.put(configMap("a", "2"));
    await until("the update", () => Promise.resolve(events.includes("update a=1 -> a=2")));
    collection.put(configMap("quiet", "1"), true);
    // The bookmark and the end of the watch go down the same stream, in that order: no wait between them.
    collection.bookmark();
    collection.endWatches();
    await until("a second watch", () => Promise.resolve(collection.watches().length === 2 && collection.openWatches() === 1));
    // Version 2 was the list's, 3 the update's, 4 the quiet put's that the bookmark carried.
    expect(collection.watches().map((request) => request.url.searchParams.get("resourceVersion"))).toEqual(["2", "4"]);
    expect(collection.lists()).toHaveLength(1);
    expect(events).not.toContain("add quiet=1");
  });

  it("lists again after 410 Expired, deleting what vanished and updating or adding the rest, as client-go's Replace", async () => {
    const { collection, watched, events, errors } = await setUp([configMap("a", "1"), configMap("b", "1")]);
    watched.start();
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    events.length = 0;
    collection.remove("a", "ns", true);
    collection.put(configMap("b", "2"), true);
    collection.put(configMap("c", "1"), true);
    collection.expire();
    await until("the relist", () => Promise.resolve(events.length === 3));
    expect(events).toEqual(["delete a=1", "update b=1 -> b=2", "add c=1"]);
    expect(collection.lists()).toHaveLength(2);
    expect(errors).toEqual([]);
    expect(watched.list().map((object) => object.metadata.name).sort()).toEqual(["b", "c"]);
  });

  it("restarts after errors with exponential backoff, reset by a success", async () => {
    const { collection, watched, events, errors } = await setUp([configMap("a", "1")], { initialRetryMs: 50 });
    collection.failNext(3, 500);
    watched.start();
    await until("synced", () => Promise.resolve(watched.synced()));
    expect(errors).toEqual([
      { message: "GET /api/v1/configmaps: 500 InternalError: injected failure", retryInMs: 50 },
      { message: "GET /api/v1/configmaps: 500 InternalError: injected failure", retryInMs: 100 },
      { message: "GET /api/v1/configmaps: 500 InternalError: injected failure", retryInMs: 200 },
    ]);
    expect(events).toEqual(["add a=1", "synced"]);
    // Three failed lists and the one that synced.
    expect(collection.lists()).toHaveLength(4);
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    collection.put(configMap("a", "2"));
    await until("the update", () => Promise.resolve(events.includes("update a=1 -> a=2")));
    errors.length = 0;
    collection.failNext(1, 500);
    collection.endWatches();
    await until("the watch again", () => Promise.resolve(collection.watches().length === 3 && collection.openWatches() === 1));
    expect(errors.map((error) => error.retryInMs)).toEqual([50]);
    // The failed watch resumed from its version: no further list.
    expect(collection.lists()).toHaveLength(4);
  });

  it("counts a watch that ends at once without an event as failed", async () => {
    const server = await startTestServer((request, response) => {
      if (request.url.searchParams.get("watch") === "true") {
        response.writeHead(200, { "content-type": "application/json" });
        response.end();
      } else {
        sendJson(response, { metadata: { resourceVersion: "5" }, items: [] });
      }
    });
    const kube = createKubeClient({ server: server.url, insecureSkipTlsVerify: false, source: "test" });
    const watched = createInformer<ConfigMap>(kube, { path, initialRetryMs: 50 });
    const retries: (number | undefined)[] = [];
    watched.on("error", (error, retryInMs) => {
      expect((error as Error).message).toMatch(/^the watch of \/api\/v1\/configmaps ended after \d+ ms without an event$/);
      retries.push(retryInMs);
    });
    watched.start();
    await until("two retries", () => Promise.resolve(retries.length >= 2));
    await watched.stop();
    kube.close();
    await server.close();
    expect(retries.slice(0, 2)).toEqual([50, 100]);
  });

  it("caches and hands over what transform returns", async () => {
    const collection = await startFakeCollection(path, [configMap("a", "big")]);
    fake = collection;
    const kube = createKubeClient({ server: collection.server.url, insecureSkipTlsVerify: false, source: "test" });
    client = kube;
    const names = createInformer(kube, {
      path,
      transform: (object: ConfigMap) => ({ metadata: { name: object.metadata.name, namespace: object.metadata.namespace ?? "" } }),
    });
    const added: unknown[] = [];
    names.on("add", (object) => added.push(object));
    names.start();
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    collection.put(configMap("b", "big"));
    await until("two adds", () => Promise.resolve(added.length === 2));
    expect(added).toEqual([{ metadata: { name: "a", namespace: "ns" } }, { metadata: { name: "b", namespace: "ns" } }]);
    expect(names.get("b", "ns")).toEqual({ metadata: { name: "b", namespace: "ns" } });
    await names.stop();
  });

  it("reports a throwing handler and goes on", async () => {
    const { collection, watched, events, errors } = await setUp([configMap("a", "1")]);
    watched.on("add", (object) => {
      if (object.metadata.name === "bad") {
        throw new Error("handler broke");
      }
    });
    watched.start();
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    collection.put(configMap("bad", "1"));
    collection.put(configMap("good", "1"));
    await until("the good add", () => Promise.resolve(events.includes("add good=1")));
    expect(errors).toEqual([{ message: "handler broke", retryInMs: undefined }]);
    expect(collection.watches()).toHaveLength(1);
  });

  it("stops its open watch, sends nothing more, and lists anew when started again", async () => {
    const { collection, watched } = await setUp([configMap("a", "1")]);
    watched.start();
    await until("the watch", () => Promise.resolve(collection.openWatches() === 1));
    await watched.stop();
    await until("the watch to close", () => Promise.resolve(collection.openWatches() === 0));
    const requests = collection.server.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(collection.server.requests).toHaveLength(requests);
    expect(watched.synced()).toBe(true);
    watched.start();
    await until("a second watch", () => Promise.resolve(collection.openWatches() === 1));
    expect(collection.lists()).toHaveLength(2);
  });
});
