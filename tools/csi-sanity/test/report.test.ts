import { describe, expect, it } from "vitest";

import { parseGinkgoReport, skipReasons } from "../src/ginkgo-report.js";
import { findReport, reportSucceeded, resultLine, type RunReport, type VmReport } from "../src/result.js";
import { csiSanityArgv, parseRunNames, runSkip, thickSnapshotSkip, volumeParameters } from "../src/sanity-run.js";

// A Ginkgo v2 JSON report as csi-sanity writes it with -ginkgo.json-report, cut down to the fields read.
function spec(containers: string[], leaf: string, state: string, message = "", type = "It"): object {
  return {
    ContainerHierarchyTexts: containers,
    LeafNodeType: type,
    LeafNodeText: leaf,
    State: state,
    RunTime: 1_500_000_000,
    Failure: message === "" ? undefined : { Message: message, Location: { FileName: "/go/pkg/sanity/node.go", LineNumber: 42 } },
  };
}

const report = JSON.stringify([
  {
    SuiteDescription: "CSI Driver Test Suite",
    SuiteSucceeded: false,
    PreRunStats: { TotalSpecs: 6, SpecsThatWillRun: 6 },
    RunTime: 90_000_000_000,
    SpecReports: [
      spec(["Node Service"], "should work", "passed"),
      spec(["Controller Service [Controller Server]", "CreateVolume"], "should fail when no name is provided", "failed", "Expected InvalidArgument, got Internal"),
      spec(["Node Service"], "should work with stage", "skipped", "Node Service doesn't support STAGE_UNSTAGE_VOLUME"),
      spec(["ListSnapshots [Controller Server]"], "should return snapshots", "skipped", "ListSnapshots not supported"),
      spec(["ListSnapshots [Controller Server]"], "should paginate", "skipped", "ListSnapshots not supported"),
      spec(["Identity Service"], "probes", "skipped"),
      spec([], "", "failed", "cleanup failed", "AfterSuite"),
    ],
  },
]);

describe("parseGinkgoReport", () => {
  it("counts the specs by state and names them by their containers and leaf", () => {
    const summary = parseGinkgoReport(report);
    expect(summary).toMatchObject({ totalSpecs: 6, passed: 1, failed: 1, skipped: 4, pending: 0, ran: 2, succeeded: false, runTimeMs: 90_000 });
    expect(summary.specs.find((entry) => entry.state === "failed")).toMatchObject({
      name: "Controller Service [Controller Server] CreateVolume should fail when no name is provided",
      message: "Expected InvalidArgument, got Internal",
      location: "/go/pkg/sanity/node.go:42",
      runTimeMs: 1_500,
    });
  });

  it("reports a failed suite node apart from the specs", () => {
    expect(parseGinkgoReport(report).suiteFailures).toEqual([
      expect.objectContaining({ name: "[AfterSuite]", message: "cleanup failed" }),
    ]);
  });

  it("groups the skipped specs by reason, with the filtered ones under the given reason", () => {
    const reasons = skipReasons(parseGinkgoReport(report), "filtered");
    expect(Object.fromEntries(reasons)).toEqual({
      "Node Service doesn't support STAGE_UNSTAGE_VOLUME": ["Node Service should work with stage"],
      "ListSnapshots not supported": ["ListSnapshots [Controller Server] should return snapshots", "ListSnapshots [Controller Server] should paginate"],
      filtered: ["Identity Service probes"],
    });
  });

  it("counts a panicked or timed-out spec as failed", () => {
    const summary = parseGinkgoReport(
      JSON.stringify([{ SuiteSucceeded: false, SpecReports: [spec(["A"], "b", "panicked", "boom"), spec(["A"], "c", "timedout", "late")] }]),
    );
    expect(summary.failed).toBe(2);
    expect(summary.specs.map((entry) => entry.ginkgoState)).toEqual(["panicked", "timedout"]);
  });

  it("refuses what is not a Ginkgo report", () => {
    expect(() => parseGinkgoReport("{}")).toThrow(/not a Ginkgo JSON report/);
    expect(() => parseGinkgoReport("[{}]")).toThrow(/no SpecReports/);
  });
});

describe("the csi-sanity command line", () => {
  const argv = csiSanityArgv({ csiSanity: "/bin/csi-sanity", nodeSocket: "/run/n.sock", controllerSocket: "/run/c.sock", workDir: "/w", focus: "Node" });

  it("points at both sockets with 1 GiB test volumes expanded to 2 GiB", () => {
    expect(argv).toEqual(
      expect.arrayContaining([
        "-csi.endpoint=unix:///run/n.sock",
        "-csi.controllerendpoint=unix:///run/c.sock",
        "-csi.testvolumesize=1073741824",
        "-csi.testvolumeexpandsize=2147483648",
        "-csi.testvolumeparameters=/w/parameters.yaml",
        "-csi.mountdir=/w/mount",
        "-csi.stagingdir=/w/staging",
        "-ginkgo.json-report=/w/ginkgo-report.json",
        "-ginkgo.focus=Node",
      ]),
    );
    expect(argv[0]).toBe("/bin/csi-sanity");
    expect(argv.some((arg) => arg.startsWith("-ginkgo.skip"))).toBe(false);
  });

  it("passes xfs and the device-class as StorageClass parameters, as upstream", () => {
    expect(volumeParameters("thin")).toEqual({ "csi.storage.k8s.io/fstype": "xfs", "topolvm.cybozu.com/device-class": "thin" });
  });

  it("knows the thick and thin runs only", () => {
    expect(parseRunNames("thin,thick")).toEqual(["thin", "thick"]);
    expect(() => parseRunNames("thick,raid")).toThrow(/unknown run "raid"/);
  });
});

describe("the specs a run leaves out", () => {
  it("skips the snapshot and clone specs on the thick run only, as upstream", () => {
    expect(runSkip("thick", undefined)).toBe(thickSnapshotSkip);
    expect(runSkip("thin", undefined)).toBeUndefined();
    const pattern = new RegExp(thickSnapshotSkip);
    for (const spec of [
      "Controller Service [Controller Server] CreateSnapshot should fail when no name is provided",
      "Controller Service [Controller Server] DeleteSnapshot should succeed when an invalid snapshot id is used",
      "Controller Service [Controller Server] CreateVolume should create volume from an existing source snapshot",
      "Controller Service [Controller Server] CreateVolume should fail when the volume source volume is not found",
    ]) {
      expect(spec).toMatch(pattern);
    }
    expect("Controller Service [Controller Server] CreateVolume should not fail when requesting to create a volume with already existing name and same capacity").not.toMatch(pattern);
  });

  it("adds the caller's skip to a run's own", () => {
    expect(runSkip("thick", "ExpandVolume")).toBe(`(${thickSnapshotSkip})|(ExpandVolume)`);
    expect(runSkip("thin", "ExpandVolume")).toBe("ExpandVolume");
  });
});

describe("the VM's result line", () => {
  const run: RunReport = {
    name: "thick",
    deviceClass: "thick",
    exitCode: 0,
    totalSpecs: 95,
    passed: 60,
    failed: 0,
    skipped: 35,
    pending: 0,
    durationMs: 1_000,
    failures: [],
    skips: {},
  };
  const vmReport: VmReport = { runs: [run], timings: { apiserverMs: 1, topolvmMs: 2, teardownMs: 3 }, loopDevicesLeft: [] };

  it("is found as the last marked line of the output", () => {
    const stdout = `csi-sanity output\n${resultLine({ ...vmReport, runs: [] })}more\n${resultLine(vmReport)}`;
    expect(findReport(stdout)).toEqual(vmReport);
    expect(findReport("no marker here\n")).toBeUndefined();
  });

  it("succeeds only with passed specs, no failure, a zero exit and no loop device left", () => {
    expect(reportSucceeded(vmReport)).toBe(true);
    expect(reportSucceeded({ ...vmReport, runs: [{ ...run, failed: 1 }] })).toBe(false);
    expect(reportSucceeded({ ...vmReport, runs: [{ ...run, passed: 0 }] })).toBe(false);
    expect(reportSucceeded({ ...vmReport, runs: [{ ...run, exitCode: 1 }] })).toBe(false);
    expect(reportSucceeded({ ...vmReport, runs: [] })).toBe(false);
    expect(reportSucceeded({ ...vmReport, loopDevicesLeft: ["/dev/loop0"] })).toBe(false);
    expect(reportSucceeded({ ...vmReport, error: "lvmd did not start" })).toBe(false);
  });
});
