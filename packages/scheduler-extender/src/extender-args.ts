import type { CandidateNode } from "./candidate-node.js";
import { capacitiesOfPairs, capacityOfSafeInteger, type CapacityPairs } from "./capacity.js";
import type { JsonWriter } from "./json-writer.js";
import type { NameLookup } from "./name-index.js";
import { capacityAnnotationPrefix } from "./topolvm-names.js";
import {
  expectEnd,
  jsonText,
  memberIs,
  memberKey,
  memberName,
  memberNameAfter,
  memberStartsWith,
  parseSpan,
  safeIntegerString,
  skipValue,
  skipWhitespace,
  valueKind,
  walkArray,
  walkObject,
  type JsonText,
} from "./json-scan.js";

/** Thrown when a request body is not a usable ExtenderArgs; the HTTP layer answers 400 with its message. */
export class ExtenderArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExtenderArgsError";
  }
}

/** The parts of the pod being scheduled that the extender reads. */
export interface PodInfo {
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}

/**
 * A full Node object from the request: its name, its capacity annotations (the only ones kept) and its JSON text to
 * echo back verbatim.
 */
export interface NodeObject extends CandidateNode {
  readonly raw: Buffer;
}

/**
 * A request's NodeNames, kept as the JSON text they arrived in: resolving them through a NameLookup finds each name
 * by its bytes, without decoding it.
 */
export interface NodeNameList {
  readonly length: number;
  /** Each name's value in `lookup`, in order; a name `lookup` does not know comes back decoded, as a string. */
  resolve<T extends object>(lookup: NameLookup<T>): (T | string)[];
  /** Writes name `index` as the JSON string it arrived as, escapes and all. */
  writeName(writer: JsonWriter, index: number): void;
  /** The bytes of all names as JSON strings, quotes included. */
  readonly textLength: number;
}

/**
 * kube-scheduler's ExtenderArgs (k8s.io/kube-scheduler/extender/v1): the pod and either the full candidate Nodes
 * (`nodeCacheCapable: false`) or only their names (`nodeCacheCapable: true`). Nodes' raw JSON and the NodeNames
 * point into the request body: they are valid only as long as the body is.
 */
export interface ExtenderArgs {
  readonly pod: PodInfo;
  readonly nodes: readonly NodeObject[] | undefined;
  readonly nodeNames: NodeNameList | undefined;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "string") {
    throw new ExtenderArgsError(`${path} must be a string`);
  }
  return value;
}

function annotationsAt(metadata: JsonObject, path: string): Readonly<Record<string, string>> | undefined {
  const annotations = metadata.annotations;
  if (annotations === undefined || annotations === null) {
    return undefined;
  }
  if (!isObject(annotations)) {
    throw new ExtenderArgsError(`${path}.annotations must be an object`);
  }
  for (const [key, value] of Object.entries(annotations)) {
    if (typeof value !== "string") {
      throw new ExtenderArgsError(`${path}.annotations[${JSON.stringify(key)}] must be a string`);
    }
  }
  return annotations as Readonly<Record<string, string>>;
}

function metadataAt(object: JsonObject, path: string): JsonObject {
  const metadata = object.metadata;
  if (metadata === undefined || metadata === null) {
    return {};
  }
  if (!isObject(metadata)) {
    throw new ExtenderArgsError(`${path}.metadata must be an object`);
  }
  return metadata;
}

function parsePod(value: unknown, path: string): PodInfo {
  if (value === undefined || value === null) {
    throw new ExtenderArgsError(`${path} is missing`);
  }
  if (!isObject(value)) {
    throw new ExtenderArgsError(`${path} must be a Pod object`);
  }
  const metadata = metadataAt(value, path);
  return {
    namespace: optionalString(metadata.namespace, `${path}.metadata.namespace`),
    name: optionalString(metadata.name, `${path}.metadata.name`),
    annotations: annotationsAt(metadata, `${path}.metadata`),
  };
}

const capacityPrefixKey = memberKey(capacityAnnotationPrefix);
const metadataKey = memberKey("metadata");
const annotationsKey = memberKey("annotations");
const nameKey = memberKey("name");
const itemsKey = memberKey("items");

/**
 * Reads the Nodes of one request. Each Node is decoded only as far as its name and capacity annotations (the only
 * ones placement reads, though every annotation value must be a string); the rest is kept as the JSON text to echo
 * back. One reader serves all the request's Nodes, so no callbacks are created per Node.
 */
function createNodeReader(text: JsonText): (offset: number, index: number) => { node: NodeObject; end: number } {
  let index = 0;
  let name: unknown;
  let capacities: CapacityPairs | undefined;
  const path = (): string => `Nodes.items[${index}]`;

  const onAnnotation = (keyStart: number, keyEnd: number, valueOffset: number): number => {
    const isString = valueKind(text, valueOffset) === "string";
    const valueEnd = skipValue(text, valueOffset);
    if (!isString) {
      throw new ExtenderArgsError(`${path()}.metadata.annotations[${JSON.stringify(memberName(text, keyStart, keyEnd))}] must be a string`);
    }
    if (memberStartsWith(text, keyStart, keyEnd, capacityPrefixKey)) {
      const deviceClass = memberNameAfter(text, keyStart, keyEnd, capacityAnnotationPrefix.length);
      // Byte counts are parsed here from their digits; anything else is kept as text, to be judged when read.
      const digits = safeIntegerString(text, valueOffset, valueEnd);
      const value = digits === undefined ? (parseSpan(text, valueOffset, valueEnd) as string) : capacityOfSafeInteger(digits);
      capacities ??= [];
      // A key given twice keeps its last value, as Go's decoder does.
      let known = 0;
      while (known < capacities.length && capacities[known] !== deviceClass) {
        known += 2;
      }
      capacities[known] = deviceClass;
      capacities[known + 1] = value;
    }
    return valueEnd;
  };

  const onMetadataField = (nameStart: number, nameEnd: number, fieldOffset: number): number => {
    if (memberIs(text, nameStart, nameEnd, annotationsKey)) {
      const kind = valueKind(text, fieldOffset);
      if (kind === "object") {
        return walkObject(text, fieldOffset, onAnnotation);
      }
      const fieldEnd = skipValue(text, fieldOffset);
      if (kind !== "null") {
        throw new ExtenderArgsError(`${path()}.metadata.annotations must be an object`);
      }
      return fieldEnd;
    }
    const fieldEnd = skipValue(text, fieldOffset);
    if (memberIs(text, nameStart, nameEnd, nameKey)) {
      name = parseSpan(text, fieldOffset, fieldEnd);
    }
    return fieldEnd;
  };

  const onNodeMember = (nameStart: number, nameEnd: number, memberOffset: number): number => {
    const kind = valueKind(text, memberOffset);
    if (kind === "null" || !memberIs(text, nameStart, nameEnd, metadataKey)) {
      return skipValue(text, memberOffset);
    }
    if (kind !== "object") {
      skipValue(text, memberOffset);
      throw new ExtenderArgsError(`${path()}.metadata must be an object`);
    }
    return walkObject(text, memberOffset, onMetadataField);
  };

  return (offset, nodeIndex) => {
    index = nodeIndex;
    name = undefined;
    capacities = undefined;
    if (valueKind(text, offset) !== "object") {
      skipValue(text, offset);
      throw new ExtenderArgsError(`${path()} must be a Node object`);
    }
    const end = walkObject(text, offset, onNodeMember);
    if (typeof name !== "string" || name === "") {
      throw new ExtenderArgsError(`${path()}.metadata.name must be a non-empty string`);
    }
    return { node: { name, capacities: capacitiesOfPairs(capacities), raw: text.bytes.subarray(offset, end) }, end };
  };
}

/** Reads the NodeList starting at `offset`; returns its Nodes (undefined for null) and the offset after it. */
function parseNodesAt(text: JsonText, offset: number): { nodes: NodeObject[] | undefined; end: number } {
  const kind = valueKind(text, offset);
  if (kind === "null") {
    return { nodes: undefined, end: skipValue(text, offset) };
  }
  if (kind !== "object") {
    skipValue(text, offset);
    throw new ExtenderArgsError("Nodes must be a NodeList object");
  }
  const nodes: NodeObject[] = [];
  const readNode = createNodeReader(text);
  const end = walkObject(text, offset, (nameStart, nameEnd, valueOffset) => {
    if (!memberIs(text, nameStart, nameEnd, itemsKey) || valueKind(text, valueOffset) === "null") {
      // Go encodes an empty NodeList's nil slice as null.
      return skipValue(text, valueOffset);
    }
    if (valueKind(text, valueOffset) !== "array") {
      skipValue(text, valueOffset);
      throw new ExtenderArgsError("Nodes.items must be an array");
    }
    nodes.length = 0;
    return walkArray(text, valueOffset, (index, itemOffset) => {
      const { node, end: itemEnd } = readNode(itemOffset, index);
      nodes.push(node);
      return itemEnd;
    });
  });
  return { nodes, end };
}

/** Reads the NodeNames array at `offset`, an already validated JSON value. */
function parseNodeNamesAt(text: JsonText, offset: number): NodeNameList | undefined {
  const kind = valueKind(text, offset);
  if (kind === "null") {
    return undefined;
  }
  if (kind !== "array") {
    throw new ExtenderArgsError("NodeNames must be an array of node names");
  }
  // Where each name's content starts and ends (inside its quotes), two numbers per name.
  const bounds: number[] = [];
  let textLength = 0;
  walkArray(text, offset, (index, nameOffset) => {
    const end = skipValue(text, nameOffset);
    if (valueKind(text, nameOffset) !== "string" || end - nameOffset === 2) {
      throw new ExtenderArgsError(`NodeNames[${index}] must be a non-empty string`);
    }
    bounds.push(nameOffset + 1, end - 1);
    textLength += end - nameOffset;
    return end;
  });
  const decode = (i: number): string => parseSpan(text, (bounds[i] ?? 0) - 1, (bounds[i + 1] ?? 0) + 1) as string;
  return {
    length: bounds.length / 2,
    textLength,
    writeName(writer, index) {
      writer.bytes(text.bytes, (bounds[2 * index] ?? 0) - 1, (bounds[2 * index + 1] ?? 0) + 1);
    },
    resolve<T extends object>(lookup: NameLookup<T>): (T | string)[] {
      const resolved: (T | string)[] = [];
      for (let i = 0; i < bounds.length; i += 2) {
        // Names with escapes (kube-scheduler's have none) miss the byte lookup and are found decoded.
        const found = lookup.getByUtf8(text.bytes, bounds[i] ?? 0, bounds[i + 1] ?? 0);
        if (found === undefined) {
          const name = decode(i);
          resolved.push(lookup.get(name) ?? name);
        } else {
          resolved.push(found);
        }
      }
      return resolved;
    },
  };
}

type TopLevelField = "Pod" | "Nodes" | "NodeNames";
const topLevelFields: readonly TopLevelField[] = ["Pod", "Nodes", "NodeNames"];

/**
 * Which ExtenderArgs field a top-level member sets. Names match case-insensitively, as Go's encoding/json matches
 * them: today's kube-scheduler sends `Pod`, `Nodes`, `NodeNames` (the Go types have no JSON tags), older releases
 * and other tools send `pod`, `nodes`, `nodenames`. Should one body carry two spellings, the exact Go name wins.
 */
function fieldOf(name: string): { field: TopLevelField; exact: boolean } | undefined {
  const lower = name.toLowerCase();
  const field = topLevelFields.find((candidate) => candidate.toLowerCase() === lower);
  return field === undefined ? undefined : { field, exact: field === name };
}

/**
 * Reads an ExtenderArgs request body in one pass over its bytes: the pod is decoded, node names are kept as the text
 * they arrived in, and of each full Node only its metadata is read (the rest is kept as raw JSON to echo back). Unknown fields are ignored. Throws
 * JsonSyntaxError for bytes that are not JSON and ExtenderArgsError for JSON that is not ExtenderArgs.
 */
export function parseExtenderArgs(body: Buffer | string): ExtenderArgs {
  const text = jsonText(typeof body === "string" ? Buffer.from(body) : body);
  const start = skipWhitespace(text, 0);
  if (valueKind(text, start) !== "object") {
    expectEnd(text, skipValue(text, start));
    throw new ExtenderArgsError("request body must be a JSON object (ExtenderArgs)");
  }
  const exactSeen = new Set<TopLevelField>();
  let podValue: unknown;
  let nodes: NodeObject[] | undefined;
  let nodeNamesOffset: number | undefined;
  const end = walkObject(text, start, (nameStart, nameEnd, valueOffset) => {
    const match = fieldOf(memberName(text, nameStart, nameEnd));
    if (match === undefined || (exactSeen.has(match.field) && !match.exact)) {
      return skipValue(text, valueOffset);
    }
    if (match.exact) {
      exactSeen.add(match.field);
    }
    if (match.field === "Nodes") {
      const parsed = parseNodesAt(text, valueOffset);
      nodes = parsed.nodes;
      return parsed.end;
    }
    const valueEnd = skipValue(text, valueOffset);
    if (match.field === "Pod") {
      podValue = parseSpan(text, valueOffset, valueEnd);
    } else {
      nodeNamesOffset = valueOffset;
    }
    return valueEnd;
  });
  expectEnd(text, end);
  const pod = parsePod(podValue, "Pod");
  const nodeNames = nodeNamesOffset === undefined ? undefined : parseNodeNamesAt(text, nodeNamesOffset);
  if (nodes === undefined && nodeNames === undefined) {
    throw new ExtenderArgsError("one of Nodes or NodeNames is required");
  }
  return { pod, nodes, nodeNames };
}
