import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkConfigAgainstLvm,
  ConfigError,
  defaultLvmCommandPrefix,
  defaultSocketName,
  findDeviceClass,
  loadConfig,
  parseConfig,
  type LvmInventory,
} from "./config.js";
import { yamlAliasBomb } from "../../../tools/yaml-alias-bomb.js";

const minimal = "device-classes:\n  - name: ssd\n    volume-group: myvg1\n    default: true\n";

function rejects(yaml: string): string {
  try {
    parseConfig(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

function classYaml(extra: string): string {
  return `device-classes:\n  - name: ssd\n    volume-group: vg\n${extra}`;
}

describe("parseConfig", () => {
  it("applies upstream's defaults to a minimal config", () => {
    const config = parseConfig(minimal);
    expect(config.socketName).toBe(defaultSocketName);
    expect(config.lvmCommandPrefix).toEqual(defaultLvmCommandPrefix);
    expect(config.lvcreateOptionClasses).toEqual([]);
    expect(config.deviceClasses).toEqual([
      { name: "ssd", volumeGroup: "myvg1", default: true, spareGiB: 10, spareBytes: 10 * 2 ** 30, lvcreateOptions: [], type: "thick" },
    ]);
  });

  it("reads every upstream key", () => {
    const config = parseConfig(`
socket-name: /tmp/lvmd.sock
lvm-command-prefix: ["/sbin/lvm"]
device-classes:
  - name: ssd
    volume-group: vg1
    default: true
    spare-gb: 0
    stripe: 2
    stripe-size: 64k
    lvcreate-options: ["--type=raid1"]
    type: thick
  - name: ssd-thin
    volume-group: vg1
    type: thin
    thin-pool:
      name: pool0
      overprovision-ratio: 10.0
lvcreate-option-classes:
  - name: raid1
    options: ["--type=raid1", "-m", "1"]
`);
    expect(config.socketName).toBe("/tmp/lvmd.sock");
    expect(config.lvmCommandPrefix).toEqual(["/sbin/lvm"]);
    expect(config.deviceClasses[0]).toEqual({
      name: "ssd",
      volumeGroup: "vg1",
      default: true,
      spareGiB: 0,
      spareBytes: 0,
      stripe: 2,
      stripeSize: "64k",
      stripeSizeBytes: 65536,
      lvcreateOptions: ["--type=raid1"],
      type: "thick",
    });
    expect(config.deviceClasses[1]).toMatchObject({ type: "thin", thinPool: { name: "pool0", overprovisionRatio: 10 }, spareGiB: 10 });
    expect(config.lvcreateOptionClasses).toEqual([{ name: "raid1", options: ["--type=raid1", "-m", "1"] }]);
  });

  it("lets a thick class and thin classes share a volume group", () => {
    const config = parseConfig(`
device-classes:
  - { name: a, volume-group: vg }
  - { name: b, volume-group: vg, type: thin, thin-pool: { name: p1, overprovision-ratio: 2 } }
  - { name: c, volume-group: vg, type: thin, thin-pool: { name: p2, overprovision-ratio: 1 } }
`);
    expect(config.deviceClasses.map((dc) => dc.name)).toEqual(["a", "b", "c"]);
  });

  it("ignores thin-pool on a thick class, as upstream does", () => {
    const config = parseConfig(classYaml("    thin-pool: { name: p, overprovision-ratio: 5 }\n"));
    expect(config.deviceClasses[0]?.thinPool).toBeUndefined();
  });

  it("reads a stripe-size given as a bare number as KiB, like LVM", () => {
    expect(parseConfig(classYaml("    stripe: 2\n    stripe-size: 128\n")).deviceClasses[0]).toMatchObject({ stripeSize: "128", stripeSizeBytes: 131072 });
  });

  it("reads stripe-size units case-insensitively", () => {
    expect(parseConfig(classYaml("    stripe: 2\n    stripe-size: 1M\n")).deviceClasses[0]?.stripeSizeBytes).toBe(2 ** 20);
  });

  it.each([
    ["an empty document", "", "device-classes: required, the config is empty"],
    ["a document that is not a mapping", "- a\n", 'must be a mapping, got ["a"]'],
    ["invalid YAML", "device-classes: [\n", "not valid YAML"],
    ["a duplicated YAML key", "socket-name: a\nsocket-name: b\n" + minimal, "not valid YAML"],
    ["an unknown top-level key", "sockt-name: /x\n" + minimal, 'unknown key "sockt-name" (known keys: socket-name, device-classes,'],
    ["no device-classes key", "socket-name: /x\n", "device-classes: required, at least one device-class must be listed"],
    ["an empty device-classes list", "device-classes: []\n", "device-classes: at least one device-class must be listed, got []"],
    ["device-classes that is not a list", "device-classes: {}\n", "device-classes: must be a list, got {}"],
    ["an empty socket-name", 'socket-name: ""\n' + minimal, 'socket-name: must be a non-empty string, got ""'],
    ["an empty lvm-command-prefix", "lvm-command-prefix: []\n" + minimal, 'lvm-command-prefix: must name the lvm command, e.g. ["/sbin/lvm"], got []'],
    ["an lvm-command-prefix with a number", "lvm-command-prefix: [lvm, 3]\n" + minimal, "lvm-command-prefix[1]: must be a string, got 3"],
    ["an lvm-command-prefix that is a string", "lvm-command-prefix: lvm\n" + minimal, 'lvm-command-prefix: must be a list of strings, got "lvm"'],
    ["a device-class that is not a mapping", "device-classes: [ssd]\n", 'device-classes[0]: must be a mapping, got "ssd"'],
    ["an unknown device-class key", classYaml("    sparegb: 3\n"), 'device-classes[0]: unknown key "sparegb"'],
    ["a device-class with no name", "device-classes:\n  - volume-group: vg\n", "device-classes[0].name: must be a non-empty string, got undefined"],
    ["a device-class name with a space", "device-classes:\n  - { name: 'my ssd', volume-group: vg }\n", 'device-classes[0].name: "my ssd" is not a valid name'],
    ["a device-class name ending in a dash", "device-classes:\n  - { name: ssd-, volume-group: vg }\n", 'device-classes[0].name: "ssd-" is not a valid name'],
    ["a device-class name of 64 characters", `device-classes:\n  - { name: ${"a".repeat(64)}, volume-group: vg }\n`, `"${"a".repeat(64)}" is not a valid name (1-63 characters`],
    ["a device-class with no volume-group", "device-classes:\n  - name: ssd\n", "device-classes[0].volume-group: must be a non-empty string, got undefined"],
    ["a default that is not a boolean", classYaml("    default: yes please\n"), 'device-classes[0].default: must be true or false, got "yes please"'],
    ["a negative spare-gb", classYaml("    spare-gb: -1\n"), "device-classes[0].spare-gb: must be a whole number of GiB, 0 or more, got -1"],
    ["a fractional spare-gb", classYaml("    spare-gb: 1.5\n"), "device-classes[0].spare-gb: must be a whole number of GiB, 0 or more, got 1.5"],
    ["a spare-gb given as text", classYaml("    spare-gb: ten\n"), 'device-classes[0].spare-gb: must be a whole number of GiB, 0 or more, got "ten"'],
    ["a huge spare-gb", classYaml("    spare-gb: 100000000000\n"), "device-classes[0].spare-gb: must be a whole number of GiB, 0 or more, got 100000000000"],
    ["a zero stripe", classYaml("    stripe: 0\n"), "device-classes[0].stripe: must be a whole number of stripes, 1 or more, got 0"],
    ["a stripe given as text", classYaml("    stripe: two\n"), 'device-classes[0].stripe: must be a whole number of stripes, 1 or more, got "two"'],
    ["a bad stripe-size", classYaml("    stripe: 2\n    stripe-size: 64x\n"), 'device-classes[0].stripe-size: must be a size such as "64k" or "4m", got "64x"'],
    ["a stripe-size that is not a power of two", classYaml("    stripe: 2\n    stripe-size: 96k\n"), 'device-classes[0].stripe-size: must be a power of two from 4k to 1g, got "96k"'],
    ["a stripe-size below 4k", classYaml("    stripe: 2\n    stripe-size: 512b\n"), 'device-classes[0].stripe-size: must be a power of two from 4k to 1g, got "512b"'],
    ["lvcreate-options that is a string", classYaml("    lvcreate-options: --type=raid1\n"), 'device-classes[0].lvcreate-options: must be a list of strings, got "--type=raid1"'],
    ["an unknown type", classYaml("    type: thinn\n"), 'device-classes[0].type: must be "thick" or "thin", got "thinn"'],
    ["a thin class without thin-pool", classYaml("    type: thin\n"), 'device-classes[0].thin-pool: required when type is "thin"'],
    ["an unknown thin-pool key", classYaml("    type: thin\n    thin-pool: { name: p, overprovision-ratio: 2, size: 3 }\n"), 'device-classes[0].thin-pool: unknown key "size"'],
    ["a thin-pool without a name", classYaml("    type: thin\n    thin-pool: { overprovision-ratio: 2 }\n"), "device-classes[0].thin-pool.name: must be a non-empty string, got undefined"],
    ["an overprovision-ratio below 1", classYaml("    type: thin\n    thin-pool: { name: p, overprovision-ratio: 0.5 }\n"), "device-classes[0].thin-pool.overprovision-ratio: must be a number, 1.0 or more, got 0.5"],
    ["a missing overprovision-ratio", classYaml("    type: thin\n    thin-pool: { name: p }\n"), "device-classes[0].thin-pool.overprovision-ratio: must be a number, 1.0 or more, got undefined"],
    [
      "two device-classes with one name",
      "device-classes:\n  - { name: ssd, volume-group: a }\n  - { name: ssd, volume-group: b }\n",
      'device-classes[1].name: "ssd" is already used by device-classes[0]',
    ],
    [
      "two thick device-classes on one volume group",
      "device-classes:\n  - { name: a, volume-group: vg }\n  - { name: b, volume-group: vg }\n",
      'device-classes[1].volume-group: "vg" is already used by device-classes[0]',
    ],
    [
      "two thin device-classes on one pool",
      "device-classes:\n  - { name: a, volume-group: vg, type: thin, thin-pool: { name: p, overprovision-ratio: 1 } }\n  - { name: b, volume-group: vg, type: thin, thin-pool: { name: p, overprovision-ratio: 2 } }\n",
      'device-classes[1].thin-pool.name: "vg/p" is already used by device-classes[0]',
    ],
    [
      "two default device-classes",
      "device-classes:\n  - { name: a, volume-group: v1, default: true }\n  - { name: b, volume-group: v2, default: true }\n",
      'device-classes[1].default: only one device-class may be the default, device-classes[0] ("a") already is',
    ],
    ["lvcreate-option-classes that is not a list", minimal + "lvcreate-option-classes: raid\n", 'lvcreate-option-classes: must be a list, got "raid"'],
    ["an unknown lvcreate-option-class key", minimal + "lvcreate-option-classes:\n  - { name: r, opts: [] }\n", 'lvcreate-option-classes[0]: unknown key "opts"'],
    ["an lvcreate-option-class without a name", minimal + "lvcreate-option-classes:\n  - { options: [] }\n", "lvcreate-option-classes[0].name: must be a non-empty string, got undefined"],
    ["lvcreate-option-class options that are not strings", minimal + "lvcreate-option-classes:\n  - { name: r, options: [1] }\n", "lvcreate-option-classes[0].options[0]: must be a string, got 1"],
    [
      "two lvcreate-option-classes with one name",
      minimal + "lvcreate-option-classes:\n  - { name: r, options: [] }\n  - { name: r, options: [] }\n",
      'lvcreate-option-classes[1].name: "r" is already used by lvcreate-option-classes[0]',
    ],
  ])("rejects %s", (_what, yaml, message) => {
    expect(rejects(yaml)).toContain(message);
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "lvmd-config-"));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads a file", async () => {
    const path = join(dir, "ok.yaml");
    writeFileSync(path, minimal);
    expect((await loadConfig(path)).deviceClasses[0]?.name).toBe("ssd");
  });

  it("names the file in a validation error", async () => {
    const path = join(dir, "bad.yaml");
    writeFileSync(path, "device-classes: []\n");
    await expect(loadConfig(path)).rejects.toThrow(`${path}: device-classes: at least one device-class must be listed, got []`);
  });

  it("reports a YAML alias bomb as a config error naming the file", async () => {
    const path = join(dir, "bomb.yaml");
    writeFileSync(path, `${yamlAliasBomb}\n${minimal}`);
    const loading = loadConfig(path);
    await expect(loading).rejects.toThrow(ConfigError);
    await expect(loading).rejects.toThrow(`${path}: not valid YAML: Excessive alias count`);
  });

  it("names the file it cannot read", async () => {
    await expect(loadConfig(join(dir, "missing.yaml"))).rejects.toThrow(/^cannot read config .*missing\.yaml: ENOENT/);
  });
});

describe("findDeviceClass", () => {
  const config = parseConfig("device-classes:\n  - { name: a, volume-group: v1 }\n  - { name: b, volume-group: v2, default: true }\n");

  it("resolves the empty name to the default class", () => {
    expect(findDeviceClass(config, "")?.name).toBe("b");
  });

  it("resolves a class by name", () => {
    expect(findDeviceClass(config, "a")?.volumeGroup).toBe("v1");
  });

  it("finds nothing for an unknown name, or for the empty name without a default", () => {
    expect(findDeviceClass(config, "c")).toBeUndefined();
    expect(findDeviceClass(parseConfig("device-classes:\n  - { name: a, volume-group: v1 }\n"), "")).toBeUndefined();
  });
});

describe("checkConfigAgainstLvm", () => {
  const config = parseConfig(`
device-classes:
  - { name: a, volume-group: vg1 }
  - { name: t, volume-group: vg1, type: thin, thin-pool: { name: pool0, overprovision-ratio: 2 } }
`);
  const inventory = (vgs: Record<string, string[]>): LvmInventory => ({
    volumeGroups: new Map(Object.entries(vgs).map(([vg, pools]) => [vg, { thinPools: new Set(pools) }])),
  });

  it("accepts a config whose volume groups and pools exist", () => {
    expect(() => {
      checkConfigAgainstLvm(config, inventory({ vg1: ["pool0"] }));
    }).not.toThrow();
  });

  it("rejects a missing volume group", () => {
    expect(() => {
      checkConfigAgainstLvm(config, inventory({ other: [] }));
    }).toThrow('device-classes[0].volume-group: volume group "vg1" not found');
  });

  it("rejects a missing thin pool", () => {
    expect(() => {
      checkConfigAgainstLvm(config, inventory({ vg1: ["pool1"] }));
    }).toThrow('device-classes[1].thin-pool.name: thin pool "pool0" not found in volume group "vg1"');
  });
});
