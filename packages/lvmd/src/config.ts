import { readFile } from "node:fs/promises";
import { parse, YAMLParseError } from "yaml";

/** Where lvmd listens unless the config or `--socket` says otherwise (upstream's default). */
export const defaultSocketName = "/run/topolvm/lvmd.sock";

/** Where lvmd reads its config unless `--config` says otherwise (upstream's default). */
export const defaultConfigPath = "/etc/topolvm/lvmd.yaml";

/** Upstream's LVM command when `lvm-command-prefix` is absent: the host's lvm, entered from a container via nsenter. */
export const defaultLvmCommandPrefix: readonly string[] = ["/usr/bin/nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1", "/sbin/lvm"];

/** GiB held back from the reported free space of a device-class when `spare-gb` is omitted. */
export const defaultSpareGiB = 10;

const bytesPerGiB = 2 ** 30;

/** A thin pool a thin device-class allocates from. */
export interface ThinPoolConfig {
  readonly name: string;
  readonly overprovisionRatio: number;
}

/** One entry of `device-classes`. */
export interface DeviceClass {
  readonly name: string;
  readonly volumeGroup: string;
  readonly default: boolean;
  readonly spareGiB: number;
  /** `spareGiB` in bytes. */
  readonly spareBytes: number;
  readonly stripe?: number;
  readonly stripeSize?: string;
  /** `stripeSize` in bytes (LVM reads a bare number as KiB). */
  readonly stripeSizeBytes?: number;
  readonly lvcreateOptions: readonly string[];
  readonly type: "thick" | "thin";
  /** Present exactly when `type` is "thin". */
  readonly thinPool?: ThinPoolConfig;
}

/** One entry of `lvcreate-option-classes`. */
export interface LvcreateOptionClass {
  readonly name: string;
  readonly options: readonly string[];
}

/** A validated lvmd.yaml. */
export interface LvmdConfig {
  readonly socketName: string;
  readonly lvmCommandPrefix: readonly string[];
  readonly deviceClasses: readonly DeviceClass[];
  readonly lvcreateOptionClasses: readonly LvcreateOptionClass[];
}

/** Raised for a config that cannot be used; the message names the key and the value at fault. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

// Upstream's device-class name rule (a DNS-label-like name, 1–63 characters).
const classNamePattern = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const maxClassNameLength = 63;
// Upstream's stripe-size rule: a number with an optional LVM unit letter.
const stripeSizePattern = /^([0-9]*)(k|m|g|t|p|e|b|s)?$/i;
const unitBytes: Readonly<Record<string, number>> = { b: 1, s: 512, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50, e: 2 ** 60 };
// LVM's limits on the stripe size.
const minStripeBytes = 4096;
const maxStripeBytes = 2 ** 30;

type Obj = Record<string, unknown>;

function show(value: unknown): string {
  return value === undefined ? "undefined" : JSON.stringify(value);
}

function isObject(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: unknown, key: string, allowed: readonly string[]): Obj {
  if (!isObject(value)) {
    throw new ConfigError(`${key}: must be a mapping, got ${show(value)}`);
  }
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(`${key === "" ? "" : `${key}: `}unknown key ${show(k)} (known keys: ${allowed.join(", ")})`);
    }
  }
  return value;
}

function string(value: unknown, key: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(`${key}: must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

function stringList(value: unknown, key: string): string[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(`${key}: must be a list of strings, got ${show(value)}`);
  }
  return value.map((item, i) => {
    if (typeof item !== "string") {
      throw new ConfigError(`${key}[${i}]: must be a string, got ${show(item)}`);
    }
    return item;
  });
}

function list(value: unknown, key: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(`${key}: must be a list, got ${show(value)}`);
  }
  return value;
}

function className(value: unknown, key: string): string {
  const name = string(value, key);
  if (name.length > maxClassNameLength || !classNamePattern.test(name)) {
    throw new ConfigError(
      `${key}: ${show(name)} is not a valid name (1-${maxClassNameLength} characters: letters, digits, "-", "_", "."; starting and ending with a letter or digit)`,
    );
  }
  return name;
}

function deviceClass(value: unknown, index: number): DeviceClass {
  const at = `device-classes[${index}]`;
  const dc = object(value, at, [
    "name",
    "volume-group",
    "default",
    "spare-gb",
    "stripe",
    "stripe-size",
    "lvcreate-options",
    "type",
    "thin-pool",
  ]);
  const name = className(dc.name, `${at}.name`);
  const volumeGroup = string(dc["volume-group"], `${at}.volume-group`);

  const isDefault = dc.default ?? false;
  if (typeof isDefault !== "boolean") {
    throw new ConfigError(`${at}.default: must be true or false, got ${show(isDefault)}`);
  }

  const spareGiB = dc["spare-gb"] ?? defaultSpareGiB;
  if (typeof spareGiB !== "number" || !Number.isSafeInteger(spareGiB) || spareGiB < 0 || spareGiB * bytesPerGiB > Number.MAX_SAFE_INTEGER) {
    throw new ConfigError(`${at}.spare-gb: must be a whole number of GiB, 0 or more, got ${show(spareGiB)}`);
  }

  let stripe: number | undefined;
  if (dc.stripe !== undefined && dc.stripe !== null) {
    if (typeof dc.stripe !== "number" || !Number.isSafeInteger(dc.stripe) || dc.stripe < 1) {
      throw new ConfigError(`${at}.stripe: must be a whole number of stripes, 1 or more, got ${show(dc.stripe)}`);
    }
    stripe = dc.stripe;
  }

  let stripeSize: string | undefined;
  let stripeSizeBytes: number | undefined;
  if (dc["stripe-size"] !== undefined && dc["stripe-size"] !== null && dc["stripe-size"] !== "") {
    const raw = dc["stripe-size"];
    const text = typeof raw === "number" ? String(raw) : raw;
    const match = typeof text === "string" ? stripeSizePattern.exec(text) : null;
    if (typeof text !== "string" || match === null) {
      throw new ConfigError(`${at}.stripe-size: must be a size such as "64k" or "4m", got ${show(raw)}`);
    }
    const bytes = Number(match[1] ?? "") * (unitBytes[(match[2] ?? "k").toLowerCase()] ?? 1);
    if (!Number.isSafeInteger(bytes) || bytes < minStripeBytes || bytes > maxStripeBytes || (bytes & (bytes - 1)) !== 0) {
      throw new ConfigError(`${at}.stripe-size: must be a power of two from 4k to 1g, got ${show(raw)}`);
    }
    stripeSize = text;
    stripeSizeBytes = bytes;
  }

  const lvcreateOptions =
    dc["lvcreate-options"] === undefined || dc["lvcreate-options"] === null
      ? []
      : stringList(dc["lvcreate-options"], `${at}.lvcreate-options`);

  const type = dc.type ?? "";
  if (type !== "" && type !== "thick" && type !== "thin") {
    throw new ConfigError(`${at}.type: must be "thick" or "thin", got ${show(type)}`);
  }

  let thinPool: ThinPoolConfig | undefined;
  if (type === "thin") {
    if (dc["thin-pool"] === undefined || dc["thin-pool"] === null) {
      throw new ConfigError(`${at}.thin-pool: required when type is "thin"`);
    }
    const pool = object(dc["thin-pool"], `${at}.thin-pool`, ["name", "overprovision-ratio"]);
    const ratio = pool["overprovision-ratio"];
    if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 1) {
      throw new ConfigError(`${at}.thin-pool.overprovision-ratio: must be a number, 1.0 or more, got ${show(ratio)}`);
    }
    thinPool = { name: string(pool.name, `${at}.thin-pool.name`), overprovisionRatio: ratio };
  }

  return {
    name,
    volumeGroup,
    default: isDefault,
    spareGiB,
    spareBytes: spareGiB * bytesPerGiB,
    ...(stripe === undefined ? {} : { stripe }),
    ...(stripeSize === undefined || stripeSizeBytes === undefined ? {} : { stripeSize, stripeSizeBytes }),
    lvcreateOptions,
    type: type === "thin" ? "thin" : "thick",
    ...(thinPool === undefined ? {} : { thinPool }),
  };
}

function optionClass(value: unknown, index: number): LvcreateOptionClass {
  const at = `lvcreate-option-classes[${index}]`;
  const oc = object(value, at, ["name", "options"]);
  const name = className(oc.name, `${at}.name`);
  const options = oc.options === undefined || oc.options === null ? [] : stringList(oc.options, `${at}.options`);
  return { name, options };
}

/** The key a device-class allocates from: the VG for thick classes, `vg/pool` for thin ones (upstream's uniqueness rule). */
export function allocationTarget(dc: DeviceClass): string {
  return dc.thinPool === undefined ? dc.volumeGroup : `${dc.volumeGroup}/${dc.thinPool.name}`;
}

/** Validates a parsed lvmd.yaml document; throws ConfigError naming the key and value at fault. */
export function validateConfig(doc: unknown): LvmdConfig {
  if (doc === null || doc === undefined) {
    throw new ConfigError("device-classes: required, the config is empty");
  }
  const root = object(doc, "", ["socket-name", "device-classes", "lvcreate-option-classes", "lvm-command-prefix"]);

  const socketName = root["socket-name"] === undefined || root["socket-name"] === null ? defaultSocketName : string(root["socket-name"], "socket-name");

  let lvmCommandPrefix: readonly string[] = defaultLvmCommandPrefix;
  if (root["lvm-command-prefix"] !== undefined && root["lvm-command-prefix"] !== null) {
    lvmCommandPrefix = stringList(root["lvm-command-prefix"], "lvm-command-prefix");
    if (lvmCommandPrefix.length === 0 || lvmCommandPrefix.some((arg) => arg === "")) {
      throw new ConfigError(`lvm-command-prefix: must name the lvm command, e.g. ["/sbin/lvm"], got ${show(lvmCommandPrefix)}`);
    }
  }

  if (root["device-classes"] === undefined || root["device-classes"] === null) {
    throw new ConfigError("device-classes: required, at least one device-class must be listed");
  }
  const deviceClasses = list(root["device-classes"], "device-classes").map(deviceClass);
  if (deviceClasses.length === 0) {
    throw new ConfigError("device-classes: at least one device-class must be listed, got []");
  }

  const names = new Map<string, number>();
  const targets = new Map<string, number>();
  let defaultIndex: number | undefined;
  deviceClasses.forEach((dc, i) => {
    const sameName = names.get(dc.name);
    if (sameName !== undefined) {
      throw new ConfigError(`device-classes[${i}].name: ${show(dc.name)} is already used by device-classes[${sameName}]`);
    }
    names.set(dc.name, i);
    const target = allocationTarget(dc);
    const sameTarget = targets.get(target);
    if (sameTarget !== undefined) {
      const key = dc.thinPool === undefined ? "volume-group" : "thin-pool.name";
      throw new ConfigError(`device-classes[${i}].${key}: ${show(target)} is already used by device-classes[${sameTarget}]`);
    }
    targets.set(target, i);
    if (dc.default) {
      if (defaultIndex !== undefined) {
        throw new ConfigError(
          `device-classes[${i}].default: only one device-class may be the default, device-classes[${defaultIndex}] (${show(deviceClasses[defaultIndex]?.name)}) already is`,
        );
      }
      defaultIndex = i;
    }
  });

  const lvcreateOptionClasses =
    root["lvcreate-option-classes"] === undefined || root["lvcreate-option-classes"] === null
      ? []
      : list(root["lvcreate-option-classes"], "lvcreate-option-classes").map(optionClass);
  const optionNames = new Map<string, number>();
  lvcreateOptionClasses.forEach((oc, i) => {
    const same = optionNames.get(oc.name);
    if (same !== undefined) {
      throw new ConfigError(`lvcreate-option-classes[${i}].name: ${show(oc.name)} is already used by lvcreate-option-classes[${same}]`);
    }
    optionNames.set(oc.name, i);
  });

  return { socketName, lvmCommandPrefix, deviceClasses, lvcreateOptionClasses };
}

/** How many alias expansions a config may cause (yaml's default); a config has no need for more. */
const maxAliasCount = 100;

/** Parses and validates the text of an lvmd.yaml. */
export function parseConfig(text: string): LvmdConfig {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, maxAliasCount });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      throw new ConfigError(`not valid YAML: ${err.message}`);
    }
    // yaml throws a ReferenceError for an alias it will not expand (too many, as in a
    // "billion laughs" bomb, or an unresolvable one): a fault of the file, not of lvmd.
    if (err instanceof ReferenceError) {
      throw new ConfigError(`not valid YAML: ${err.message} (at most ${maxAliasCount} alias expansions)`);
    }
    throw err;
  }
  return validateConfig(doc);
}

/** Reads, parses and validates an lvmd.yaml file; errors name the file. */
export async function loadConfig(path: string): Promise<LvmdConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  try {
    return parseConfig(text);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`${path}: ${err.message}`);
    }
    throw err;
  }
}

/** The device-class a request names; "" selects the default class. undefined when there is none. */
export function findDeviceClass(config: LvmdConfig, name: string): DeviceClass | undefined {
  return name === "" ? config.deviceClasses.find((dc) => dc.default) : config.deviceClasses.find((dc) => dc.name === name);
}

/** What LVM holds, as far as checking a config against it needs: volume groups and the thin pools in each. */
export interface LvmInventory {
  readonly volumeGroups: ReadonlyMap<string, { readonly thinPools: ReadonlySet<string> }>;
}

/** Checks that every device-class's volume group (and thin pool) exists; throws ConfigError for the first that does not. */
export function checkConfigAgainstLvm(config: LvmdConfig, inventory: LvmInventory): void {
  config.deviceClasses.forEach((dc, i) => {
    const vg = inventory.volumeGroups.get(dc.volumeGroup);
    if (vg === undefined) {
      throw new ConfigError(`device-classes[${i}].volume-group: volume group ${show(dc.volumeGroup)} not found`);
    }
    if (dc.thinPool !== undefined && !vg.thinPools.has(dc.thinPool.name)) {
      throw new ConfigError(
        `device-classes[${i}].thin-pool.name: thin pool ${show(dc.thinPool.name)} not found in volume group ${show(dc.volumeGroup)}`,
      );
    }
  });
}
