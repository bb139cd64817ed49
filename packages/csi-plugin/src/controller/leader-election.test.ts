import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { kubeApiError } from "../../test/kube-errors.js";
import { leaderIdentity, microTime, runLeaderElection, type LeaderElection, type Lease, type LeaseApi, type LeaseSpec } from "./leader-election.js";

const logger = pino({ level: "silent" });
const namespace = "topolvm-system";
const name = "topolvm";
const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
const leasePath = `${leasesPath}/${name}`;

/**
 * An in-memory Lease store behind kube-client's get/create/replace, with the API server's optimistic concurrency;
 * objects come back as JSON, as from the wire. Each call's options are recorded.
 */
function fakeLeases() {
  let stored: Lease | undefined;
  let version = 0;
  const state = { failing: false, writes: 0, signals: [] as (AbortSignal | undefined)[] };
  const copy = (lease: Lease): Lease => JSON.parse(JSON.stringify(lease)) as Lease;
  const store = (lease: Lease): Lease => {
    version += 1;
    state.writes += 1;
    const written = copy(lease);
    written.metadata = { ...written.metadata, resourceVersion: String(version) };
    stored = written;
    return copy(written);
  };
  const check = (method: string, path: string, expected: string, options: { signal?: AbortSignal } | undefined): void => {
    if (path !== expected) {
      throw new Error(`unexpected ${method} ${path}`);
    }
    state.signals.push(options?.signal);
    if (state.failing) {
      throw kubeApiError(method, path, 500, "etcd is down");
    }
  };
  const api: LeaseApi = {
    get: async <T>(path: string, options?: { signal?: AbortSignal }): Promise<T> => {
      await Promise.resolve();
      check("GET", path, leasePath, options);
      if (stored === undefined) {
        throw kubeApiError("GET", path, 404, 'leases.coordination.k8s.io "topolvm" not found');
      }
      return copy(stored) as T;
    },
    create: async <T>(path: string, body: unknown, options?: { signal?: AbortSignal }): Promise<T> => {
      await Promise.resolve();
      check("POST", path, leasesPath, options);
      if (stored !== undefined) {
        throw kubeApiError("POST", path, 409, "already exists", "AlreadyExists");
      }
      return store(body as Lease) as T;
    },
    replace: async <T>(path: string, body: unknown, options?: { signal?: AbortSignal }): Promise<T> => {
      await Promise.resolve();
      check("PUT", path, leasePath, options);
      if (stored === undefined || (body as Lease).metadata?.resourceVersion !== stored.metadata?.resourceVersion) {
        throw kubeApiError("PUT", path, 409, "the object has been modified");
      }
      return store(body as Lease) as T;
    },
  };
  return {
    api,
    state,
    spec: (): LeaseSpec | undefined => (stored === undefined ? undefined : copy(stored).spec),
    /** Writes the Lease as another process would. */
    put(spec: LeaseSpec): void {
      store({ ...stored, metadata: stored?.metadata ?? { name, namespace }, spec });
    },
  };
}

/** A candidate whose leader work runs until its signal aborts, recording what happened. */
function candidate(leases: ReturnType<typeof fakeLeases>, identity: string, events: string[]): LeaderElection {
  return runLeaderElection({
    api: leases.api,
    namespace,
    name,
    identity,
    logger,
    onStartedLeading: async (signal) => {
      events.push(`${identity} started`);
      await new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => {
          resolve();
        });
      });
      events.push(`${identity} work stopped`);
    },
    onStoppedLeading: () => {
      events.push(`${identity} stopped leading`);
    },
  });
}

describe("runLeaderElection", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse("2025-01-01T00:00:00Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("creates a missing Lease and leads, with client-go's durations", async () => {
    const leases = fakeLeases();
    const events: string[] = [];
    const a = candidate(leases, "a", events);
    await vi.advanceTimersByTimeAsync(0);
    expect(a.isLeader()).toBe(true);
    expect(events).toEqual(["a started"]);
    const spec = leases.spec();
    expect(spec).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 0 });
    // MicroTime with six fraction digits, as the API server requires.
    expect(spec?.renewTime).toBe("2025-01-01T00:00:00.000000Z");
    expect(spec?.acquireTime).toBe("2025-01-01T00:00:00.000000Z");
    await a.stop();
  });

  it("renews every retry period and keeps its acquire time", async () => {
    const leases = fakeLeases();
    const a = candidate(leases, "a", []);
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(leases.spec()?.renewTime).toBe("2025-01-01T00:00:02.000000Z");
    await vi.advanceTimersByTimeAsync(2_000);
    expect(leases.spec()).toMatchObject({
      holderIdentity: "a",
      renewTime: "2025-01-01T00:00:04.000000Z",
      acquireTime: "2025-01-01T00:00:00.000000Z",
      leaseTransitions: 0,
    });
    expect(leases.state.writes).toBe(3);
    await a.stop();
  });

  it("lets a standby wait while the leader renews, and take over at once when the leader releases on stop", async () => {
    const leases = fakeLeases();
    const events: string[] = [];
    const a = candidate(leases, "a", events);
    await vi.advanceTimersByTimeAsync(0);
    const b = candidate(leases, "b", events);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(b.isLeader()).toBe(false);
    expect(events).toEqual(["a started"]);

    await a.stop();
    expect(events).toEqual(["a started", "a work stopped", "a stopped leading"]);
    expect(leases.spec()).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    // b retries within 2.2 retry periods (jitter) and finds the Lease free.
    await vi.advanceTimersByTimeAsync(4_400);
    expect(b.isLeader()).toBe(true);
    expect(leases.spec()).toMatchObject({ holderIdentity: "b", leaseDurationSeconds: 15, leaseTransitions: 1 });
    await b.stop();
  });

  it("stops the leader's work before it releases the Lease", async () => {
    const leases = fakeLeases();
    const order: string[] = [];
    const a = runLeaderElection({
      api: leases.api,
      namespace,
      name,
      identity: "a",
      logger,
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener("abort", () => {
            setTimeout(() => {
              order.push(`work stopped, holder ${leases.spec()?.holderIdentity ?? "none"}`);
              resolve();
            }, 3_000);
          });
        }),
    });
    await vi.advanceTimersByTimeAsync(0);
    const stopped = a.stop().then(() => order.push(`stop returned, holder "${leases.spec()?.holderIdentity ?? "none"}"`));
    await vi.advanceTimersByTimeAsync(3_000);
    await stopped;
    expect(order).toEqual(["work stopped, holder a", 'stop returned, holder ""']);
  });

  it("takes a Lease whose holder stopped renewing only after a full lease duration of its own observation", async () => {
    const leases = fakeLeases();
    // A holder that renewed long ago by its clock: b does not trust that clock, only its own observation.
    leases.put({ holderIdentity: "gone", leaseDurationSeconds: 15, renewTime: "2020-01-01T00:00:00.000000Z", leaseTransitions: 4 });
    const events: string[] = [];
    const b = candidate(leases, "b", events);
    await vi.advanceTimersByTimeAsync(14_000);
    expect(b.isLeader()).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000 + 4_400);
    expect(b.isLeader()).toBe(true);
    expect(leases.spec()).toMatchObject({ holderIdentity: "b", leaseTransitions: 5 });
    await b.stop();
  });

  it("treats every change of the holder's record as a renewal", async () => {
    const leases = fakeLeases();
    leases.put({ holderIdentity: "other", leaseDurationSeconds: 15, renewTime: "2025-01-01T00:00:00.000000Z" });
    const b = candidate(leases, "b", []);
    for (let second = 5; second <= 40; second += 5) {
      await vi.advanceTimersByTimeAsync(5_000);
      leases.put({ holderIdentity: "other", leaseDurationSeconds: 15, renewTime: `2025-01-01T00:00:${String(second).padStart(2, "0")}.000000Z` });
    }
    expect(b.isLeader()).toBe(false);
    await b.stop();
  });

  it("stops leading when it cannot renew within the renew deadline, and campaigns again", async () => {
    const leases = fakeLeases();
    const events: string[] = [];
    const a = candidate(leases, "a", events);
    await vi.advanceTimersByTimeAsync(0);
    leases.state.failing = true;
    await vi.advanceTimersByTimeAsync(8_000);
    expect(a.isLeader()).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(["a started", "a work stopped", "a stopped leading"]);
    // Still its own Lease once the API server answers again: taken back at once.
    leases.state.failing = false;
    await vi.advanceTimersByTimeAsync(4_400);
    expect(a.isLeader()).toBe(true);
    expect(events.at(-1)).toBe("a started");
    await a.stop();
  });

  it("steps down at the next renewal when another candidate holds the Lease", async () => {
    const leases = fakeLeases();
    const events: string[] = [];
    const a = candidate(leases, "a", events);
    await vi.advanceTimersByTimeAsync(0);
    leases.put({ holderIdentity: "usurper", leaseDurationSeconds: 15, renewTime: "2025-01-01T00:00:01.000000Z" });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(a.isLeader()).toBe(false);
    expect(events).toEqual(["a started", "a work stopped", "a stopped leading"]);
    // The usurper's Lease is not released by a's stop.
    await a.stop();
    expect(leases.spec()?.holderIdentity).toBe("usurper");
  });

  it("elects exactly one of two candidates that start together", async () => {
    const leases = fakeLeases();
    const events: string[] = [];
    const a = candidate(leases, "a", events);
    const b = candidate(leases, "b", events);
    await vi.advanceTimersByTimeAsync(30_000);
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(events.filter((event) => event.endsWith("started"))).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("stops a candidate that never led without touching the Lease", async () => {
    const leases = fakeLeases();
    leases.put({ holderIdentity: "other", leaseDurationSeconds: 15 });
    const writes = leases.state.writes;
    const b = candidate(leases, "b", []);
    await vi.advanceTimersByTimeAsync(1_000);
    await b.stop();
    expect(leases.state.writes).toBe(writes);
    expect(leases.spec()?.holderIdentity).toBe("other");
  });
});

describe("runLeaderElection's requests", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse("2025-01-01T00:00:00Z") });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives every Lease call a signal (the renew deadline, and stop)", async () => {
    const leases = fakeLeases();
    const a = candidate(leases, "a", []);
    await vi.advanceTimersByTimeAsync(2_000);
    await a.stop();
    expect(leases.state.signals.length).toBeGreaterThanOrEqual(4);
    expect(leases.state.signals.every((signal) => signal instanceof AbortSignal)).toBe(true);
  });
});

describe("microTime", () => {
  it("writes RFC 3339 with six fraction digits, as the API server keeps a MicroTime", () => {
    expect(microTime(Date.parse("2025-01-01T00:00:00.123Z"))).toBe("2025-01-01T00:00:00.123000Z");
  });
});

describe("leaderIdentity", () => {
  it("is the host name, an underscore and a random UUID, different per call", () => {
    const identity = leaderIdentity();
    expect(identity).toMatch(/^.+_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(leaderIdentity()).not.toBe(identity);
  });
});
