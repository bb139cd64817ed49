import type { KubeClient } from "@topolvm/kube-client";

/** The kube-client calls the controllers make. */
export type ControllerKube = Pick<KubeClient, "get" | "list" | "patch" | "delete">;

/** Wraps a client so that every call's `signal` option is pushed to `signals` before the call runs. */
export function signalRecordingKube(kube: ControllerKube, signals: unknown[]): ControllerKube {
  const record = (options: { signal?: AbortSignal } | undefined): void => {
    signals.push(options?.signal);
  };
  return {
    get: (path, options) => (record(options), kube.get(path, options)),
    list: (path, options) => (record(options), kube.list(path, options)),
    patch: (path, body, options) => (record(options), kube.patch(path, body, options)),
    delete: (path, options) => (record(options), kube.delete(path, options)),
  };
}
