import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendJson, sendStatus, startTestServer, type TestServer } from "../test/support/test-server.js";
import { KubeApiError, isKubeApiError } from "./kube-api-error.js";
import { createKubeClient, type KubeClient } from "./kube-client.js";
import { KubeRequestError } from "./kube-request-error.js";

let server: TestServer;
let client: KubeClient;
const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "ns" }, data: { k: "v" } };

beforeAll(async () => {
  server = await startTestServer((request, response) => {
    const path = request.url.pathname;
    if (path === "/prefix/api/v1/namespaces/ns/configmaps/missing") {
      sendStatus(response, 404, "NotFound", 'configmaps "missing" not found');
    } else if (path === "/prefix/conflict") {
      sendStatus(response, 409, "Conflict", "the object has been modified; please apply your changes to the latest version");
    } else if (path === "/prefix/long-message") {
      sendStatus(response, 422, "Invalid", "x".repeat(5000));
    } else if (path === "/prefix/proxy-page") {
      response.writeHead(503, { "content-type": "text/html" });
      response.end("<html>upstream unavailable</html>");
    } else if (path === "/prefix/big-declared") {
      sendJson(response, { data: "y".repeat(2000) });
    } else if (path === "/prefix/big-chunked") {
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"data":"');
      response.write("z".repeat(1500));
      response.end('"}');
    } else if (path === "/prefix/not-json") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end("{broken");
    } else if (path === "/prefix/slow") {
      setTimeout(() => {
        sendJson(response, {});
      }, 2000);
    } else if (path === "/prefix/null-items") {
      sendJson(response, { kind: "ConfigMapList", metadata: { resourceVersion: "7" }, items: null });
    } else {
      sendJson(response, { ...cm, echo: { method: request.method } });
    }
  });
  client = createKubeClient({ server: `${server.url}/prefix/`, insecureSkipTlsVerify: false, source: "test" }, { maxResponseBytes: 1024 });
});

afterAll(async () => {
  client.close();
  await server.close();
});

function last() {
  const request = server.requests.at(-1);
  if (request === undefined) {
    throw new Error("no request");
  }
  return request;
}

describe("the JSON verbs", () => {
  it("GETs a path under the server's prefix with a query and parses the object", async () => {
    const got = await client.get<typeof cm>("/api/v1/namespaces/ns/configmaps/a", { query: { pretty: false, skipped: undefined } });
    expect(got.data).toEqual({ k: "v" });
    expect([last().method, last().url.pathname, last().url.search, last().headers.accept]).toEqual([
      "GET",
      "/prefix/api/v1/namespaces/ns/configmaps/a",
      "?pretty=false",
      "application/json",
    ]);
    expect(last().headers["user-agent"]).toBe("topolvm-kube-client");
  });

  it("asks for PartialObjectMetadata with metadataOnly", async () => {
    await client.get("/api/v1/nodes/n", { metadataOnly: true });
    expect(last().headers.accept).toBe("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json");
    await client.list("/api/v1/nodes", { metadataOnly: true });
    expect(last().headers.accept).toBe("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json");
  });

  it("lists with selectors, limit and continue, and reads null items as none", async () => {
    const list = await client.list("/null-items", {
      labelSelector: "app=x",
      fieldSelector: "metadata.name=a",
      limit: 50,
      continue: "token",
    });
    expect(list).toEqual({ kind: "ConfigMapList", metadata: { resourceVersion: "7" }, items: [] });
    expect(Object.fromEntries(last().url.searchParams)).toEqual({
      labelSelector: "app=x",
      fieldSelector: "metadata.name=a",
      limit: "50",
      continue: "token",
    });
  });

  it("POSTs a create and PUTs a replace with JSON bodies, fieldManager and dryRun", async () => {
    await client.create("/api/v1/namespaces/ns/configmaps", cm, { fieldManager: "me" });
    expect([last().method, last().headers["content-type"], JSON.parse(last().body), last().url.search]).toEqual([
      "POST",
      "application/json",
      cm,
      "?fieldManager=me",
    ]);
    await client.replace("/api/v1/namespaces/ns/configmaps/a/status", cm, { dryRun: true });
    expect([last().method, last().url.pathname, last().url.search]).toEqual([
      "PUT",
      "/prefix/api/v1/namespaces/ns/configmaps/a/status",
      "?dryRun=All",
    ]);
  });

  it.each([
    { type: "merge", contentType: "application/merge-patch+json", search: "?fieldManager=m" },
    { type: "strategic", contentType: "application/strategic-merge-patch+json", search: "?fieldManager=m" },
    { type: "json", contentType: "application/json-patch+json", search: "?fieldManager=m" },
  ] as const)("PATCHes as $type with $contentType", async ({ type, contentType, search }) => {
    const body = type === "json" ? [{ op: "add", path: "/data/x", value: "1" }] : { data: { x: "1" } };
    await client.patch("/api/v1/namespaces/ns/configmaps/a", body, { type, fieldManager: "m" });
    expect([last().method, last().headers["content-type"], JSON.parse(last().body), last().url.search]).toEqual([
      "PATCH",
      contentType,
      body,
      search,
    ]);
  });

  it("applies server-side with the field manager and force", async () => {
    await client.patch("/api/v1/namespaces/ns/configmaps/a", cm, { type: "apply", fieldManager: "topolvm", force: true });
    expect([last().headers["content-type"], last().url.search]).toEqual([
      "application/apply-patch+yaml",
      "?fieldManager=topolvm&force=true",
    ]);
  });

  it("DELETEs with DeleteOptions: propagation policy and preconditions", async () => {
    const answer = await client.delete("/api/v1/namespaces/ns/configmaps/a", {
      propagationPolicy: "Foreground",
      preconditions: { uid: "u-1", resourceVersion: "9" },
    });
    expect(answer).toMatchObject({ echo: { method: "DELETE" } });
    expect([last().method, JSON.parse(last().body)]).toEqual([
      "DELETE",
      {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: "Foreground",
        preconditions: { uid: "u-1", resourceVersion: "9" },
      },
    ]);
  });
});

describe("errors", () => {
  it("maps an error Status to KubeApiError with the HTTP status and the Status reason", async () => {
    const failed = client.get("/api/v1/namespaces/ns/configmaps/missing");
    await expect(failed).rejects.toBeInstanceOf(KubeApiError);
    await expect(failed).rejects.toMatchObject({
      status: 404,
      reason: "NotFound",
      method: "GET",
      path: "/api/v1/namespaces/ns/configmaps/missing",
      message: 'GET /api/v1/namespaces/ns/configmaps/missing: 404 NotFound: configmaps "missing" not found',
    });
    const conflict = await client.replace("/conflict", cm).catch((error: unknown) => error);
    expect(isKubeApiError(conflict, "Conflict")).toBe(true);
    expect(isKubeApiError(conflict, "NotFound")).toBe(false);
  });

  it("bounds the server's message in the error message but keeps it whole", async () => {
    const error = (await client.create("/long-message", {}).catch((caught: unknown) => caught)) as KubeApiError;
    expect(error.message).toBe(`POST /long-message: 422 Invalid: ${"x".repeat(500)}…`);
    expect(error.serverMessage).toHaveLength(5000);
  });

  it("takes the reason from the status code when the body is no Status", async () => {
    await expect(client.get("/proxy-page")).rejects.toMatchObject({
      status: 503,
      reason: "ServiceUnavailable",
      message: "GET /proxy-page: 503 ServiceUnavailable: <html>upstream unavailable</html>",
    });
  });

  it("refuses a body over maxResponseBytes, by Content-Length and as it streams", async () => {
    await expect(client.get("/big-declared")).rejects.toThrow(
      new KubeRequestError("GET", "/big-declared", "the response exceeds 1024 bytes (maxResponseBytes)"),
    );
    await expect(client.get("/big-chunked")).rejects.toThrow("GET /big-chunked: the response exceeds 1024 bytes");
    // The connection is still usable afterwards.
    await expect(client.get("/ok")).resolves.toMatchObject({ kind: "ConfigMap" });
  });

  it("reports malformed JSON", async () => {
    await expect(client.get("/not-json")).rejects.toThrow(/^GET \/not-json: malformed JSON response: /);
  });

  it("gives up after timeoutMs and names the limit", async () => {
    const started = Date.now();
    await expect(client.get("/slow", { timeoutMs: 200 })).rejects.toThrow("GET /slow: no response within 200 ms");
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("rejects with the signal's reason when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = client.get("/slow", { signal: controller.signal });
    setTimeout(() => {
      controller.abort(new Error("stopping"));
    }, 100);
    await expect(pending).rejects.toThrow("stopping");
    await expect(client.get("/ok", { signal: AbortSignal.abort(new Error("already")) })).rejects.toThrow("already");
  });

  it("names the request when the server cannot be reached", async () => {
    const unreachable = createKubeClient({ server: "http://127.0.0.1:1", insecureSkipTlsVerify: false, source: "test" });
    const error = (await unreachable.get("/api/v1/nodes?limit=1").catch((caught: unknown) => caught)) as KubeRequestError;
    expect(error).toBeInstanceOf(KubeRequestError);
    expect(error.message).toMatch(/^GET \/api\/v1\/nodes: .*ECONNREFUSED/);
    expect((error.cause as { code?: string }).code).toBe("ECONNREFUSED");
    unreachable.close();
  });
});
