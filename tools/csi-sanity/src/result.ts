// What the VM side reports to the host side: one line on stdout, `csi-sanity-result JSON`, after everything it
// started has stopped. Pure: the types, the line and its parser.
import type { RunName } from "./sanity-run.js";

export interface SpecFailure {
  spec: string;
  message: string;
  location: string;
}

export interface RunReport {
  name: RunName;
  deviceClass: string;
  exitCode: number;
  totalSpecs: number;
  passed: number;
  failed: number;
  skipped: number;
  pending: number;
  durationMs: number;
  failures: SpecFailure[];
  /** Skip reason → the specs skipped for it. */
  skips: Record<string, string[]>;
}

/** Milliseconds of each phase inside the VM. */
export interface VmTimings {
  /** etcd and kube-apiserver started until /readyz answered (PKI included). */
  apiserverMs: number;
  /** The CRD, the node's VGs and thin pool, lvmd, topolvm-node and topolvm-controller until all were ready. */
  topolvmMs: number;
  /** Everything stopped and the loop devices detached. */
  teardownMs: number;
}

export interface VmReport {
  runs: RunReport[];
  timings: VmTimings;
  /** Loop devices still attached after the teardown (`losetup --list`); empty when it cleaned up. */
  loopDevicesLeft: string[];
  /** Set when the harness itself failed (a process did not start); the runs after it are missing. */
  error?: string;
}

const marker = "csi-sanity-result ";

export function resultLine(report: VmReport): string {
  return `${marker}${JSON.stringify(report)}\n`;
}

/** The report in the VM's stdout, or undefined when the VM side never printed one (it crashed or timed out). */
export function findReport(stdout: string): VmReport | undefined {
  const line = stdout
    .split("\n")
    .reverse()
    .find((entry) => entry.startsWith(marker));
  return line === undefined ? undefined : (JSON.parse(line.slice(marker.length)) as VmReport);
}

/** Whether every run ran specs and none failed, and nothing was left behind. */
export function reportSucceeded(report: VmReport): boolean {
  return (
    report.error === undefined &&
    report.runs.length > 0 &&
    report.runs.every((run) => run.failed === 0 && run.passed > 0 && run.exitCode === 0) &&
    report.loopDevicesLeft.length === 0
  );
}

/** The figures of a run as one line: `thick (class thick): 60 passed, 0 failed, 35 skipped, 0 pending in 123 s`. */
export function summaryLine(run: RunReport): string {
  const seconds = (run.durationMs / 1000).toFixed(0);
  return (
    `${run.name} (device-class ${run.deviceClass}): ${run.passed} passed, ${run.failed} failed, ` +
    `${run.skipped} skipped, ${run.pending} pending of ${run.totalSpecs} specs in ${seconds} s`
  );
}
