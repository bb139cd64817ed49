import type { KubeClient } from "@topolvm/kube-client";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { isApiStatus } from "../logical-volume/logical-volume-client.js";
import { describeError } from "../informer.js";

/** The Lease calls leader election makes: get, create and replace (guarded by its resourceVersion). */
export type LeaseApi = Pick<KubeClient, "get" | "create" | "replace">;

/** A coordination.k8s.io/v1 Lease's spec as the API server sends it: times are MicroTime strings. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/** A coordination.k8s.io/v1 Lease, with what leader election reads and writes. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** A MicroTime as the API server writes it: RFC 3339 with microseconds (`2026-01-01T00:00:00.123000Z`). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}

export interface LeaderElectionOptions {
  readonly api: LeaseApi;
  /** Namespace and name of the coordination.k8s.io/v1 Lease. */
  readonly namespace: string;
  readonly name: string;
  /** This candidate's holderIdentity; unique per process (see leaderIdentity). */
  readonly identity: string;
  readonly logger: Logger;
  /** How long a holder's claim lasts after its last renewal, as seen by the others; default 15 s. */
  readonly leaseDurationMs?: number;
  /** The leader gives up when it has not renewed for this long; default 10 s (below the lease duration). */
  readonly renewDeadlineMs?: number;
  /** Time between acquire and renew attempts; default 2 s. */
  readonly retryPeriodMs?: number;
  /** Wall clock in ms; default Date.now. */
  readonly now?: () => number;
  /**
   * Starts the leader's work. `signal` aborts when leadership ends (lost, or stop()); the returned promise must
   * settle once the work has stopped, and no Lease is given up before it has.
   */
  readonly onStartedLeading: (signal: AbortSignal) => Promise<void>;
  /** Called after the leader's work has stopped, each time leadership ends. */
  readonly onStoppedLeading?: () => void;
  /** Called when another holder is first seen (not for this candidate). */
  readonly onNewLeader?: (identity: string) => void;
}

/** A running candidate. */
export interface LeaderElection {
  /** Whether this candidate holds the Lease now. */
  isLeader(): boolean;
  /** Stops campaigning; a leader stops its work, then releases the Lease so a standby takes over at once. */
  stop(): Promise<void>;
}

/** holderIdentity as controller-runtime makes it: host name, an underscore and a random UUID. */
export function leaderIdentity(): string {
  return `${hostname()}_${randomUUID()}`;
}

/** A Lease's spec as candidates compare it: a change of any field is a sign of life of the holder. */
function recordKey(spec: LeaseSpec | undefined): string {
  return JSON.stringify([
    spec?.holderIdentity ?? "",
    spec?.leaseDurationSeconds ?? 0,
    spec?.acquireTime ?? "",
    spec?.renewTime ?? "",
    spec?.leaseTransitions ?? 0,
  ]);
}

/** A Lease object to write: `base` (as read, with its resourceVersion) with `spec` in place of its own. */
function leaseWith(base: Lease, spec: LeaseSpec): Lease {
  return { ...base, spec };
}

function newLease(namespace: string, name: string, spec: LeaseSpec): Lease {
  return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * Leader election over a Lease, as client-go's leaderelection package does it. A candidate takes the Lease when it is
 * free (no holder) or when its record has not changed for the lease duration by the candidate's own clock (so clock
 * skew between hosts does not matter), and then renews it every retry period. Every write carries the resourceVersion
 * that was read, so two candidates never both win. A leader that cannot renew within the renew deadline, or that
 * sees another holder, stops its work and campaigns again; the process keeps serving meanwhile (controller-runtime
 * exits instead; staying up keeps the CSI socket of this replica available). stop() releases the Lease: holder
 * empty, duration 1 s.
 */
export function runLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { api, namespace, name, identity, logger, onStartedLeading } = options;
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const now = options.now ?? Date.now;
  const log = logger.child({ lease: `${namespace}/${name}`, identity });
  const stopping = new AbortController();

  const isStopping = (): boolean => stopping.signal.aborted;
  let leader = false;
  // What this candidate last saw of the Lease, when (by its own clock), and the last version it read or wrote.
  let observedKey = "";
  let observedAtMs = 0;
  let observedHolder = "";
  let lastLease: Lease | undefined;

  type Attempt = "acquired" | "held-by-other" | "failed";

  function observe(lease: Lease, atMs: number): void {
    const key = recordKey(lease.spec);
    if (key !== observedKey) {
      observedKey = key;
      observedAtMs = atMs;
    }
    lastLease = lease;
    const holder = lease.spec?.holderIdentity ?? "";
    if (holder !== observedHolder) {
      observedHolder = holder;
      if (holder !== "" && holder !== identity) {
        log.info({ holder }, "new leader observed");
        options.onNewLeader?.(holder);
      }
    }
  }

  function specFor(atMs: number, previous: LeaseSpec | undefined): LeaseSpec {
    const renewTime = microTime(atMs);
    const mine = previous?.holderIdentity === identity;
    const transitions = previous?.leaseTransitions ?? 0;
    return {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: mine && previous.acquireTime !== undefined ? previous.acquireTime : renewTime,
      renewTime,
      leaseTransitions: mine || previous === undefined ? transitions : transitions + 1,
    };
  }

  const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const leasePath = `${leasesPath}/${encodeURIComponent(name)}`;

  /** One read and at most one write: takes or renews the Lease when this candidate may. */
  async function tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    // One deadline for the read and the write together, as client-go's renew deadline.
    const request = { signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(Math.max(1, timeoutMs))]) };
    const startedMs = now();
    let lease: Lease;
    try {
      lease = await api.get<Lease>(leasePath, request);
    } catch (error) {
      if (!isApiStatus(error, 404)) {
        log.warn({ err: describeError(error) }, "reading the lease failed");
        return "failed";
      }
      try {
        const created = await api.create<Lease>(leasesPath, newLease(namespace, name, specFor(startedMs, undefined)), request);
        observe(created, now());
        return "acquired";
      } catch (createError) {
        if (isApiStatus(createError, 409)) {
          log.info("another candidate created the lease first");
        } else {
          log.warn({ err: describeError(createError) }, "creating the lease failed");
        }
        return "failed";
      }
    }
    observe(lease, startedMs);
    const holder = lease.spec?.holderIdentity ?? "";
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== "" && holder !== identity && observedAtMs + durationMs > startedMs) {
      return "held-by-other";
    }
    try {
      const replaced = await api.replace<Lease>(leasePath, leaseWith(lease, specFor(startedMs, lease.spec)), request);
      observe(replaced, now());
      return "acquired";
    } catch (error) {
      if (isApiStatus(error, 409)) {
        // Another candidate wrote first; the next read tells who.
        log.info(holder === identity ? "the lease changed while renewing it" : "another candidate took the lease first");
      } else {
        log.warn({ err: describeError(error) }, holder === identity ? "renewing the lease failed" : "taking the lease failed");
      }
      return "failed";
    }
  }

  async function acquire(): Promise<boolean> {
    while (!stopping.signal.aborted) {
      if ((await tryAcquireOrRenew(renewDeadlineMs)) === "acquired") {
        return true;
      }
      // Jittered as client-go's (factor 1.2), so candidates that failed together do not retry together.
      await sleep(retryPeriodMs * (1 + Math.random() * 1.2), stopping.signal);
    }
    return false;
  }

  /** Renews until the deadline passes without a renewal, another holder shows up, or stop(). */
  async function renewWhileLeading(): Promise<void> {
    let renewedAtMs = now();
    while (!stopping.signal.aborted) {
      await sleep(retryPeriodMs, stopping.signal);
      if (isStopping()) {
        return;
      }
      const result = await tryAcquireOrRenew(renewedAtMs + renewDeadlineMs - now());
      if (result === "acquired") {
        renewedAtMs = now();
      } else if (result === "held-by-other") {
        log.warn({ holder: observedHolder }, "another candidate holds the lease");
        return;
      } else if (now() - renewedAtMs >= renewDeadlineMs) {
        log.warn({ renewDeadlineMs }, "the lease was not renewed within the renew deadline");
        return;
      }
    }
  }

  async function release(): Promise<void> {
    const previous = lastLease;
    if (previous?.spec?.holderIdentity !== identity) {
      return;
    }
    const atMs = now();
    const spec: LeaseSpec = {
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: microTime(atMs),
      renewTime: microTime(atMs),
      leaseTransitions: previous.spec.leaseTransitions ?? 0,
    };
    try {
      // Guarded by the version this leader last wrote: if someone else took the Lease since, it stays theirs.
      await api.replace(leasePath, leaseWith(previous, spec), { signal: AbortSignal.timeout(renewDeadlineMs) });
      log.info("lease released");
    } catch (error) {
      log.warn({ err: describeError(error) }, "releasing the lease failed; the standby takes over when it expires");
    }
  }

  async function campaign(): Promise<void> {
    log.info({ leaseDurationMs, renewDeadlineMs, retryPeriodMs }, "campaigning for leadership");
    while (await acquire()) {
      leader = true;
      log.info("became leader");
      const leading = new AbortController();
      const work = onStartedLeading(leading.signal).catch((error: unknown) => {
        log.error({ err: describeError(error) }, "the leader's work failed");
      });
      await renewWhileLeading();
      leading.abort(new Error("leadership ended"));
      await work;
      leader = false;
      if (isStopping()) {
        await release();
      } else {
        log.warn("leadership lost; the leader's work is stopped; campaigning again");
      }
      options.onStoppedLeading?.();
    }
  }

  const running = campaign().catch((error: unknown) => {
    log.error({ err: describeError(error) }, "leader election failed");
  });

  return {
    isLeader: () => leader,
    async stop() {
      stopping.abort(new Error("leader election is stopping"));
      await running;
    },
  };
}
