import { readFileSync } from "node:fs";

/** A process whose memory the bench reports. */
export interface WatchedProcess {
  readonly name: string;
  readonly pid: number;
}

/** The resident set of a process in MiB (VmRSS of /proc/PID/status); NaN once it is gone. */
export function rssMiB(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return Number.NaN;
  }
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** The peak RSS in MiB of each watched process over the sampled span, with its RSS when the span began. */
export interface RssSpan {
  readonly name: string;
  readonly pid: number;
  readonly startMiB: number;
  readonly peakMiB: number;
}

/** Samples the RSS of some processes every `intervalMs` until stopped; stop() answers each one's start and peak. */
export function sampleRss(processes: readonly WatchedProcess[], intervalMs = 200): { stop(): RssSpan[] } {
  const spans = processes.map(({ name, pid }) => {
    const startMiB = rssMiB(pid);
    return { name, pid, startMiB, peakMiB: startMiB };
  });
  const sample = (): void => {
    for (const span of spans) {
      const now = rssMiB(span.pid);
      // NaN (the process is gone) never wins a comparison, so a peak stays what was last seen.
      if (now > span.peakMiB || Number.isNaN(span.peakMiB)) {
        span.peakMiB = now;
      }
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return spans;
    },
  };
}
