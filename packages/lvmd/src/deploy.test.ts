import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultConfigPath, defaultSocketName, parseConfig } from "./config.js";

const deploy = (path: string): string => readFileSync(fileURLToPath(new URL(`../../../deploy/${path}`, import.meta.url)), "utf8");

describe("deploy files", () => {
  it("ships an lvmd.yaml that loads, on the default socket", () => {
    const config = parseConfig(deploy("lvmd-config/lvmd.yaml"));
    expect(config.socketName).toBe(defaultSocketName);
    expect(config.deviceClasses.map((dc) => [dc.name, dc.volumeGroup, dc.default, dc.spareGiB])).toEqual([["ssd", "myvg1", true, 10]]);
  });

  it("keeps the example thin class valid once uncommented", () => {
    const uncommented = deploy("lvmd-config/lvmd.yaml").replace(/^ {2}# (- name: ssd-thin[\s\S]*?overprovision-ratio: 10\.0)/m, (block: string) =>
      block.replace(/^ {2}# /gm, "  "),
    );
    expect(parseConfig(uncommented).deviceClasses.map((dc) => dc.type)).toEqual(["thick", "thin"]);
  });

  it("starts lvmd from the systemd unit with the default config path and runtime directory", () => {
    const unit = deploy("systemd/lvmd.service");
    expect(unit).toMatch(new RegExp(`^ExecStart=\\S+/lvmd --config ${defaultConfigPath}$`, "m"));
    expect(unit).toMatch(/^RuntimeDirectory=topolvm$/m);
  });
});
