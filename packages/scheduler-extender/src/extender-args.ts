import {
  capacityOfAnnotation,
  freeBytesOf,
  freeMissing,
  type NodeCapacities,
  type NodeCapacity,
} from "./capacity.js";
import type { JsonWriter } from "./json-writer.js";
import { bytesAreAscii, type NameLookup } from "./name-index.js";
import { capacityAnnotationPrefix } from "@topolvm/proto/names";
import {
  checkEscapes,
  expectEnd,
  isPlain,
  jsonText,
  memberIs,
  memberKey,
  memberNameAfter,
  memberStartsWith,
  parseSpan,
  safeIntegerString,
  skipValue,
  skipWhitespace,
  stringAt,
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

/** The nodes a request offers, in its order, kept as the JSON text they arrived in. */
export interface OfferedNodes {
  readonly length: number;
  /** Node `index`'s name, decoded. */
  name(index: number): string;
  /** Writes node `index`'s name as the JSON string it arrived as, escapes and all. */
  writeName(writer: JsonWriter, index: number): void;
  /** The bytes of all names as JSON strings, quotes included. */
  readonly textLength: number;
}

/**
 * A request's full Node objects, read only as far as their names and capacity annotations and otherwise kept as the
 * JSON text they arrived in, to be echoed back. They are offsets into the request body, not an object per Node.
 */
export interface NodeObjectList extends OfferedNodes {
  /** Writes node `index`'s JSON text as it arrived. */
  writeItem(writer: JsonWriter, index: number): void;
  /** The bytes of all the Nodes' JSON text. */
  readonly itemsLength: number;
  /** Node `index`'s capacity annotations. */
  capacities(index: number): NodeCapacities;
  /**
   * Calls `visit` with every node's capacity annotations, in order. The NodeCapacities passed is one view moved from
   * node to node: it is valid only during its call.
   */
  eachCapacities(visit: (capacities: NodeCapacities, index: number) => void): void;
}

/** A request's NodeNames, kept as the JSON text they arrived in. */
export interface NodeNameList extends OfferedNodes {
  /**
   * Calls `visit` with each name's value in `lookup`, or undefined where `lookup` does not know it, in order. Names
   * are found by their bytes, without being decoded; only names with escapes are decoded first.
   */
  lookupEach<T>(lookup: NameLookup<T>, visit: (value: T | undefined, index: number) => void): void;
}

/**
 * Int32 records appended while a request is read: fixed-size groups of numbers in one typed array that doubles as it
 * fills, so 5,000 nodes cost a few allocations outside V8's heap and no object per node.
 */
class Records {
  values: Int32Array;
  count = 0;

  constructor(
    readonly stride: number,
    initialCount: number,
  ) {
    this.values = new Int32Array(stride * initialCount);
  }

  /** Appends a record and returns where its numbers start in `values`. */
  add(): number {
    const at = this.count * this.stride;
    if (at + this.stride > this.values.length) {
      const larger = new Int32Array(this.values.length * 2);
      larger.set(this.values);
      this.values = larger;
    }
    this.count += 1;
    return at;
  }
}

// A Node record: its JSON text's span, its name's span (a JSON string, quotes included), and its capacity
// annotations: the first's record number and how many.
const itemStart = 0;
const itemEnd = 1;
const nameStart = 2;
const nameEnd = 3;
const firstAnnotation = 4;
const annotationCount = 5;
const nodeStride = 6;
// A capacity annotation record: the key's span (quotes included), whether its bytes are its text (1) or it has to
// be decoded (0), and the value's span (a JSON string, quotes included).
const keyStart = 0;
const keyEnd = 1;
const keyPlain = 2;
const valueStart = 3;
const valueEnd = 4;
const annotationStride = 5;

/** The capacity annotations of one Node of a request, read from the body's bytes as they are asked for. */
class BodyCapacities implements NodeCapacities {
  constructor(
    private readonly text: JsonText,
    private readonly nodes: Int32Array,
    private readonly annotations: Int32Array,
    public node: number,
  ) {}

  /** Where the annotation for `deviceClass` starts in `annotations` (the last, for a key given twice), or -1. */
  private find(deviceClass: string): number {
    const { text, annotations } = this;
    const first = this.nodes[this.node * nodeStride + firstAnnotation] ?? 0;
    const skip = capacityAnnotationPrefix.length;
    for (let record = first + (this.nodes[this.node * nodeStride + annotationCount] ?? 0) - 1; record >= first; record--) {
      const at = record * annotationStride;
      const start = annotations[at + keyStart] ?? 0;
      const end = annotations[at + keyEnd] ?? 0;
      const found =
        annotations[at + keyPlain] === 1
          ? bytesAreAscii(text.bytes, start + 1 + skip, end - 1, deviceClass)
          : memberNameAfter(text, start, end, skip) === deviceClass;
      if (found) {
        return at;
      }
    }
    return -1;
  }

  /** What the annotation record at `at` says. */
  private capacityAt(at: number): NodeCapacity {
    return capacityOfAnnotation(stringAt(this.text, this.annotations[at + valueStart] ?? 0, this.annotations[at + valueEnd] ?? 0));
  }

  get(deviceClass: string): NodeCapacity {
    const at = this.find(deviceClass);
    return at < 0 ? { kind: "missing" } : this.capacityAt(at);
  }

  freeBytes(deviceClass: string): number {
    const at = this.find(deviceClass);
    if (at < 0) {
      return freeMissing;
    }
    // Up to 15 digits are read from the bytes; longer values and garbage take the slow way.
    const bytes = safeIntegerString(this.text, this.annotations[at + valueStart] ?? 0, this.annotations[at + valueEnd] ?? 0);
    return bytes ?? freeBytesOf(this.capacityAt(at));
  }
}

function nodeObjectList(text: JsonText, nodeRecords: Records, annotationRecords: Records): NodeObjectList {
  const nodes = nodeRecords.values;
  const annotations = annotationRecords.values;
  const length = nodeRecords.count;
  let textLength = 0;
  let itemsLength = 0;
  for (let at = 0; at < length * nodeStride; at += nodeStride) {
    textLength += (nodes[at + nameEnd] ?? 0) - (nodes[at + nameStart] ?? 0);
    itemsLength += (nodes[at + itemEnd] ?? 0) - (nodes[at + itemStart] ?? 0);
  }
  const field = (index: number, offset: number): number => nodes[index * nodeStride + offset] ?? 0;
  return {
    length,
    textLength,
    itemsLength,
    name: (index) => stringAt(text, field(index, nameStart), field(index, nameEnd)),
    writeName(writer, index) {
      writer.bytes(text.bytes, field(index, nameStart), field(index, nameEnd));
    },
    writeItem(writer, index) {
      writer.bytes(text.bytes, field(index, itemStart), field(index, itemEnd));
    },
    capacities: (index) => new BodyCapacities(text, nodes, annotations, index),
    eachCapacities(visit) {
      const view = new BodyCapacities(text, nodes, annotations, 0);
      for (let index = 0; index < length; index++) {
        view.node = index;
        visit(view, index);
      }
    },
  };
}

/**
 * kube-scheduler's ExtenderArgs (k8s.io/kube-scheduler/extender/v1): the pod and either the full candidate Nodes
 * (`nodeCacheCapable: false`) or only their names (`nodeCacheCapable: true`). Nodes' raw JSON and the NodeNames
 * point into the request body: they are valid only as long as the body is.
 */
export interface ExtenderArgs {
  readonly pod: PodInfo;
  readonly nodes: NodeObjectList | undefined;
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
 * Reads the Nodes of one request into records. Each Node is read only as far as its name and capacity annotations
 * (the only ones placement reads, though every annotation value must be a string); the rest stays JSON text to echo
 * back. One reader serves all the request's Nodes, so no callbacks are created per Node.
 */
function createNodeReader(text: JsonText, nodes: Records, annotations: Records): (offset: number, index: number) => number {
  let index = 0;
  /** Where the current Node's record starts in `nodes.values`. */
  let node = 0;
  const path = (): string => `Nodes.items[${index}]`;

  const onAnnotation = (start: number, end: number, valueOffset: number): number => {
    const isString = valueKind(text, valueOffset) === "string";
    const valueStop = skipValue(text, valueOffset);
    if (!isString) {
      throw new ExtenderArgsError(`${path()}.metadata.annotations[${JSON.stringify(stringAt(text, start, end))}] must be a string`);
    }
    if (memberStartsWith(text, start, end, capacityPrefixKey)) {
      const at = annotations.add();
      const values = annotations.values;
      values[at + keyStart] = start;
      values[at + keyEnd] = end;
      values[at + keyPlain] = isPlain(text.bytes, start, end) ? 1 : 0;
      values[at + valueStart] = valueOffset;
      values[at + valueEnd] = valueStop;
      nodes.values[node + annotationCount] = (nodes.values[node + annotationCount] ?? 0) + 1;
    }
    return valueStop;
  };

  const onMetadataField = (start: number, end: number, fieldOffset: number): number => {
    if (memberIs(text, start, end, annotationsKey)) {
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
    if (memberIs(text, start, end, nameKey)) {
      // A name given twice counts as its last, as Go's decoder takes it.
      const isName = valueKind(text, fieldOffset) === "string" && fieldEnd - fieldOffset > 2;
      if (isName) {
        checkEscapes(text, fieldOffset, fieldEnd);
      }
      nodes.values[node + nameStart] = isName ? fieldOffset : -1;
      nodes.values[node + nameEnd] = isName ? fieldEnd : -1;
    }
    return fieldEnd;
  };

  const onNodeMember = (start: number, end: number, memberOffset: number): number => {
    const kind = valueKind(text, memberOffset);
    if (kind === "null" || !memberIs(text, start, end, metadataKey)) {
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
    if (valueKind(text, offset) !== "object") {
      skipValue(text, offset);
      throw new ExtenderArgsError(`${path()} must be a Node object`);
    }
    node = nodes.add();
    const values = nodes.values;
    values[node + nameStart] = -1;
    values[node + firstAnnotation] = annotations.count;
    values[node + annotationCount] = 0;
    const end = walkObject(text, offset, onNodeMember);
    if ((nodes.values[node + nameStart] ?? -1) < 0) {
      throw new ExtenderArgsError(`${path()}.metadata.name must be a non-empty string`);
    }
    nodes.values[node + itemStart] = offset;
    nodes.values[node + itemEnd] = end;
    return end;
  };
}

/** Reads the NodeList starting at `offset`; returns its Nodes (undefined for null) and the offset after it. */
function parseNodesAt(text: JsonText, offset: number): { nodes: NodeObjectList | undefined; end: number } {
  const kind = valueKind(text, offset);
  if (kind === "null") {
    return { nodes: undefined, end: skipValue(text, offset) };
  }
  if (kind !== "object") {
    skipValue(text, offset);
    throw new ExtenderArgsError("Nodes must be a NodeList object");
  }
  // Sized for Nodes of 2 KB with two capacity annotations each, as kubelet's are at least, to grow rarely.
  const expectedNodes = Math.ceil((text.bytes.length - offset) / 2048) + 16;
  const nodes = new Records(nodeStride, expectedNodes);
  const annotations = new Records(annotationStride, 2 * expectedNodes);
  const readNode = createNodeReader(text, nodes, annotations);
  const end = walkObject(text, offset, (start, stop, valueOffset) => {
    if (!memberIs(text, start, stop, itemsKey) || valueKind(text, valueOffset) === "null") {
      // Go encodes an empty NodeList's nil slice as null.
      return skipValue(text, valueOffset);
    }
    if (valueKind(text, valueOffset) !== "array") {
      skipValue(text, valueOffset);
      throw new ExtenderArgsError("Nodes.items must be an array");
    }
    // Should items come twice, the last counts.
    nodes.count = 0;
    return walkArray(text, valueOffset, (index, itemOffset) => readNode(itemOffset, index));
  });
  return { nodes: nodeObjectList(text, nodes, annotations), end };
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
  // Each name's span as a JSON string, quotes included.
  // Sized for names of 10 bytes, as short as Kubernetes' usually are, to grow rarely.
  const spans = new Records(2, Math.ceil((text.bytes.length - offset) / 13) + 16);
  let textLength = 0;
  const arrayEnd = walkArray(text, offset, (index, nameOffset) => {
    const end = skipValue(text, nameOffset);
    if (valueKind(text, nameOffset) !== "string" || end - nameOffset === 2) {
      throw new ExtenderArgsError(`NodeNames[${index}] must be a non-empty string`);
    }
    const at = spans.add();
    spans.values[at] = nameOffset;
    spans.values[at + 1] = end;
    textLength += end - nameOffset;
    return end;
  });
  const bounds = spans.values;
  // Names are echoed as they arrived, so their escapes must be valid; kube-scheduler's names have none.
  const backslash = text.bytes.indexOf(0x5c, offset);
  if (backslash >= 0 && backslash < arrayEnd) {
    for (let index = 0; index < spans.count; index++) {
      checkEscapes(text, bounds[2 * index] ?? 0, bounds[2 * index + 1] ?? 0);
    }
  }
  const name = (index: number): string => stringAt(text, bounds[2 * index] ?? 0, bounds[2 * index + 1] ?? 0);
  return {
    length: spans.count,
    textLength,
    name,
    writeName(writer, index) {
      writer.bytes(text.bytes, bounds[2 * index] ?? 0, bounds[2 * index + 1] ?? 0);
    },
    lookupEach(lookup, visit) {
      for (let index = 0; index < spans.count; index++) {
        // Names with escapes (kube-scheduler's have none) miss the byte lookup and are found decoded.
        const found = lookup.getByUtf8(text.bytes, (bounds[2 * index] ?? 0) + 1, (bounds[2 * index + 1] ?? 0) - 1);
        visit(found ?? lookup.get(name(index)), index);
      }
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
  let nodes: NodeObjectList | undefined;
  let nodeNamesOffset: number | undefined;
  const end = walkObject(text, start, (nameStart, nameEnd, valueOffset) => {
    const match = fieldOf(stringAt(text, nameStart, nameEnd));
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
