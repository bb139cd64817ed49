import type { KubernetesObject } from "@kubernetes/client-node";
import type { CachedInformer } from "../src/informer.js";

type Verb = "add" | "update" | "delete" | "change" | "error" | "connect";

/** An informer driven by the test: `emit` plays a watch event, `fail` a broken watch; `starts` counts start() calls. */
export interface FakeInformer<T extends KubernetesObject> extends CachedInformer<T> {
  emit(verb: "add" | "update" | "delete", object: T): void;
  fail(error: unknown): void;
  readonly starts: number;
  readonly running: boolean;
}

export function fakeInformer<T extends KubernetesObject>(initial: readonly T[] = []): FakeInformer<T> {
  const objects = new Map<string, T>();
  const callbacks = new Map<Verb, ((argument?: unknown) => void)[]>();
  let starts = 0;
  let running = false;
  const keyOf = (object: T): string => `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
  const call = (verb: Verb, argument?: unknown): void => {
    for (const callback of callbacks.get(verb) ?? []) {
      callback(argument);
    }
  };
  const on = (verb: Verb, callback: (argument?: unknown) => void): void => {
    const verbs: Verb[] = verb === "change" ? ["add", "update", "delete"] : [verb];
    for (const one of verbs) {
      callbacks.set(one, [...(callbacks.get(one) ?? []), callback]);
    }
  };
  const off = (verb: Verb, callback: (argument?: unknown) => void): void => {
    const verbs: Verb[] = verb === "change" ? ["add", "update", "delete"] : [verb];
    for (const one of verbs) {
      callbacks.set(
        one,
        (callbacks.get(one) ?? []).filter((existing) => existing !== callback),
      );
    }
  };
  for (const object of initial) {
    objects.set(keyOf(object), object);
  }
  return {
    on: on as FakeInformer<T>["on"],
    off: off as FakeInformer<T>["off"],
    start() {
      starts += 1;
      running = true;
      call("connect");
      for (const object of objects.values()) {
        call("add", object);
      }
      return Promise.resolve();
    },
    stop() {
      running = false;
      return Promise.resolve();
    },
    get(name, namespace) {
      return objects.get(`${namespace ?? ""}/${name}`);
    },
    list() {
      return [...objects.values()];
    },
    emit(verb, object) {
      if (verb === "delete") {
        objects.delete(keyOf(object));
      } else {
        objects.set(keyOf(object), object);
      }
      call(verb, object);
    },
    fail(error) {
      running = false;
      call("error", error);
    },
    get starts() {
      return starts;
    },
    get running() {
      return running;
    },
  };
}
