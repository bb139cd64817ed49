import type { lvmd } from "@topolvm/proto";
import type { DeviceNumber } from "./mount-table.js";

/** A CSI VolumeCondition. */
export interface Condition {
  readonly abnormal: boolean;
  readonly message: string;
}

export const healthy: Condition = { abnormal: false, message: "volume is healthy and operating normally" };
export const abnormal = (message: string): Condition => ({ abnormal: true, message });

// lv_attr character 5 (state) and 9 (health), as lvs(8) names them.
const states: Readonly<Record<string, string>> = {
  "-": "inactive",
  s: "suspended",
  I: "an invalid snapshot",
  S: "an invalid suspended snapshot",
  m: "a snapshot whose merge failed",
  M: "a suspended snapshot whose merge failed",
  d: "mapped without tables",
  i: "mapped with an inactive table",
  h: "historical",
  X: "in an unknown state",
};
const healthProblems: Readonly<Record<string, string>> = {
  p: "partial (a physical volume is missing)",
  r: "in need of a refresh (a RAID image had a write error)",
  m: "holding mismatches between its RAID images",
  F: "failed",
  D: "out of data space",
  M: "read-only because its metadata is",
  X: "of unknown health",
};

/** Why the LV cannot serve its volume according to its lv_attr, or undefined when it can. */
export function lvAttrProblem(lv: lvmd.LogicalVolume): string | undefined {
  const { attr } = lv;
  if (attr.length < 9) {
    return `LV ${lv.name} has no readable lv_attr (${JSON.stringify(attr)})`;
  }
  const state = attr.charAt(4);
  if (state !== "a") {
    return `LV ${lv.name} is ${states[state] ?? `in state ${JSON.stringify(state)}`} (lv_attr ${attr})`;
  }
  const health = attr.charAt(8);
  const problem = healthProblems[health];
  return problem === undefined ? undefined : `LV ${lv.name} is ${problem} (lv_attr ${attr})`;
}

/** The device number of an LV; undefined while it has none (not active). */
export function lvDevice(lv: lvmd.LogicalVolume): DeviceNumber | undefined {
  return lv.devMajor === 0 && lv.devMinor === 0 ? undefined : { major: lv.devMajor, minor: lv.devMinor };
}

/** The condition of a volume's LV: gone, not serving (lv_attr), or healthy. */
export function lvCondition(volumeId: string, lv: lvmd.LogicalVolume | undefined): Condition {
  if (lv === undefined) {
    return abnormal(`LV ${volumeId} is gone: lvmd lists it in none of its device-classes`);
  }
  const problem = lvAttrProblem(lv);
  return problem === undefined ? healthy : abnormal(problem);
}
