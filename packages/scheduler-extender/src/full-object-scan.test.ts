import { describe, expect, it } from "vitest";
import { seededRandom } from "../test/support/seeded-random.js";
import { createBufferPool } from "./buffer-pool.js";
import { nodeCapacitiesOf } from "./capacity.js";
import { ExtenderArgsError, JsonSyntaxError } from "./extender-args.js";
import { answerPredicate, answerPrioritize, type ExtenderContext, type VerbAnswer } from "./extender-verbs.js";
import { scanPredicate, scanPrioritize } from "./full-object-scan.js";

const pool = createBufferPool(64);
const key = "capacity.topolvm.cybozu.com/ssd";
const context: ExtenderContext = { divisors: { defaultDivisor: 1, byDeviceClass: new Map() }, nodeCache: undefined };

function scanned(body: string, verb: "predicate" | "prioritize" = "predicate"): VerbAnswer {
  return (verb === "predicate" ? scanPredicate : scanPrioritize)(Buffer.from(body), context, pool);
}

const pod = `{"metadata": {"name": "p", "annotations": {"${key}": "5"}}}`;

describe("scanPredicate and scanPrioritize", () => {
  it("echo each fitting Node's JSON text and each name byte for byte, whitespace and escapes included", () => {
    const fits = `{ "metadata" : {"name":"n\\u00e9", "annotations": {"${key}": "9"}} ,"status": {"x": [1, 2.5e3, true, null]} }`;
    const short = `{"metadata":{"name":"m\\/1","annotations":{"${key}":"1"}}}`;
    const body = ` {"Pod": ${pod}, "Nodes": {"items": [${fits}, ${short}]}} `;
    expect(scanned(body).body.toString()).toBe(
      `{"Nodes":{"items":[${fits}]},"FailedNodes":{},"FailedAndUnresolvableNodes":{"m\\/1":` +
        `"TopoLVM: not enough free space in device-class \\"ssd\\""},"Error":""}`,
    );
    expect(scanned(body, "prioritize").body.toString()).toBe('[{"Host":"n\\u00e9","Score":0},{"Host":"m\\/1","Score":0}]');
  });

  it("find capacity annotations whose keys are written with escapes or go beyond ASCII", () => {
    const node = (name: string, annotation: string): string => `{"metadata": {"name": "${name}", "annotations": {${annotation}}}}`;
    const items = [node("escaped", '"capacity.topolvm.cybozu.com\\/s\\u0073d": "7"'), node("other", '"capacity.topolvm.cybozu.com/ssd\u00e9": "7"')];
    const answer = JSON.parse(scanned(`{"Pod": ${pod}, "Nodes": {"items": [${items.join(",")}]}}`).body.toString()) as {
      FailedAndUnresolvableNodes: Record<string, string>;
    };
    expect(answer.FailedAndUnresolvableNodes).toEqual({ other: 'TopoLVM: node has no capacity annotation for device-class "ssd"' });
  });

  it("read more Nodes than their records first have room for", () => {
    const items = Array.from({ length: 300 }, (_, i) => ({ metadata: { name: `n${i}`, annotations: { [key]: String(i) } } }));
    const answer = scanned(JSON.stringify({ Pod: JSON.parse(pod) as unknown, Nodes: { items } }));
    expect(answer.nodeCount).toBe(300);
    expect((JSON.parse(answer.body.toString()) as { Nodes: { items: unknown[] } }).Nodes.items).toEqual(items.slice(5));
  });

  it.each([
    "{bad",
    '{"Pod": {}, "NodeNames": []',
    '{"Pod": {}, "NodeNames": [] } x',
    '{"Pod": {} "NodeNames": []}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a"}} {}]}}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a\u0001"}, "status": tru}]}}',
    '{"Pod": {"a": 01}, "NodeNames": []}',
    '{"Pod": {"a": "unterminated}, "NodeNames": []}',
    `{"Pod": {}, "Nodes": ${"[".repeat(2000)}${"]".repeat(2000)}}`,
    '{"Pod": {}, "NodeNames": ["a\\qb"]}',
    '{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a\\qb"}}]}}',
    '{"Pod": {"metadata": {"name": "p\\u12"}}, "NodeNames": ["a"]}',
  ])("reject malformed JSON %#, naming the byte", (text) => {
    expect(() => scanned(text)).toThrow(JsonSyntaxError);
    expect(() => scanned(text)).toThrow(/ at byte \d+$/);
  });
});

/** One of the two paths' answers to a body: the answer as parsed JSON, or the error it was refused with. */
function outcome(answer: () => VerbAnswer): unknown {
  try {
    const { body, pod, nodeCount, shape } = answer();
    return { answer: JSON.parse(body.toString()) as unknown, pod, nodeCount, shape };
  } catch (error) {
    if (error instanceof ExtenderArgsError) {
      return { refused: error.message };
    }
    throw error;
  }
}

// Bodies written by hand rather than with JSON.stringify, so they can hold what JSON.stringify never writes: escapes,
// repeated keys, spellings of a field in other cases, whitespace.
const random = seededRandom(19);
const chance = (p: number): boolean => random() < p;
const pick = <T,>(values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;

function escaped(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === "\\") {
      out += `\\${char}`;
    } else if (code < 0x20 || chance(0.05)) {
      for (let i = 0; i < char.length; i++) {
        out += `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`;
      }
    } else if (char === "/" && chance(0.3)) {
      out += "\\/";
    } else {
      out += char;
    }
  }
  return `${out}"`;
}

const space = (): string => (chance(0.1) ? pick([" ", "\n", "\t ", "\r\n"]) : "");

/** A JSON object's text from its members in order, repeats allowed. */
function object(members: readonly (readonly [string, string])[]): string {
  return `{${members.map(([name, value]) => `${space()}${escaped(name)}${space()}:${space()}${value}`).join(",")}${space()}}`;
}

/** `field` spelled as Go's decoder still reads it. */
function spelling(field: string): string {
  return chance(0.8) ? field : pick([field.toLowerCase(), field.toUpperCase(), field.replace("s", "\u017f"), `${field[0]?.toUpperCase() ?? ""}${field.slice(1)}`]);
}

/** How many times a field was repeated, over all bodies generated. */
let repeats = 0;

/** `field: value`, now and then repeated under the same or another spelling, or shadowed by an unread spelling. */
function members(field: string, value: () => string): [string, string][] {
  const first: [string, string] = [spelling(field), value()];
  if (!chance(0.15)) {
    return [first];
  }
  repeats += 1;
  return pick([
    [first, [first[0], value()]],
    [first, [spelling(field), value()]],
    [[field.toUpperCase(), value()], first],
  ]);
}

const byteCounts = ["0", "1", "5368709120", "1099511627776", "9007199254740993", "18446744073709551615"];
const garbled = ["5Gi", "", "-1", "18446744073709551616", " 1", "1e9"];
const deviceClasses = ["ssd", "00default", "hdd", "nvme-\u00e9"];
const names = ["node-1", "node-2", "n\u00f6de", 'quo"te', "sla/sh", "\u65e5\u672c", "node-1"];

function annotations(forPod: boolean): string {
  const entries: [string, string][] = [];
  for (const deviceClass of deviceClasses) {
    if (chance(forPod ? 0.4 : 0.7)) {
      const value = chance(forPod ? 0.03 : 0.1) ? pick(garbled) : pick(byteCounts);
      entries.push([`capacity.topolvm.cybozu.com/${deviceClass}`, escaped(value)]);
      if (chance(0.1)) {
        entries.push([`capacity.topolvm.cybozu.com/${deviceClass}`, escaped(pick(byteCounts))]);
      }
    }
  }
  if (chance(0.5)) {
    entries.push(["node.alpha.kubernetes.io/ttl", escaped("0")]);
  }
  return object(entries);
}

function junk(depth: number): string {
  const kind = Math.floor(random() * (depth > 2 ? 4 : 6));
  switch (kind) {
    case 0:
      return pick(["1", "2.5", "1e3", "12345678901", "true", "false", "null"]);
    case 1:
    case 2:
      return escaped(pick(["kubelet", "Ready", "10.0.0.1", "a\u00e9/\u2028b", "tab\there"]));
    case 3:
      return "null";
    case 4:
      return `[${Array.from({ length: Math.floor(random() * 3) }, () => junk(depth + 1)).join(",")}]`;
    default:
      return object(Array.from({ length: Math.floor(random() * 3) }, () => [pick(["type", "status", "x"]), junk(depth + 1)] as const));
  }
}

/** A value where one of a given type belongs, now and then of the wrong type (only in bodies without repeats). */
function faulty(value: string, faults: boolean): string {
  return faults && chance(0.03) ? pick(["7", '"x"', "[]", "{}", "null"]) : value;
}

function nodeText(faults: boolean): string {
  const metadata = (): string =>
    object([
      ...(chance(0.5) ? ([["uid", escaped("6f1c")]] as const) : []),
      ...members("name", () => faulty(escaped(pick(names)), faults)),
      ...(chance(0.9) ? members("annotations", () => faulty(annotations(false), faults)) : []),
      ...(chance(0.3) ? ([["labels", object([["zone", escaped("a")]])]] as const) : []),
    ]);
  return faulty(object([...members("metadata", metadata), ["status", junk(0)]]), faults);
}

function body(): string {
  const faults = chance(0.2);
  const repeatsBefore = repeats;
  const podText = (): string =>
    faulty(
      object([
        ...members("metadata", () => object([["name", escaped("db-0")], ["namespace", escaped("app")], ...members("annotations", () => annotations(true)).slice(0, 1)])),
        ["spec", junk(1)],
      ]),
      faults,
    );
  const nodesText = (): string =>
    chance(0.05) ? "null" : object(members("items", () => (chance(0.05) ? "null" : `[${Array.from({ length: Math.floor(random() * 6) }, () => nodeText(faults)).join(",")}]`)));
  const namesText = (): string => (chance(0.05) ? "null" : `[${Array.from({ length: Math.floor(random() * 6) }, () => faulty(escaped(pick(names)), faults)).join(",")}]`);
  const top: [string, string][] = [...members("Pod", podText)];
  const shape = pick(["objects", "names", "both"]);
  if (shape !== "names") {
    top.push(...members("Nodes", nodesText));
  }
  if (shape !== "objects") {
    top.push(...members("NodeNames", namesText));
  }
  if (chance(0.3)) {
    top.push(["Extra", junk(0)]);
  }
  // Faults go only into bodies without repeats: JSON.parse keeps a repeated key's last value and cannot see that an
  // earlier one had the wrong type, which the scan (and Go's decoder) refuses.
  const text = `${space()}${object(top.sort(() => random() - 0.5))}${space()}`;
  return faults && repeats !== repeatsBefore ? body() : text;
}

const cache = new Map(names.map((name, index) => [name, { name, capacities: nodeCapacitiesOf({ [key]: pick(byteCounts), ...(index % 2 === 0 ? {} : { "capacity.topolvm.cybozu.com/hdd": pick(garbled) }) }) }]));

describe("the plain and the scanning path", () => {
  // Compared as parsed JSON, not byte for byte: the scan echoes Nodes and names as the JSON text they arrived in
  // (whitespace, escapes, number spellings, repeated keys), the plain path writes what JSON.parse read of them, and
  // kube-scheduler decodes both into the same Go values.
  it("give the same answer to every generated ExtenderArgs", () => {
    const contexts: ExtenderContext[] = [
      context,
      { divisors: { defaultDivisor: 2, byDeviceClass: new Map([["ssd", 0.5]]) }, nodeCache: { get: (name) => cache.get(name), synced: () => true } },
    ];
    let refused = 0;
    for (let run = 0; run < 500; run++) {
      const text = body();
      const bytes = Buffer.from(text);
      const verbContext = pick(contexts);
      const plain = [outcome(() => answerPredicate(bytes, verbContext)), outcome(() => answerPrioritize(bytes, verbContext))];
      const scan = [outcome(() => scanPredicate(bytes, verbContext, pool)), outcome(() => scanPrioritize(bytes, verbContext, pool))];
      expect(scan, text).toEqual(plain);
      refused += plain.filter((answer) => typeof answer === "object" && answer !== null && "refused" in answer).length;
    }
    // Both answers and refusals were compared, not only one kind.
    expect(refused).toBeGreaterThan(30);
    expect(refused).toBeLessThan(700);
  });
});
