// Reads the JSON report Ginkgo v2 writes with `-ginkgo.json-report FILE` (an array of suite reports, each with
// its SpecReports) into the figures and lists the harness prints: which specs passed, failed, were skipped and why.

/** The states Ginkgo gives a spec; everything that is not passed, skipped or pending counts as failed. */
export type SpecState = "passed" | "skipped" | "pending" | "failed";

export interface SpecResult {
  /** The container texts and the leaf text, joined with spaces, as Ginkgo prints a spec's full name. */
  name: string;
  state: SpecState;
  /** Ginkgo's own state name ("failed", "panicked", "timedout"...). */
  ginkgoState: string;
  /** The failure or skip message; "" when there is none (a spec left out by -ginkgo.focus/skip has none). */
  message: string;
  /** Where the failure or skip happened, FILE:LINE; "" when unknown. */
  location: string;
  runTimeMs: number;
}

export interface SuiteSummary {
  /** Specs in the suite (PreRunStats.TotalSpecs). */
  totalSpecs: number;
  /** Specs that ran (passed + failed). */
  ran: number;
  passed: number;
  failed: number;
  skipped: number;
  pending: number;
  /** Failures of suite-level nodes (BeforeSuite, AfterSuite, ...) besides the specs. */
  suiteFailures: SpecResult[];
  specs: SpecResult[];
  succeeded: boolean;
  runTimeMs: number;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Ginkgo writes durations as Go time.Duration: integer nanoseconds. */
function nanosToMs(value: unknown): number {
  return typeof value === "number" ? Math.round(value / 1e6) : 0;
}

function stateOf(ginkgoState: string): SpecState {
  if (ginkgoState === "passed" || ginkgoState === "skipped" || ginkgoState === "pending") {
    return ginkgoState;
  }
  return "failed";
}

function location(failure: JsonObject): string {
  const where = failure.Location;
  if (!isObject(where)) {
    return "";
  }
  const file = text(where.FileName);
  const line = typeof where.LineNumber === "number" ? String(where.LineNumber) : "?";
  return file === "" ? "" : `${file}:${line}`;
}

function specResult(report: JsonObject): SpecResult {
  const containers = Array.isArray(report.ContainerHierarchyTexts) ? report.ContainerHierarchyTexts.map(text) : [];
  const failure = isObject(report.Failure) ? report.Failure : {};
  const ginkgoState = text(report.State);
  return {
    name: [...containers, text(report.LeafNodeText)].filter((part) => part !== "").join(" "),
    state: stateOf(ginkgoState),
    ginkgoState,
    message: text(failure.Message).trim(),
    location: location(failure),
    runTimeMs: nanosToMs(report.RunTime),
  };
}

/** Summarises a Ginkgo JSON report (the text of the file); throws when it is not one. */
export function parseGinkgoReport(json: string): SuiteSummary {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || value.length === 0 || !value.every(isObject)) {
    throw new Error("not a Ginkgo JSON report: expected a non-empty array of suite reports");
  }
  const specs: SpecResult[] = [];
  const suiteFailures: SpecResult[] = [];
  let totalSpecs = 0;
  let succeeded = true;
  let runTimeMs = 0;
  for (const suite of value) {
    if (!Array.isArray(suite.SpecReports)) {
      throw new Error("not a Ginkgo JSON report: a suite report has no SpecReports");
    }
    const stats = isObject(suite.PreRunStats) ? suite.PreRunStats : {};
    totalSpecs += typeof stats.TotalSpecs === "number" ? stats.TotalSpecs : 0;
    succeeded &&= suite.SuiteSucceeded === true;
    runTimeMs += nanosToMs(suite.RunTime);
    for (const report of suite.SpecReports.filter(isObject)) {
      const result = specResult(report);
      if (report.LeafNodeType === "It") {
        specs.push(result);
      } else if (result.state === "failed") {
        suiteFailures.push({ ...result, name: `[${text(report.LeafNodeType)}] ${result.name}`.trim() });
      }
    }
  }
  const count = (state: SpecState): number => specs.filter((spec) => spec.state === state).length;
  const passed = count("passed");
  const failed = count("failed");
  return {
    totalSpecs,
    ran: passed + failed,
    passed,
    failed,
    skipped: count("skipped"),
    pending: count("pending"),
    suiteFailures,
    specs,
    succeeded,
    runTimeMs,
  };
}

/** The skipped specs grouped by their reason; specs left out by a focus or skip filter share the reason given. */
export function skipReasons(summary: SuiteSummary, filteredReason: string): Map<string, string[]> {
  const byReason = new Map<string, string[]>();
  for (const spec of summary.specs.filter((entry) => entry.state === "skipped")) {
    const reason = spec.message === "" ? filteredReason : spec.message;
    byReason.set(reason, [...(byReason.get(reason) ?? []), spec.name]);
  }
  return byReason;
}
