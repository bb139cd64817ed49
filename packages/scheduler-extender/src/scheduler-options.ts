import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { Divisors } from "./divisors.js";

/** Where the HTTP server listens; an empty host means every interface. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** The contents of `scheduler-options.yaml`. */
export interface SchedulerOptions {
  readonly listen: ListenAddress;
  readonly divisors: Divisors;
}

/** Thrown when the options file cannot be read or has a bad key or value; the message names both. */
export class SchedulerOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchedulerOptionsError";
  }
}

/** The port from DESIGN.md §1 (upstream's code defaults to :8000, its chart writes 9251). */
export const defaultListen = ":9251";
const knownKeys = new Set(["listen", "default-divisor", "divisors"]);

/** Shows a decoded YAML value in an error: numbers as YAML wrote them (JSON has no Infinity), the rest as JSON. */
function show(value: unknown): string {
  return typeof value === "number" || value === undefined ? String(value) : JSON.stringify(value);
}

/** Parses `host:port`, `:port` or `[ipv6]:port`. */
export function parseListenAddress(value: unknown, key = "listen"): ListenAddress {
  const match = typeof value === "string" ? /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):([0-9]{1,5})$/.exec(value) : null;
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new SchedulerOptionsError(`${key}: ${show(value)} is not host:port (for example ":9251" or "127.0.0.1:9251")`);
  }
  return { host: (match[1] ?? "").replace(/^\[(.*)\]$/, "$1"), port };
}

function positiveNumber(value: unknown, key: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new SchedulerOptionsError(`${key}: ${show(value)} is not a number > 0`);
  }
  return value;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Validates the decoded options; keys outside `listen`, `default-divisor` and `divisors` are rejected. */
export function schedulerOptionsFrom(raw: unknown): SchedulerOptions {
  raw ??= {};
  if (!isMapping(raw)) {
    throw new SchedulerOptionsError(`the options must be a mapping, not ${show(raw)}`);
  }
  for (const key of Object.keys(raw)) {
    if (!knownKeys.has(key)) {
      throw new SchedulerOptionsError(`unknown key ${show(key)} (known keys: ${[...knownKeys].join(", ")})`);
    }
  }
  const listen = parseListenAddress(raw.listen ?? defaultListen);
  const defaultDivisor = positiveNumber(raw["default-divisor"] ?? 1, "default-divisor");
  const rawDivisors = raw.divisors ?? {};
  if (!isMapping(rawDivisors)) {
    throw new SchedulerOptionsError(`divisors: ${show(rawDivisors)} is not a mapping of device-class to number`);
  }
  const byDeviceClass = new Map<string, number>();
  for (const [deviceClass, divisor] of Object.entries(rawDivisors)) {
    byDeviceClass.set(deviceClass, positiveNumber(divisor, `divisors.${deviceClass}`));
  }
  return { listen, divisors: { defaultDivisor, byDeviceClass } };
}

/** How many alias expansions an options file may cause (yaml's default); it has no need for more. */
const maxAliasCount = 100;

/** Parses the YAML text of an options file; `source` names it in errors. */
export function parseSchedulerOptions(text: string, source: string): SchedulerOptions {
  const document = parseDocument(text, { uniqueKeys: true });
  const [firstError] = document.errors;
  if (firstError !== undefined) {
    throw new SchedulerOptionsError(`${source}: ${firstError.message}`);
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount });
  } catch (error) {
    // yaml throws a ReferenceError for aliases it will not expand (an alias bomb, an unresolvable alias).
    if (error instanceof ReferenceError) {
      throw new SchedulerOptionsError(`${source}: ${error.message} (at most ${maxAliasCount} alias expansions)`);
    }
    throw error;
  }
  try {
    return schedulerOptionsFrom(raw);
  } catch (error) {
    if (error instanceof SchedulerOptionsError) {
      throw new SchedulerOptionsError(`${source}: ${error.message}`);
    }
    throw error;
  }
}

/** Reads and validates an options file. */
export async function loadSchedulerOptions(path: string): Promise<SchedulerOptions> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new SchedulerOptionsError(`${path}: ${(error as Error).message}`);
  }
  return parseSchedulerOptions(text, path);
}
