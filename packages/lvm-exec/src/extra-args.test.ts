import { describe, expect, it } from "vitest";
import { validateLvcreateExtraArgs } from "./extra-args.js";
import { thrown } from "../test/support.js";

const refusal = (args: unknown): string => thrown(() => validateLvcreateExtraArgs(args)).message;

describe("lvcreate extra arguments", () => {
  it.each([
    [[]],
    [["-an", "-Zn"]],
    [["-a", "n", "-Z", "n"]],
    [["--type", "raid1", "-m", "1"]],
    [["--type=raid1", "--mirrors=1"]],
    [["--type=striped", "-i2", "-I64k"]],
    [["--type", "raid10"]],
    [["--type", "mirror", "--nosync"]],
    [["--alloc", "cling_by_tags"]],
    [["--addtag", "-dash-tag"]],
    [["-vy"]],
    [["-v", "-y", "-q"]],
    [["--setautoactivation", "n", "--monitor", "n"]],
    [["-r", "auto", "--zero=n"]],
    [["--profile", "thin-performance"]],
  ])("accepts %j", (args) => {
    expect(validateLvcreateExtraArgs(args)).toEqual(args);
  });

  it("treats an absent list as empty", () => {
    expect(validateLvcreateExtraArgs(undefined)).toEqual([]);
  });

  it.each([
    [["othervg"], /positional argument would name another volume group/],
    [["/dev/sdb"], /positional argument/],
    [["--nosync", "othervg"], /positional argument/],
    [["-y", "othervg"], /positional argument/],
    [["-"], /positional argument/],
    [["--", "x"], /following arguments into positional/],
    [["-n", "other"], /-n: the LV name comes from the request/],
    [["-nother"], /-n: the LV name/],
    [["-vnother"], /-n: the LV name/],
    [["--name", "other"], /the LV name comes from the request/],
    [["--name=other"], /the LV name comes from the request/],
    [["-L", "1g"], /the size comes from the request/],
    [["-l100%FREE"], /the size comes from the request/],
    [["--extents", "100%FREE"], /the size comes from the request/],
    [["-V1g"], /the size comes from the request/],
    [["--size=1g"], /the size comes from the request/],
    [["-T"], /thinPool field/],
    [["--thinpool", "pool"], /thinPool field/],
    [["-s"], /createSnapshot/],
    [["--snapshot"], /createSnapshot/],
    [["--type", "thin"], /not a thick LV type/],
    [["--type=thin-pool"], /not a thick LV type/],
    [["--type", "snapshot"], /not a thick LV type/],
    [["--type", "cache"], /not a thick LV type/],
    [["--type", "vdo"], /not a thick LV type/],
    [["--cachepool", "vg/cp"], /cache volume/],
    [["-H"], /cache volume/],
    [["--vdo"], /VDO volume/],
    [["--config", "devices { filter = [ \"a|.*|\" ] }"], /which devices and settings/],
    [["--devices", "/dev/sdb"], /which devices LVM sees/],
    [["--devicesfile", "other"], /which devices LVM sees/],
    [["--select", "lv_name=x"], /select other volumes/],
    [["--nolocking"], /corrupt the metadata/],
    [["-t"], /dry run/],
    [["--test"], /dry run/],
    [["-h"], /prints help/],
    [["--help"], /prints help/],
    [["--version"], /prints the version/],
    [["--nam", "x"], /not an lvcreate option \(write long options in full\)/],
    [["--no-such-option"], /not an lvcreate option/],
    [["-X"], /-X is not an lvcreate option/],
    [["--nosync=yes"], /--nosync takes no value/],
    [["-m"], /needs a value and nothing follows/],
    [["--type"], /needs a value and nothing follows/],
    [["a\0b"], /NUL/],
    [[""], /must be a non-empty string/],
    [[42], /must be a non-empty string/],
    ["-an", /must be an array/],
    [["x".repeat(4097)], /longer than 4096/],
  ])("refuses %j", (args, message) => {
    expect(refusal(args)).toMatch(message);
  });

  it("names the offending element by its index", () => {
    expect(refusal(["-an", "--name", "x"])).toBe('extraArgs[1] "--name" is refused: the LV name comes from the request');
  });

  it("consumes the value of an option as getopt does, even when it looks like an option", () => {
    expect(validateLvcreateExtraArgs(["--addtag", "--name"])).toEqual(["--addtag", "--name"]);
    expect(validateLvcreateExtraArgs(["-a", "-n"])).toEqual(["-a", "-n"]);
  });
});
