import { LvmError } from "./lvm-error.js";

// lvcreate parses its options with getopt_long, so an argv element can never split into two, but an extra
// argument could still retarget the command: a positional argument names the volume group, `--name` or `--size`
// override the request, `--config`/`--devices` change which disks LVM sees. This module re-parses the extra
// arguments the way getopt does, with lvcreate's option table (lvm2 2.03, `lvcreate --longhelp`), and accepts
// them only when every element is an option or the value of the option before it, and no option is one of
// those that decide the target.

const shortWithValue = new Set("ACILMRVWZacijklmnpr");
const shortFlags = new Set("HKTdhqstvy");

const longWithValue = new Set([
  "activate", "addtag", "alloc", "autobackup", "cachedevice", "cachemetadataformat", "cachemode", "cachepolicy",
  "cachepool", "cachesettings", "cachesize", "cachevol", "chunksize", "commandprofile", "compression", "config",
  "contiguous", "deduplication", "devices", "devicesfile", "discards", "driverloaded", "errorwhenfull", "extents",
  "journal", "lockopt", "major", "maxrecoveryrate", "metadataprofile", "minor", "minrecoveryrate", "mirrorlog",
  "mirrors", "monitor", "name", "permission", "persistent", "poolmetadatasize", "poolmetadataspare", "profile",
  "raidintegrity", "raidintegrityblocksize", "raidintegritymode", "readahead", "regionsize", "reportformat",
  "select", "setactivationskip", "setautoactivation", "size", "stripes", "stripesize", "thinpool", "type",
  "vdopool", "vdosettings", "virtualsize", "wipesignatures", "zero",
]);
const longFlags = new Set([
  "cache", "debug", "help", "ignoreactivationskip", "ignoremonitoring", "longhelp", "nohints", "nolocking", "nosync",
  "noudevsync", "quiet", "snapshot", "test", "thin", "vdo", "verbose", "version", "yes",
]);

// Options the library sets itself from the request, or that change what is created or which disks LVM sees,
// or that make the command do something other than create (help, dry run, no locking).
const refusedShort = new Map<string, string>([
  ["n", "the LV name comes from the request"],
  ["L", "the size comes from the request"],
  ["l", "the size comes from the request"],
  ["V", "the size comes from the request"],
  ["T", "thin volumes are created with the thinPool field"],
  ["s", "snapshots are created with createSnapshot"],
  ["H", "it would create a cache volume"],
  ["h", "it prints help instead of creating"],
  ["t", "it makes the command a dry run"],
]);
const refusedLong = new Map<string, string>([
  ["name", "the LV name comes from the request"],
  ["size", "the size comes from the request"],
  ["extents", "the size comes from the request"],
  ["virtualsize", "the size comes from the request"],
  ["thin", "thin volumes are created with the thinPool field"],
  ["thinpool", "thin volumes are created with the thinPool field"],
  ["snapshot", "snapshots are created with createSnapshot"],
  ["cache", "it would create a cache volume"],
  ["cachepool", "it would create a cache volume"],
  ["cachevol", "it would create a cache volume"],
  ["cachedevice", "it would create a cache volume"],
  ["vdo", "it would create a VDO volume"],
  ["vdopool", "it would create a VDO volume"],
  ["config", "it would change which devices and settings LVM uses"],
  ["devices", "it would change which devices LVM sees"],
  ["devicesfile", "it would change which devices LVM sees"],
  ["driverloaded", "it would change how LVM uses device-mapper"],
  ["select", "it would select other volumes"],
  ["nolocking", "concurrent commands would corrupt the metadata"],
  ["help", "it prints help instead of creating"],
  ["longhelp", "it prints help instead of creating"],
  ["version", "it prints the version instead of creating"],
  ["test", "it makes the command a dry run"],
]);
// Segment types that still make a plain (thick) LV; thin, snapshot, cache and VDO have their own paths.
const allowedTypes = /^(linear|striped|mirror|raid[0-9]*(_[a-z0-9]+)?)$/;
const maxExtraArgLength = 4096;

function refuse(index: number, arg: string, why: string): LvmError {
  return new LvmError("InvalidArgument", `extraArgs[${index}] ${JSON.stringify(arg)} is refused: ${why}`);
}

function checkType(index: number, arg: string, type: string): void {
  if (!allowedTypes.test(type)) {
    throw refuse(index, arg, `--type ${type} is not a thick LV type (linear, striped, mirror, raid*)`);
  }
}

/** Checks lvcreate extra arguments against the rule above and returns them unchanged. */
export function validateLvcreateExtraArgs(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new LvmError("InvalidArgument", "extraArgs must be an array of strings");
  const args = value.map((arg: unknown, index) => {
    if (typeof arg !== "string" || arg === "") throw new LvmError("InvalidArgument", `extraArgs[${index}] must be a non-empty string`);
    if (arg.includes("\0")) throw refuse(index, arg, "it contains a NUL character");
    if (arg.length > maxExtraArgLength) throw refuse(index, arg.slice(0, 32), `it is longer than ${maxExtraArgLength} characters`);
    return arg;
  });
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const needValue = (): string => {
      const next = args[i + 1];
      if (next === undefined) throw refuse(i, arg, "the option needs a value and nothing follows it");
      i++;
      return next;
    };
    if (arg === "--") throw refuse(i, arg, "it would turn the following arguments into positional ones");
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const reason = refusedLong.get(name);
      if (reason !== undefined) throw refuse(i, arg, reason);
      if (longWithValue.has(name)) {
        const optionValue = eq === -1 ? needValue() : arg.slice(eq + 1);
        if (name === "type") checkType(i, arg, optionValue);
      } else if (longFlags.has(name)) {
        if (eq !== -1) throw refuse(i, arg, `--${name} takes no value`);
      } else {
        throw refuse(i, arg, "it is not an lvcreate option (write long options in full)");
      }
    } else if (arg.startsWith("-") && arg.length > 1) {
      // A cluster of short options: flags may be grouped; the first option taking a value takes the rest.
      for (let j = 1; j < arg.length; j++) {
        const letter = arg.charAt(j);
        const reason = refusedShort.get(letter);
        if (reason !== undefined) throw refuse(i, arg, `-${letter}: ${reason}`);
        if (shortWithValue.has(letter)) {
          if (j === arg.length - 1) needValue();
          break;
        }
        if (!shortFlags.has(letter)) throw refuse(i, arg, `-${letter} is not an lvcreate option`);
      }
    } else {
      throw refuse(i, arg, "it is not an option or an option's value; a positional argument would name another volume group or physical volume");
    }
  }
  return args;
}
