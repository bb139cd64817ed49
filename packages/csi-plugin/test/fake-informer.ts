import type { InformerHandlers, KubeObject } from "@topolvm/kube-client";
import type { OwnedInformer } from "../src/informer.js";

/**
 * An informer driven by the test, shaped as kube-client's: `emit` plays a watch event, `fail` a failed list or watch
 * (the real informer retries by itself); `starts` counts start() calls. start() lists the initial objects as adds,
 * then reports synced.
 */
export interface FakeInformer<T extends KubeObject> extends OwnedInformer<T> {
  emit(verb: "add" | "update" | "delete", object: T): void;
  /** Reports `error` as the informer does: with the retry delay (default 500 ms), or undefined for a failed handler. */
  fail(error: unknown, ...retryInMs: [number | undefined] | []): void;
  readonly starts: number;
  readonly running: boolean;
}

type Handlers<T> = { [E in keyof InformerHandlers<T>]: Set<InformerHandlers<T>[E]> };

export function fakeInformer<T extends KubeObject>(initial: readonly T[] = []): FakeInformer<T> {
  const objects = new Map<string, T>();
  const handlers: Handlers<T> = { add: new Set(), update: new Set(), delete: new Set(), synced: new Set(), error: new Set() };
  let starts = 0;
  let running = false;
  let synced = false;
  const keyOf = (object: T): string => `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
  for (const object of initial) {
    objects.set(keyOf(object), object);
  }
  return {
    on(event, handler) {
      handlers[event].add(handler);
    },
    off(event, handler) {
      handlers[event].delete(handler);
    },
    start() {
      starts += 1;
      running = true;
      for (const object of objects.values()) {
        for (const handler of handlers.add) {
          handler(object);
        }
      }
      if (!synced) {
        synced = true;
        for (const handler of handlers.synced) {
          handler();
        }
      }
    },
    stop() {
      running = false;
      return Promise.resolve();
    },
    synced: () => synced,
    get(name, namespace) {
      return objects.get(`${namespace ?? ""}/${name}`);
    },
    list() {
      return [...objects.values()];
    },
    emit(verb, object) {
      const key = keyOf(object);
      const old = objects.get(key);
      if (verb === "delete") {
        objects.delete(key);
        for (const handler of handlers.delete) {
          handler(object);
        }
        return;
      }
      objects.set(key, object);
      if (verb === "update") {
        for (const handler of handlers.update) {
          handler(object, old ?? object);
        }
      } else {
        for (const handler of handlers.add) {
          handler(object);
        }
      }
    },
    fail(error, ...retryInMs) {
      const delayMs = retryInMs.length === 0 ? 500 : retryInMs[0];
      for (const handler of handlers.error) {
        handler(error, delayMs);
      }
    },
    get starts() {
      return starts;
    },
    get running() {
      return running;
    },
  };
}
