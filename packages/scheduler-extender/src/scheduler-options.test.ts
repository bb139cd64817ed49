import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SchedulerOptionsError, loadSchedulerOptions, parseListenAddress, parseSchedulerOptions } from "./scheduler-options.js";
import { yamlAliasBomb } from "../../../tools/yaml-alias-bomb.js";

describe("parseSchedulerOptions", () => {
  it("defaults listen to :9251 and the divisors to 1", () => {
    const options = parseSchedulerOptions("", "opts.yaml");
    expect(options.listen).toEqual({ host: "", port: 9251 });
    expect(options.divisors.defaultDivisor).toBe(1);
    expect(options.divisors.byDeviceClass.size).toBe(0);
  });

  it("reads every key", () => {
    const options = parseSchedulerOptions(
      'listen: "localhost:9252"\ndefault-divisor: 2.5\ndivisors:\n  ssd: 10\n  00default: 0.5\n',
      "opts.yaml",
    );
    expect(options.listen).toEqual({ host: "localhost", port: 9252 });
    expect(options.divisors.defaultDivisor).toBe(2.5);
    expect([...options.divisors.byDeviceClass]).toEqual([
      ["ssd", 10],
      ["00default", 0.5],
    ]);
  });

  it.each([
    { yaml: "listen: 9251", message: 'opts.yaml: listen: 9251 is not host:port (for example ":9251" or "127.0.0.1:9251")' },
    { yaml: 'listen: ":99999"', message: 'opts.yaml: listen: ":99999" is not host:port' },
    { yaml: "default-divisor: 0", message: "opts.yaml: default-divisor: 0 is not a number > 0" },
    { yaml: "default-divisor: ten", message: 'opts.yaml: default-divisor: "ten" is not a number > 0' },
    { yaml: "divisors:\n  ssd: -1", message: "opts.yaml: divisors.ssd: -1 is not a number > 0" },
    { yaml: "divisors:\n  ssd: .inf", message: "opts.yaml: divisors.ssd: Infinity is not a number > 0" },
    { yaml: "divisors: [1]", message: "opts.yaml: divisors: [1] is not a mapping of device-class to number" },
    { yaml: "profiling-bind-address: :6060", message: 'opts.yaml: unknown key "profiling-bind-address"' },
    { yaml: "- listen", message: 'opts.yaml: the options must be a mapping, not ["listen"]' },
    { yaml: "listen: a\nlisten: b", message: "opts.yaml: Map keys must be unique" },
  ])("rejects $yaml", ({ yaml, message }) => {
    expect(() => parseSchedulerOptions(yaml, "opts.yaml")).toThrow(SchedulerOptionsError);
    expect(() => parseSchedulerOptions(yaml, "opts.yaml")).toThrow(message);
  });
});

describe("parseSchedulerOptions and aliases", () => {
  it("reports a YAML alias bomb as an options error naming the file", () => {
    expect(() => parseSchedulerOptions(yamlAliasBomb, "opts.yaml")).toThrow(SchedulerOptionsError);
    expect(() => parseSchedulerOptions(yamlAliasBomb, "opts.yaml")).toThrow("opts.yaml: Excessive alias count");
  });

  it("still expands a few aliases", () => {
    const options = parseSchedulerOptions("divisors:\n  ssd: &two 2\n  hdd: *two\n", "opts.yaml");
    expect(options.divisors.byDeviceClass.get("hdd")).toBe(2);
  });
});

describe("parseListenAddress", () => {
  it.each([
    [":9251", { host: "", port: 9251 }],
    ["0.0.0.0:0", { host: "0.0.0.0", port: 0 }],
    ["[::1]:9251", { host: "::1", port: 9251 }],
  ])("reads %s", (text, address) => {
    expect(parseListenAddress(text)).toEqual(address);
  });

  it.each(["9251", "host", "::1:9251", "[::1]", "a:b:1"])("rejects %s", (text) => {
    expect(() => parseListenAddress(text)).toThrow(SchedulerOptionsError);
  });
});

describe("loadSchedulerOptions", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("reads a file and names it in errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "scheduler-options-"));
    dirs.push(dir);
    const good = join(dir, "good.yaml");
    const bad = join(dir, "bad.yaml");
    await writeFile(good, "default-divisor: 3\n");
    await writeFile(bad, "divisors:\n  ssd: 0\n");
    expect((await loadSchedulerOptions(good)).divisors.defaultDivisor).toBe(3);
    await expect(loadSchedulerOptions(bad)).rejects.toThrow(`${bad}: divisors.ssd: 0 is not a number > 0`);
    await expect(loadSchedulerOptions(join(dir, "absent.yaml"))).rejects.toThrow(/absent\.yaml: ENOENT/);
  });
});
