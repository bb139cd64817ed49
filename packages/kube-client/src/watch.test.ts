import type { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../test/support/test-server.js";
import { KubeApiError } from "./kube-api-error.js";
import { createKubeClient, type KubeClient } from "./kube-client.js";
import type { KubeObject } from "./kube-object.js";
import type { WatchEvent } from "./watch.js";

let server: TestServer;
let client: KubeClient;
// Each test scripts what the server writes to its watch.
let script: (response: ServerResponse) => void = (response) => response.end();

beforeAll(async () => {
  server = await startTestServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.flushHeaders();
    script(response);
  });
  client = createKubeClient({ server: server.url, insecureSkipTlsVerify: false, source: "test" }, { maxEventBytes: 256 });
});

afterAll(async () => {
  client.close();
  await server.close();
});

const event = (type: string, name: string, resourceVersion = "1") =>
  JSON.stringify({ type, object: { kind: "ConfigMap", metadata: { name, resourceVersion } } });

async function collect(path = "/api/v1/configmaps", options = {}): Promise<WatchEvent<KubeObject>[]> {
  const events: WatchEvent<KubeObject>[] = [];
  await client.watch<KubeObject>(path, options, (watched) => {
    events.push(watched);
  });
  return events;
}

describe("watch", () => {
  it("sends the watch query and delivers events split across writes until the stream ends", async () => {
    script = (response) => {
      const text = `${event("ADDED", "a")}\n${event("MODIFIED", "a", "2")}\n${event("BOOKMARK", "", "3")}\n${event("DELETED", "a", "4")}\n`;
      response.write(text.slice(0, 30));
      setTimeout(() => {
        response.write(text.slice(30, 100));
        setTimeout(() => response.end(text.slice(100)), 20);
      }, 20);
    };
    const events = await collect("/api/v1/configmaps", {
      resourceVersion: "1",
      labelSelector: "app=x",
      fieldSelector: "metadata.name=a",
      timeoutSeconds: 30,
      allowWatchBookmarks: true,
      metadataOnly: true,
    });
    expect(events.map((watched) => [watched.type, watched.object.metadata?.resourceVersion])).toEqual([
      ["ADDED", "1"],
      ["MODIFIED", "2"],
      ["BOOKMARK", "3"],
      ["DELETED", "4"],
    ]);
    const request = server.requests.at(-1);
    expect(Object.fromEntries(request?.url.searchParams ?? [])).toEqual({
      watch: "true",
      resourceVersion: "1",
      labelSelector: "app=x",
      fieldSelector: "metadata.name=a",
      timeoutSeconds: "30",
      allowWatchBookmarks: "true",
    });
    expect(request?.headers.accept).toBe("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json");
  });

  it("awaits an async handler before the next event", async () => {
    script = (response) => response.end(`${event("ADDED", "a")}\n${event("ADDED", "b")}\n`);
    const seen: string[] = [];
    await client.watch<KubeObject>("/api/v1/configmaps", {}, async (watched) => {
      seen.push(`start ${watched.object.metadata?.name ?? ""}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen.push(`end ${watched.object.metadata?.name ?? ""}`);
    });
    expect(seen).toEqual(["start a", "end a", "start b", "end b"]);
  });

  it("rejects with the ERROR event's code and reason", async () => {
    script = (response) =>
      response.end(
        `${event("ADDED", "a")}\n${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 1 (5)" } })}\n`,
      );
    const failed = collect();
    await expect(failed).rejects.toBeInstanceOf(KubeApiError);
    await expect(failed).rejects.toMatchObject({
      status: 410,
      reason: "Expired",
      message: "GET /api/v1/configmaps: 410 Expired: too old resource version: 1 (5)",
    });
  });

  it("rejects an event over maxEventBytes, malformed JSON and unknown types", async () => {
    script = (response) => response.end(`${JSON.stringify({ type: "ADDED", object: { data: "x".repeat(300) } })}\n`);
    await expect(collect()).rejects.toThrow("GET /api/v1/configmaps: a watch event exceeds 256 bytes (maxEventBytes)");
    script = (response) => response.end("{nope\n");
    await expect(collect()).rejects.toThrow(/^GET \/api\/v1\/configmaps: malformed watch event/);
    script = (response) => response.end(`${event("CHANGED", "a")}\n`);
    await expect(collect()).rejects.toThrow('unknown watch event type "CHANGED"');
  });

  it("passes a handler's error through unchanged", async () => {
    script = (response) => response.end(`${event("ADDED", "a")}\n`);
    const mine = new Error("handler failed");
    await expect(
      client.watch("/api/v1/configmaps", {}, () => {
        throw mine;
      }),
    ).rejects.toBe(mine);
  });

  it("ends on the caller's abort with its reason, and gives up on a watch the server did not end in time", async () => {
    script = (response) => response.write(`${event("ADDED", "a")}\n`);
    const controller = new AbortController();
    const watching = client.watch("/api/v1/configmaps", { signal: controller.signal }, () => {
      controller.abort(new Error("stopped"));
    });
    await expect(watching).rejects.toThrow("stopped");
    const started = Date.now();
    await expect(collect("/api/v1/configmaps", { timeoutSeconds: 0, timeoutMs: 300 })).rejects.toThrow(
      "GET /api/v1/configmaps: not finished within 300 ms",
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
