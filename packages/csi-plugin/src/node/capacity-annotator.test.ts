import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { V1Node, V1ObjectMeta } from "@kubernetes/client-node";
import { lvmd } from "@topolvm/proto";
import { nodeFinalizer } from "@topolvm/proto/names";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { capacityAnnotations, nodePatch, startCapacityAnnotator, type CapacityAnnotator, type NodePatch } from "./capacity-annotator.js";
import { createNodeMetrics } from "./metrics.js";

const logger = pino({ level: "silent" });
const GiB = 1n << 30n;
const ssd = "capacity.topolvm.cybozu.com/ssd";
const thin = "capacity.topolvm.cybozu.com/thin";
const fallback = "capacity.topolvm.cybozu.com/00default";

function watchResponse(options: { defaultFree: bigint; ssdFree?: bigint; thinOverprovision?: bigint }): lvmd.WatchResponse {
  const items = [];
  if (options.ssdFree !== undefined) {
    items.push({ deviceClass: "ssd", freeBytes: options.ssdFree, sizeBytes: 100n * GiB });
  }
  if (options.thinOverprovision !== undefined) {
    items.push({
      deviceClass: "thin",
      freeBytes: 7n * GiB,
      sizeBytes: 50n * GiB,
      thinPool: { dataPercent: 12.5, metadataPercent: 3.25, overprovisionBytes: options.thinOverprovision, sizeBytes: 20n * GiB },
    });
  }
  return create(lvmd.WatchResponseSchema, { freeBytes: options.defaultFree, items });
}

function node(options: { annotations?: Record<string, string>; finalizers?: string[]; deleting?: boolean } = {}): V1Node {
  return Object.assign(new V1Node(), {
    metadata: Object.assign(new V1ObjectMeta(), {
      name: "node-1",
      ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
      ...(options.finalizers === undefined ? {} : { finalizers: options.finalizers }),
      ...(options.deleting === true ? { deletionTimestamp: new Date("2025-01-01T00:00:00Z") } : {}),
    }),
  });
}

describe("capacityAnnotations", () => {
  it("offers thick classes by their free bytes, thin ones by their overprovisioned free bytes, and the default under 00default", () => {
    expect(capacityAnnotations(watchResponse({ defaultFree: 5n * GiB, ssdFree: 5n * GiB, thinOverprovision: 200n * GiB }))).toEqual({
      [ssd]: String(5n * GiB),
      [thin]: String(200n * GiB),
      [fallback]: String(5n * GiB),
    });
  });

  it("writes 00default as 0 when lvmd has no default class", () => {
    expect(capacityAnnotations(watchResponse({ defaultFree: 0n, ssdFree: GiB }))).toEqual({ [ssd]: String(GiB), [fallback]: "0" });
  });
});

describe("nodePatch", () => {
  const wanted = { [ssd]: "100", [fallback]: "100" };

  it("asks for nothing when the annotations and the finalizer are there", () => {
    expect(nodePatch(node({ annotations: { ...wanted, other: "x" }, finalizers: [nodeFinalizer] }), wanted)).toBeUndefined();
  });

  it("sets only the values that differ", () => {
    expect(nodePatch(node({ annotations: { [ssd]: "90", [fallback]: "100" }, finalizers: [nodeFinalizer] }), wanted)).toEqual({
      metadata: { annotations: { [ssd]: "100" } },
    });
  });

  it("removes capacity annotations of classes lvmd no longer serves, and leaves other annotations alone", () => {
    const current = { ...wanted, [thin]: "5", "example.com/keep": "1" };
    expect(nodePatch(node({ annotations: current, finalizers: [nodeFinalizer] }), wanted)).toEqual({ metadata: { annotations: { [thin]: null } } });
  });

  it("adds the Node finalizer next to the others", () => {
    expect(nodePatch(node({ annotations: wanted, finalizers: ["example.com/other"] }), wanted)).toEqual({ metadata: { finalizers: [nodeFinalizer] } });
  });

  it("does not add the finalizer to a Node being deleted, but still updates its annotations", () => {
    expect(nodePatch(node({ annotations: { [ssd]: "1" }, deleting: true }), wanted)).toEqual({
      metadata: { annotations: { [ssd]: "100", [fallback]: "100" } },
    });
    expect(nodePatch(node({ annotations: wanted, deleting: true }), wanted)).toBeUndefined();
  });

  it("only adds the finalizer while lvmd has not reported yet", () => {
    expect(nodePatch(node({ annotations: { [ssd]: "1" } }), undefined)).toEqual({ metadata: { finalizers: [nodeFinalizer] } });
  });
});

/** One Watch stream that the test feeds. */
interface FakeStream {
  send(message: lvmd.WatchResponse): void;
  fail(error: Error): void;
  end(): void;
}

function fakeLvmd() {
  const streams: FakeStream[] = [];
  const watch = (signal: AbortSignal): AsyncIterable<lvmd.WatchResponse> => {
    type Item = { kind: "message"; message: lvmd.WatchResponse } | { kind: "error"; error: Error } | { kind: "end" };
    const items: Item[] = [];
    let wake = (): void => undefined;
    const push = (item: Item): void => {
      items.push(item);
      wake();
    };
    streams.push({
      send: (message) => {
        push({ kind: "message", message });
      },
      fail: (error) => {
        push({ kind: "error", error });
      },
      end: () => {
        push({ kind: "end" });
      },
    });
    async function* iterate(): AsyncGenerator<lvmd.WatchResponse> {
      for (;;) {
        const item = items.shift();
        if (item === undefined) {
          if (signal.aborted) {
            return;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener("abort", () => {
              resolve();
            }, { once: true });
          });
          continue;
        }
        if (item.kind === "error") {
          throw item.error;
        }
        if (item.kind === "end") {
          return;
        }
        yield item.message;
      }
    }
    return iterate();
  };
  return { watch, streams, latest: (): FakeStream | undefined => streams.at(-1) };
}

/** The API server's strategic merge patch of a Node: annotations merge (null deletes), finalizers merge by value. */
function fakeNodes(initial: V1Node) {
  let current = initial;
  const patches: NodePatch[] = [];
  let failures = 0;
  const patchNode = (patch: NodePatch): Promise<V1Node> => {
    patches.push(patch);
    if (failures > 0) {
      failures -= 1;
      return Promise.reject(new Error("API server unavailable"));
    }
    const annotations: Record<string, string> = { ...current.metadata?.annotations };
    for (const [key, value] of Object.entries(patch.metadata.annotations ?? {})) {
      if (value === null) {
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a test double of a merge patch
        delete annotations[key];
      } else {
        annotations[key] = value;
      }
    }
    const finalizers = [...new Set([...(current.metadata?.finalizers ?? []), ...(patch.metadata.finalizers ?? [])])];
    current = Object.assign(new V1Node(), { metadata: Object.assign(new V1ObjectMeta(), current.metadata, { annotations, finalizers }) });
    return Promise.resolve(current);
  };
  return {
    patchNode,
    patches,
    current: () => current,
    failNext(count: number) {
      failures = count;
    },
  };
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 400 && !condition(); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(condition()).toBe(true);
};

describe("startCapacityAnnotator", () => {
  let annotator: CapacityAnnotator | undefined;
  afterEach(async () => {
    await annotator?.stop();
    annotator = undefined;
  });

  function start(initial: V1Node, registry?: Registry) {
    const lvmdFake = fakeLvmd();
    const nodes = fakeNodes(initial);
    const running = startCapacityAnnotator({
      nodeName: "node-1",
      lvmd: lvmdFake,
      patchNode: nodes.patchNode,
      logger,
      ...(registry === undefined ? {} : { metrics: createNodeMetrics(registry, "node-1") }),
      reconnectBaseMs: 5,
      reconnectMaxMs: 20,
    });
    annotator = running;
    return { lvmd: lvmdFake, nodes, annotator: running };
  }

  it("writes the capacities and the finalizer in one patch once lvmd reports, and patches only changes after", async () => {
    const { lvmd: fake, nodes, annotator: running } = start(node({ annotations: { "example.com/keep": "1" } }));
    running.nodeChanged(nodes.current());
    await until(() => fake.latest() !== undefined && nodes.patches.length === 1);
    // Before lvmd answers, only the finalizer.
    expect(nodes.patches[0]).toEqual({ metadata: { finalizers: [nodeFinalizer] } });
    fake.latest()?.send(watchResponse({ defaultFree: 5n * GiB, ssdFree: 5n * GiB, thinOverprovision: 200n * GiB }));
    await until(() => nodes.patches.length === 2);
    expect(nodes.current().metadata?.annotations).toEqual({
      "example.com/keep": "1",
      [ssd]: String(5n * GiB),
      [thin]: String(200n * GiB),
      [fallback]: String(5n * GiB),
    });
    expect(running.watching()).toBe(true);

    fake.latest()?.send(watchResponse({ defaultFree: 5n * GiB, ssdFree: 5n * GiB, thinOverprovision: 200n * GiB }));
    fake.latest()?.send(watchResponse({ defaultFree: 4n * GiB, ssdFree: 4n * GiB, thinOverprovision: 200n * GiB }));
    await until(() => nodes.patches.length === 3);
    expect(nodes.patches[2]).toEqual({ metadata: { annotations: { [ssd]: String(4n * GiB), [fallback]: String(4n * GiB) } } });

    fake.latest()?.send(watchResponse({ defaultFree: 4n * GiB, ssdFree: 4n * GiB }));
    await until(() => nodes.patches.length === 4);
    expect(nodes.patches[3]).toEqual({ metadata: { annotations: { [thin]: null } } });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(nodes.patches).toHaveLength(4);
  });

  it("patches nothing until the informer has delivered the Node", async () => {
    const { lvmd: fake, nodes, annotator: running } = start(node());
    await until(() => fake.latest() !== undefined);
    fake.latest()?.send(watchResponse({ defaultFree: GiB, ssdFree: GiB }));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(nodes.patches).toHaveLength(0);
    running.nodeChanged(nodes.current());
    await until(() => nodes.patches.length === 1);
    expect(nodes.patches[0]).toEqual({ metadata: { annotations: { [ssd]: String(GiB), [fallback]: String(GiB) }, finalizers: [nodeFinalizer] } });
  });

  it("puts back an annotation someone removed when the Node changes", async () => {
    const { lvmd: fake, nodes, annotator: running } = start(node({ finalizers: [nodeFinalizer] }));
    running.nodeChanged(nodes.current());
    await until(() => fake.latest() !== undefined);
    fake.latest()?.send(watchResponse({ defaultFree: GiB, ssdFree: GiB }));
    await until(() => nodes.current().metadata?.annotations?.[ssd] !== undefined);
    const patched = nodes.current();
    running.nodeChanged(Object.assign(new V1Node(), { metadata: Object.assign(new V1ObjectMeta(), patched.metadata, { annotations: {} }) }));
    await until(() => nodes.patches.length === 2);
    expect(nodes.patches[1]).toEqual({ metadata: { annotations: { [ssd]: String(GiB), [fallback]: String(GiB) } } });
  });

  it("reconnects the Watch stream when lvmd fails it or ends it, and writes what the new stream reports", async () => {
    const { lvmd: fake, nodes, annotator: running } = start(node({ finalizers: [nodeFinalizer] }));
    running.nodeChanged(nodes.current());
    await until(() => fake.streams.length === 1);
    fake.latest()?.send(watchResponse({ defaultFree: GiB, ssdFree: GiB }));
    await until(() => nodes.patches.length === 1);
    fake.latest()?.fail(new ConnectError("lvmd unreachable", Code.Unavailable));
    await until(() => fake.streams.length === 2);
    fake.latest()?.end();
    await until(() => fake.streams.length === 3);
    expect(running.watching()).toBe(false);
    fake.latest()?.send(watchResponse({ defaultFree: 2n * GiB, ssdFree: 2n * GiB }));
    await until(() => nodes.patches.length === 2);
    expect(nodes.current().metadata?.annotations?.[ssd]).toBe(String(2n * GiB));
  });

  it("retries a patch the API server refused", async () => {
    const { lvmd: fake, nodes, annotator: running } = start(node({ finalizers: [nodeFinalizer] }));
    nodes.failNext(1);
    running.nodeChanged(nodes.current());
    await until(() => fake.latest() !== undefined);
    fake.latest()?.send(watchResponse({ defaultFree: GiB, ssdFree: GiB }));
    await until(() => nodes.current().metadata?.annotations?.[ssd] === String(GiB));
    expect(nodes.patches).toHaveLength(2);
  });

  it("feeds every Watch message to the metrics", async () => {
    const registry = new Registry();
    const { lvmd: fake } = start(node(), registry);
    await until(() => fake.latest() !== undefined);
    fake.latest()?.send(watchResponse({ defaultFree: GiB, ssdFree: 3n * GiB }));
    const line = `topolvm_volumegroup_available_bytes{node="node-1",device_class="ssd"} ${3n * GiB}`;
    let text = "";
    for (let i = 0; i < 200 && !text.includes(line); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      text = await registry.metrics();
    }
    expect(text).toContain(line);
  });
});
