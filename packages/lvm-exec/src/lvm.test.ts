import { describe, expect, it } from "vitest";
import { failures, fixture } from "../test/fixtures/index.js";
import type { ExecOptions, ExecResult, Executor } from "./executor.js";
import { createLvm, type Lvm, type LvmOptions } from "./lvm.js";
import { rejection } from "../test/support.js";

const reportArgs = ["--reportformat", "json", "--units", "b", "--nosuffix"];
const vgFields = "vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,pv_count,lv_count,vg_tags";
const lvFields = "lv_name,vg_name,lv_uuid,lv_path,lv_size,lv_tags,lv_attr,lv_kernel_major,lv_kernel_minor,pool_lv,origin,data_percent,metadata_percent";
const lvsOf = (target: string): string[] => ["lvm", "lvs", ...reportArgs, "-o", lvFields, target];

const ok = (stdout = ""): ExecResult => ({ stdout, stderr: "", exitCode: 0 });
const oneLv = fixture("lvs-one.json");

interface Recording {
  lvm: Lvm;
  calls: { argv: readonly string[]; options: ExecOptions }[];
}

/** An Lvm over an executor that records every command and answers from `answer` (default: success, one LV). */
function recording(answer: (argv: readonly string[]) => ExecResult = () => ok(oneLv), options: LvmOptions = {}): Recording {
  const calls: Recording["calls"] = [];
  const executor: Executor = (argv, execOptions) => {
    calls.push({ argv, options: execOptions });
    return Promise.resolve(answer(argv));
  };
  return { lvm: createLvm({ ...options, executor }), calls };
}


describe("the argv of every operation", () => {
  it("lists volume groups", async () => {
    const { lvm, calls } = recording(() => ok(fixture("vgs.json")));
    expect((await lvm.listVolumeGroups()).map((vg) => vg.name)).toEqual(["empty", "vg1"]);
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "vgs", ...reportArgs, "-o", vgFields]]);
  });

  it("gets one volume group", async () => {
    const { lvm, calls } = recording(() => ok(fixture("vgs-one.json")));
    expect((await lvm.getVolumeGroup("vg1")).freeBytes).toBe(92274688);
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "vgs", ...reportArgs, "-o", vgFields, "vg1"]]);
  });

  it("lists the logical volumes of all VGs or of one", async () => {
    const { lvm, calls } = recording(() => ok(fixture("lvs.json")));
    expect(await lvm.listLogicalVolumes()).toHaveLength(3);
    await lvm.listLogicalVolumes("vg1");
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvs", ...reportArgs, "-o", lvFields], lvsOf("vg1")]);
  });

  it("gets one logical volume", async () => {
    const { lvm, calls } = recording();
    expect((await lvm.getLogicalVolume({ vgName: "vg1", name: "tagged" })).tags).toEqual(["b:c&d#e!", "topolvm/x=1"]);
    expect(calls.map((c) => c.argv)).toEqual([lvsOf("vg1/tagged")]);
  });

  it("reads VGs and LVs in one fullreport command", async () => {
    const { lvm, calls } = recording(() => ok(fixture("fullreport.json")));
    const report = await lvm.fullReport(["empty", "vg1"]);
    expect(report.map((r) => r.logicalVolumes.length)).toEqual([0, 3]);
    expect(calls.map((c) => c.argv)).toEqual([
      [
        "lvm", "fullreport", ...reportArgs,
        "--configreport", "vg", "-o", vgFields,
        "--configreport", "lv", "-o", lvFields,
        "--configreport", "pv", "-o", ",",
        "--configreport", "pvseg", "-o", ",",
        "--configreport", "seg", "-o", ",",
        "empty", "vg1",
      ],
    ]);
  });

  it("creates a thick LV, then reads it back for its real size", async () => {
    const { lvm, calls } = recording();
    const lv = await lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 8 << 20, tags: ["a", "b=c"] });
    expect(lv.sizeBytes).toBe(8388608);
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvcreate", "-n", "tagged", "-L", "8388608b", "-W", "y", "-y", "--addtag", "a", "--addtag", "b=c", "vg1"],
      lvsOf("vg1/tagged"),
    ]);
  });

  it("creates an LV without reading it back when the caller re-reads LVM itself", async () => {
    const { lvm, calls } = recording();
    await expect(lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 8 << 20 }, { readBack: false })).resolves.toBeUndefined();
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvcreate", "-n", "tagged", "-L", "8388608b", "-W", "y", "-y", "vg1"]]);
  });

  it("rounds a size up to whole 512-byte sectors, which LVM requires for byte sizes", async () => {
    const { lvm, calls } = recording();
    await lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 5_000_000 });
    await lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 1 });
    await lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: Number.MAX_SAFE_INTEGER });
    expect(calls.filter((c) => c.argv[1] === "lvcreate").map((c) => c.argv[5])).toEqual(["5000192b", "512b", "9007199254740992b"]);
  });

  it("creates a striped LV with extra arguments before the VG", async () => {
    const { lvm, calls } = recording();
    await lvm.createLogicalVolume({
      vgName: "vg1",
      name: "tagged",
      sizeBytes: 16 << 20,
      stripes: 2,
      stripeSizeBytes: 65536,
      extraArgs: ["--type", "striped", "-an", "-Zn"],
    });
    expect(calls[0]?.argv).toEqual([
      "lvm", "lvcreate", "-n", "tagged", "-L", "16777216b", "-W", "y", "-y",
      "-i", "2", "-I", "65536b", "--type", "striped", "-an", "-Zn", "vg1",
    ]);
  });

  it("creates a thin LV in a thin pool", async () => {
    const { lvm, calls } = recording();
    await lvm.createLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 1 << 30, thinPool: "pool", tags: ["t"] });
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvcreate", "-T", "vg1/pool", "-n", "tagged", "-V", "1073741824b", "-W", "y", "-y", "--addtag", "t"],
      lvsOf("vg1/tagged"),
    ]);
  });

  it("creates a thin pool", async () => {
    const { lvm, calls } = recording();
    await lvm.createThinPool({ vgName: "vg1", name: "tagged", sizeBytes: 64 << 20, tags: ["pool"] });
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvcreate", "--type", "thin-pool", "-n", "tagged", "-L", "67108864b", "-y", "--addtag", "pool", "vg1"],
      lvsOf("vg1/tagged"),
    ]);
  });

  it("creates a thin snapshot that activates normally", async () => {
    const { lvm, calls } = recording();
    await lvm.createSnapshot({ vgName: "vg1", sourceName: "thin1", name: "tagged", tags: ["snap"] });
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvcreate", "-s", "-k", "n", "-n", "tagged", "--addtag", "snap", "vg1/thin1"],
      lvsOf("vg1/tagged"),
    ]);
  });

  it("extends an LV, then reads it back", async () => {
    const { lvm, calls } = recording();
    await lvm.extendLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 12 << 20 });
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvextend", "-L", "12582912b", "vg1/tagged"], lvsOf("vg1/tagged")]);
  });

  it("extends an LV without reading it back when the caller re-reads LVM itself", async () => {
    const { lvm, calls } = recording();
    await expect(lvm.extendLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 12 << 20 }, { readBack: false })).resolves.toBeUndefined();
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvextend", "-L", "12582912b", "vg1/tagged"]]);
  });

  it("removes an LV", async () => {
    const { lvm, calls } = recording(() => ok());
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "gone" });
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvremove", "-f", "vg1/gone"]]);
  });

  it("adds and removes tags", async () => {
    const { lvm, calls } = recording(() => ok());
    await lvm.addTags({ vgName: "vg1", name: "lv", tags: ["a", "b"] });
    await lvm.removeTags({ vgName: "vg1", name: "lv", tags: ["a"] });
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvchange", "--addtag", "a", "--addtag", "b", "vg1/lv"],
      ["lvm", "lvchange", "--deltag", "a", "vg1/lv"],
    ]);
  });

  it("makes an LV read-only", async () => {
    const { lvm, calls } = recording(() => ok());
    await lvm.setReadOnly({ vgName: "vg1", name: "snap" });
    expect(calls.map((c) => c.argv)).toEqual([["lvm", "lvchange", "-p", "r", "vg1/snap"]]);
  });

  it("activates (ignoring the activation-skip flag) and deactivates", async () => {
    const { lvm, calls } = recording(() => ok());
    await lvm.activateLogicalVolume({ vgName: "vg1", name: "lv" });
    await lvm.deactivateLogicalVolume({ vgName: "vg1", name: "lv" });
    expect(calls.map((c) => c.argv)).toEqual([
      ["lvm", "lvchange", "-a", "y", "-K", "vg1/lv"],
      ["lvm", "lvchange", "-a", "n", "vg1/lv"],
    ]);
  });
});

describe("the command line and environment", () => {
  it("runs subcommands after a command prefix instead of the lvm binary", async () => {
    const prefix = ["nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1", "/sbin/lvm"];
    const { lvm, calls } = recording(() => ok(), { commandPrefix: prefix });
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" });
    expect(calls[0]?.argv).toEqual([...prefix, "lvremove", "-f", "vg1/lv"]);
  });

  it("runs a given lvm binary", async () => {
    const { lvm, calls } = recording(() => ok(), { lvmBinary: "/usr/sbin/lvm" });
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" });
    expect(calls[0]?.argv[0]).toBe("/usr/sbin/lvm");
  });

  it("passes the caller's environment with LC_ALL=C forced", async () => {
    const { lvm, calls } = recording(() => ok(), { env: { LVM_SYSTEM_DIR: "/tmp/x/etc", LC_ALL: "de_DE.UTF-8", UNSET: undefined } });
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" });
    expect(calls[0]?.options.env).toEqual({ LVM_SYSTEM_DIR: "/tmp/x/etc", LC_ALL: "C" });
  });

  it("defaults to this process's environment", async () => {
    const { lvm, calls } = recording(() => ok());
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" });
    expect(calls[0]?.options.env.PATH).toBe(process.env.PATH);
    expect(calls[0]?.options.env.LC_ALL).toBe("C");
  });

  it("hands the executor the default or per-call time limit", async () => {
    const { lvm, calls } = recording(() => ok(), { timeoutMs: 1234 });
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" });
    await lvm.removeLogicalVolume({ vgName: "vg1", name: "lv" }, { timeoutMs: 99 });
    expect(calls.map((c) => c.options.timeoutMs)).toEqual([1234, 99]);
  });

  it.each([
    [{ lvmBinary: "lvm", commandPrefix: ["lvm"] }, /not both/],
    [{ commandPrefix: [] }, /commandPrefix must be a non-empty array/],
    [{ commandPrefix: ["nsenter", ""] }, /commandPrefix\[1\] must be a non-empty string/],
    [{ lvmBinary: "" }, /lvmBinary must be a non-empty string/],
    [{ timeoutMs: 0 }, /timeoutMs must be a positive integer/],
    [{ timeoutMs: 1.5 }, /timeoutMs must be a positive integer/],
  ])("refuses the options %j", (options, message) => {
    expect(() => createLvm(options)).toThrow(message);
  });
});

describe("validation before any command runs", () => {
  const invalidCalls: [string, (lvm: Lvm) => Promise<unknown>][] = [
    ["a hostile LV name", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "x; touch /tmp/pwned", sizeBytes: 1 << 20 })],
    ["a hostile VG name", (lvm) => lvm.createLogicalVolume({ vgName: "vg1 --config x", name: "lv", sizeBytes: 1 << 20 })],
    ["an option as VG name", (lvm) => lvm.listLogicalVolumes("--all")],
    ["a reserved LV name", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv_tmeta", sizeBytes: 1 << 20 })],
    ["a zero size", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 0 })],
    ["a bad tag", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, tags: ["a b"] })],
    ["zero stripes", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, stripes: 0 })],
    ["a stripe size without stripes", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, stripeSizeBytes: 65536 })],
    ["a stripe size that is not a power of two", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, stripes: 2, stripeSizeBytes: 65537 })],
    ["a stripe size below 4 KiB", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, stripes: 2, stripeSizeBytes: 2048 })],
    ["a bad thin pool name", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, thinPool: "../x" })],
    ["a retargeting extra argument", (lvm) => lvm.createLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 1, extraArgs: ["othervg"] })],
    ["a shrink to zero", (lvm) => lvm.extendLogicalVolume({ vgName: "vg1", name: "lv", sizeBytes: 0 })],
    ["a bad snapshot source", (lvm) => lvm.createSnapshot({ vgName: "vg1", sourceName: "-x", name: "snap" })],
    ["a bad thin pool size", (lvm) => lvm.createThinPool({ vgName: "vg1", name: "pool", sizeBytes: -1 })],
    ["no tags to add", (lvm) => lvm.addTags({ vgName: "vg1", name: "lv", tags: [] })],
    ["a bad tag to remove", (lvm) => lvm.removeTags({ vgName: "vg1", name: "lv", tags: ["a;b"] })],
    ["a bad VG in a fullreport", (lvm) => lvm.fullReport(["ok", "not ok"])],
    ["a bad VG name to get", (lvm) => lvm.getVolumeGroup("")],
    ["a bad per-call timeout", (lvm) => lvm.listVolumeGroups({ timeoutMs: -5 })],
  ];

  it.each(invalidCalls)("rejects %s with InvalidArgument and spawns nothing", async (_, call) => {
    const { lvm, calls } = recording();
    expect((await rejection(call(lvm))).code).toBe("InvalidArgument");
    expect(calls).toEqual([]);
  });
});

describe("results and failures", () => {
  const recorded = failures();
  const answering = (name: string) => (): ExecResult => {
    const failure = recorded[name];
    if (failure === undefined) throw new Error(`no recorded failure ${name}`);
    return { stdout: "", stderr: failure.stderr, exitCode: failure.exitCode };
  };

  it.each([
    ["create-duplicate", "AlreadyExists"],
    ["create-too-large", "InsufficientSpace"],
    ["create-missing-vg", "NotFound"],
    ["create-too-many-stripes", "CommandFailed"],
  ])("rejects a create that fails with %s as %s, with the command and stderr", async (name, code) => {
    const { lvm, calls } = recording(answering(name));
    const error = await rejection(lvm.createLogicalVolume({ vgName: "vg1", name: "plain", sizeBytes: 1 << 20 }));
    expect(error.code).toBe(code);
    expect(error.exitCode).toBe(5);
    expect(error.stderr).toBe(recorded[name]?.stderr);
    expect(error.argv).toEqual(calls[0]?.argv);
    expect(calls).toHaveLength(1);
    expect(error.message).toMatch(/^lvm lvcreate failed \(exit code 5\): /);
    expect(error.message).not.toMatch(/WARNING/);
  });

  it("rejects a missing VG or LV as NotFound", async () => {
    expect((await rejection(recording(answering("vgs-missing-vg")).lvm.getVolumeGroup("nosuchvg"))).code).toBe("NotFound");
    expect((await rejection(recording(answering("lvs-missing-lv")).lvm.getLogicalVolume({ vgName: "vg1", name: "x" }))).code).toBe("NotFound");
    expect((await rejection(recording(answering("remove-missing-lv")).lvm.removeLogicalVolume({ vgName: "vg1", name: "x" }))).code).toBe("NotFound");
  });

  it("rejects a report without the asked-for VG or LV as NotFound", async () => {
    const empty = JSON.stringify({ report: [{ vg: [], lv: [] }] });
    expect((await rejection(recording(() => ok(empty)).lvm.getVolumeGroup("vg1"))).code).toBe("NotFound");
    expect((await rejection(recording(() => ok(empty)).lvm.getLogicalVolume({ vgName: "vg1", name: "lv" }))).code).toBe("NotFound");
  });

  it.each(["extend-same", "extend-smaller"])("treats lvextend's %s refusal as already large enough", async (name) => {
    const { lvm, calls } = recording((argv) => (argv[1] === "lvextend" ? answering(name)() : ok(oneLv)));
    expect((await lvm.extendLogicalVolume({ vgName: "vg1", name: "tagged", sizeBytes: 1 })).sizeBytes).toBe(8388608);
    expect(calls.map((c) => c.argv[1])).toEqual(["lvextend", "lvs"]);
  });

  it("rejects an extend beyond the free space as InsufficientSpace", async () => {
    const error = await rejection(recording(answering("extend-too-large")).lvm.extendLogicalVolume({ vgName: "vg1", name: "plain", sizeBytes: 2 ** 40 }));
    expect(error.code).toBe("InsufficientSpace");
  });

  it("rejects a report that does not parse as CommandFailed", async () => {
    const error = await rejection(recording(() => ok("garbage")).lvm.listVolumeGroups());
    expect(error.code).toBe("CommandFailed");
    expect(error.message).toMatch(/lvm vgs printed a report that does not parse: not JSON/);
  });

  it("rejects a command killed by a signal as CommandFailed", async () => {
    const error = await rejection(recording(() => ({ stdout: "", stderr: "", exitCode: null })).lvm.listVolumeGroups());
    expect(error).toMatchObject({ code: "CommandFailed", exitCode: null, message: "lvm vgs failed (killed by a signal)" });
  });

  it("rejects a command that cannot start as CommandFailed with the cause", async () => {
    const cause = Object.assign(new Error("spawn lvm ENOENT"), { code: "ENOENT" });
    const lvm = createLvm({ executor: () => Promise.reject(cause) });
    const error = await rejection(lvm.listVolumeGroups());
    expect(error).toMatchObject({ code: "CommandFailed", message: "lvm vgs could not run: spawn lvm ENOENT", cause });
  });
});
