import { describe, expect, it } from "vitest";
import { capacityRequestOf, nodeCapacitiesOf, type NodeCapacities } from "./capacity.js";
import type { Divisors } from "./divisors.js";
import { nodeScore, prioritize } from "./prioritize.js";

const gib = 1n << 30n;
const ones: Divisors = { defaultDivisor: 1, byDeviceClass: new Map() };

function annotations(capacities: Record<string, bigint | string>): Record<string, string> {
  return Object.fromEntries(Object.entries(capacities).map(([dc, bytes]) => [`capacity.topolvm.cybozu.com/${dc}`, String(bytes)]));
}

/** A node's parsed capacity annotations. */
function parsed(capacities: Record<string, bigint | string>): NodeCapacities {
  return nodeCapacitiesOf(annotations(capacities));
}

describe("nodeScore", () => {
  it("is the lowest score over the requested device-classes", () => {
    const request = capacityRequestOf(annotations({ ssd: 1n, hdd: 1n }));
    expect(nodeScore(request, parsed({ ssd: 1024n * gib, hdd: 8n * gib }), ones)).toBe(3);
  });

  it("ignores device-classes the pod does not request", () => {
    const request = capacityRequestOf(annotations({ ssd: 1n }));
    expect(nodeScore(request, parsed({ ssd: 16n * gib, hdd: 0n }), ones)).toBe(4);
  });

  it("uses the divisor of each device-class, else the default", () => {
    const divisors: Divisors = { defaultDivisor: 2, byDeviceClass: new Map([["ssd", 16]]) };
    expect(nodeScore(capacityRequestOf(annotations({ ssd: 1n })), parsed({ ssd: 1024n * gib }), divisors)).toBe(6);
    expect(nodeScore(capacityRequestOf(annotations({ hdd: 1n })), parsed({ hdd: 1024n * gib }), divisors)).toBe(9);
  });

  it("scores a missing or garbled annotation 0", () => {
    const request = capacityRequestOf(annotations({ ssd: 1n, hdd: 1n }));
    expect(nodeScore(request, parsed({ ssd: 1024n * gib }), ones)).toBe(0);
    expect(nodeScore(request, parsed({ ssd: 1024n * gib, hdd: "big" }), ones)).toBe(0);
  });

  it("scores 0 for a pod that requests nothing", () => {
    expect(nodeScore(new Map(), parsed({ ssd: 1024n * gib }), ones)).toBe(0);
  });
});

describe("prioritize", () => {
  it("lists every node once, in input order", () => {
    const request = capacityRequestOf(annotations({ ssd: 1n }));
    const nodes = [
      { name: "small", capacities: parsed({ ssd: 3n * gib }) },
      { name: "none", capacities: parsed({}) },
      { name: "big", capacities: parsed({ ssd: 2048n * gib }) },
    ];
    expect(prioritize(request, nodes, ones)).toEqual([
      { host: "small", score: 1 },
      { host: "none", score: 0 },
      { host: "big", score: 10 },
    ]);
  });
});
