// The scanning path: answers a large request of full Node objects without an object per Node. A 5,000-Node body
// is about 10 MiB of JSON of which placement reads a few fields per Node and the answer echoes most back; scanning
// it once for offsets and splicing the fitting Nodes' bytes into the answer beats JSON.parse and JSON.stringify of
// the whole body there (the README has the figures). It gives the answers of the plain path (extender-args.ts,
// extender-verbs.ts), which serves everything else, as parsed JSON; the differential test holds both to that.
//
// Invariants:
// - Offsets are int32 (Int32Array records): a body is at most the 10 MiB body limit, far below 2^31 bytes.
// - Records point into the body. Nothing they point to outlives the call that scanned it: the answer is copied
//   into a buffer of its own, so the app can give the body's pooled buffer back as soon as the answer is built.
// - One scan runs to completion synchronously, with no await and no call out of this module but the pure
//   filter and score functions: json-scan's one container stack and the per-request readers below are never
//   entered twice at once.
// - The app has checked that the body is UTF-8. The scanner checks JSON structure, string termination and control
//   characters everywhere, but escapes only where a string is decoded or echoed as a name: the Pod and NodeNames
//   (JSON.parse of their spans), member names that may be a field, capacity annotation values, Node names
//   (checkEscapes). A Node's other strings go back to the kube-scheduler that sent them as they came.
// - Fields match as memberOf does: case-insensitively, the exact spelling first, else the first, a repeated name
//   with its last value (fieldSpelling).

import type { BufferPool } from "./buffer-pool.js";
import { capacityOfAnnotation, type CapacityRequest, type NodeCapacities, type NodeCapacity } from "./capacity.js";
import {
  ExtenderArgsError,
  checkOffered,
  foldedName,
  nodeNamesOf,
  podOf,
  type ExtenderArgs,
} from "./extender-args.js";
import {
  encodedAnswer,
  filterError,
  predicateVerb,
  prioritizeVerb,
  requestOf,
  type ExtenderContext,
  type VerbAnswer,
} from "./extender-verbs.js";
import { unfitCheckerOf } from "./filter.js";
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
  skipValue,
  skipWhitespace,
  stringAt,
  valueKind,
  walkArray,
  walkObject,
  type JsonText,
  type MemberKey,
} from "./json-scan.js";
import { createJsonWriter, type JsonWriter } from "./json-writer.js";
import { nodeScoreOf } from "./prioritize.js";
import { capacityAnnotationPrefix } from "@topolvm/proto/names";

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

/** Whether `bytes[start, end)` spell `text` one byte per character; callers pass ASCII bytes. */
function bytesAreAscii(bytes: Buffer, start: number, end: number, text: string): boolean {
  if (text.length !== end - start) {
    return false;
  }
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== bytes[start + i]) {
      return false;
    }
  }
  return true;
}

const missingCapacity: NodeCapacity = { kind: "missing" };

/** The capacity annotations of the Nodes of a request, read from the body's bytes; `node` moves from Node to Node. */
class BodyCapacities implements NodeCapacities {
  node = 0;

  constructor(
    private readonly text: JsonText,
    private readonly nodes: Int32Array,
    private readonly annotations: Int32Array,
  ) {}

  get(deviceClass: string): NodeCapacity {
    const { text, annotations } = this;
    const first = this.nodes[this.node * nodeStride + firstAnnotation] ?? 0;
    const skip = capacityAnnotationPrefix.length;
    // From the last: of a key given twice, the last counts.
    for (let record = first + (this.nodes[this.node * nodeStride + annotationCount] ?? 0) - 1; record >= first; record--) {
      const at = record * annotationStride;
      const start = annotations[at + keyStart] ?? 0;
      const end = annotations[at + keyEnd] ?? 0;
      const found =
        annotations[at + keyPlain] === 1
          ? bytesAreAscii(text.bytes, start + 1 + skip, end - 1, deviceClass)
          : memberNameAfter(text, start, end, skip) === deviceClass;
      if (found) {
        return capacityOfAnnotation(stringAt(text, annotations[at + valueStart] ?? 0, annotations[at + valueEnd] ?? 0));
      }
    }
    return missingCapacity;
  }
}

/** A request's full Node objects as offsets into its body. */
interface ScannedNodes {
  readonly text: JsonText;
  readonly length: number;
  /** Node records, nodeStride numbers each. */
  readonly nodes: Int32Array;
  readonly annotations: Int32Array;
}

/** Calls `visit` with each Node's capacities, in order, through one view valid only during its call. */
function eachCapacities(scanned: ScannedNodes, visit: (capacities: NodeCapacities, index: number) => void): void {
  const view = new BodyCapacities(scanned.text, scanned.nodes, scanned.annotations);
  for (let index = 0; index < scanned.length; index++) {
    view.node = index;
    visit(view, index);
  }
}

/** A struct field's member name, for memberIs, and lowercased, for case-insensitive matches. */
interface FieldKey extends MemberKey {
  readonly lower: string;
  readonly lowerBytes: Buffer;
}

function fieldKey(name: string): FieldKey {
  return { ...memberKey(name), lower: name.toLowerCase(), lowerBytes: Buffer.from(name.toLowerCase()) };
}

/** Whether the member name at `[start, end)` (quotes included) is `field` in another case (see foldedName). */
function memberFolds(text: JsonText, start: number, end: number, field: FieldKey): boolean {
  const { bytes } = text;
  const { lowerBytes } = field;
  if (end - start - 2 === lowerBytes.length) {
    let i = 0;
    // Field names are ASCII letters: or-ing 0x20 lowercases a letter and turns no other byte into one.
    while (i < lowerBytes.length && ((bytes[start + 1 + i] ?? 0) | 0x20) === lowerBytes[i]) {
      i++;
    }
    if (i === lowerBytes.length) {
      return true;
    }
  }
  return !isPlain(bytes, start, end) && foldedName(stringAt(text, start, end)) === field.lower;
}

/**
 * Whether the member named at `[start, end)` is read into `field` (memberOf's rule), given the spelling its object's
 * earlier members chose (undefined: none yet): the spelling chosen then, or undefined when the member is skipped.
 */
function fieldSpelling(text: JsonText, start: number, end: number, field: FieldKey, chosen: string | undefined): string | undefined {
  if (memberIs(text, start, end, field)) {
    return field.name;
  }
  if (chosen === field.name || !memberFolds(text, start, end, field)) {
    return undefined;
  }
  const spelling = stringAt(text, start, end);
  return chosen === undefined || chosen === spelling ? spelling : undefined;
}

const capacityPrefixKey = memberKey(capacityAnnotationPrefix);
const podKey = fieldKey("Pod");
const nodesKey = fieldKey("Nodes");
const nodeNamesKey = fieldKey("NodeNames");
const itemsKey = fieldKey("items");
const metadataKey = fieldKey("metadata");
const annotationsKey = fieldKey("annotations");
const nameKey = fieldKey("name");

/**
 * Reads the Nodes of one request into records. Each Node is read only as far as its name and capacity annotations
 * (the only ones placement reads, though every annotation value must be a string); the rest stays JSON text to echo
 * back. One reader serves all the request's Nodes, so no callbacks are created per Node.
 */
function createNodeReader(text: JsonText, nodes: Records, annotations: Records): (offset: number, index: number) => number {
  let index = 0;
  /** Where the current Node's record starts in `nodes.values`. */
  let node = 0;
  let metadataSpelling: string | undefined;
  let nameSpelling: string | undefined;
  let annotationsSpelling: string | undefined;
  const path = (): string => `Nodes.items[${index}]`;
  const forgetAnnotations = (): void => {
    nodes.values[node + firstAnnotation] = annotations.count;
    nodes.values[node + annotationCount] = 0;
  };

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
    const annotationsAs = fieldSpelling(text, start, end, annotationsKey, annotationsSpelling);
    if (annotationsAs !== undefined) {
      annotationsSpelling = annotationsAs;
      forgetAnnotations();
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
    const nameAs = fieldSpelling(text, start, end, nameKey, nameSpelling);
    if (nameAs !== undefined) {
      nameSpelling = nameAs;
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
    const metadataAs = fieldSpelling(text, start, end, metadataKey, metadataSpelling);
    if (metadataAs === undefined) {
      return skipValue(text, memberOffset);
    }
    // This metadata replaces any earlier one.
    metadataSpelling = metadataAs;
    nameSpelling = undefined;
    annotationsSpelling = undefined;
    nodes.values[node + nameStart] = -1;
    forgetAnnotations();
    const kind = valueKind(text, memberOffset);
    if (kind === "null") {
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
    metadataSpelling = undefined;
    nodes.values[node + nameStart] = -1;
    forgetAnnotations();
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
function scanNodesAt(text: JsonText, offset: number): { nodes: ScannedNodes | undefined; end: number } {
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
  let itemsSpelling: string | undefined;
  const end = walkObject(text, offset, (start, stop, valueOffset) => {
    const itemsAs = fieldSpelling(text, start, stop, itemsKey, itemsSpelling);
    if (itemsAs === undefined) {
      return skipValue(text, valueOffset);
    }
    itemsSpelling = itemsAs;
    nodes.count = 0;
    annotations.count = 0;
    const itemsKind = valueKind(text, valueOffset);
    if (itemsKind === "null") {
      // Go encodes an empty NodeList's nil slice as null.
      return skipValue(text, valueOffset);
    }
    if (itemsKind !== "array") {
      skipValue(text, valueOffset);
      throw new ExtenderArgsError("Nodes.items must be an array");
    }
    return walkArray(text, valueOffset, (index, itemOffset) => readNode(itemOffset, index));
  });
  return { nodes: { text, length: nodes.count, nodes: nodes.values, annotations: annotations.values }, end };
}

/** A request read by scanning: its Nodes as offsets, the rest decoded as the plain path decodes it. */
interface ScannedArgs {
  readonly args: ExtenderArgs;
  readonly nodes: ScannedNodes | undefined;
}

/**
 * Reads an ExtenderArgs body in one pass over its bytes: the Pod and NodeNames are decoded, of each full Node only
 * its name and capacity annotations are read. Throws as parseExtenderArgs does.
 */
function scanExtenderArgs(body: Buffer): ScannedArgs {
  const text = jsonText(body);
  const start = skipWhitespace(text, 0);
  if (valueKind(text, start) !== "object") {
    expectEnd(text, skipValue(text, start));
    throw new ExtenderArgsError("request body must be a JSON object (ExtenderArgs)");
  }
  let podSpelling: string | undefined;
  let nodesSpelling: string | undefined;
  let namesSpelling: string | undefined;
  let podValue: unknown;
  let namesValue: unknown;
  let nodes: ScannedNodes | undefined;
  const end = walkObject(text, start, (memberStart, memberEnd, valueOffset) => {
    const nodesAs = fieldSpelling(text, memberStart, memberEnd, nodesKey, nodesSpelling);
    if (nodesAs !== undefined) {
      nodesSpelling = nodesAs;
      const scanned = scanNodesAt(text, valueOffset);
      nodes = scanned.nodes;
      return scanned.end;
    }
    const valueStop = skipValue(text, valueOffset);
    const podAs = fieldSpelling(text, memberStart, memberEnd, podKey, podSpelling);
    if (podAs !== undefined) {
      podSpelling = podAs;
      podValue = parseSpan(text, valueOffset, valueStop);
    }
    const namesAs = fieldSpelling(text, memberStart, memberEnd, nodeNamesKey, namesSpelling);
    if (namesAs !== undefined) {
      namesSpelling = namesAs;
      namesValue = parseSpan(text, valueOffset, valueStop);
    }
    return valueStop;
  });
  expectEnd(text, end);
  const pod = podOf(podValue);
  const nodeNames = nodeNamesOf(namesValue);
  checkOffered(nodes, nodeNames);
  return { args: { pod, nodes: undefined, nodeNames }, nodes };
}

/** Writes the Nodes that fit (`fit`) or do not as a JSON array's or object's elements, each with `write`. */
function writeEach(writer: JsonWriter, verdicts: Uint16Array, fit: boolean, write: (index: number, verdict: number) => void): void {
  let first = true;
  for (let index = 0; index < verdicts.length; index++) {
    const verdict = verdicts[index] ?? 0;
    if ((verdict === 0) === fit) {
      if (!first) {
        writer.raw(",");
      }
      first = false;
      write(index, verdict);
    }
  }
}

function spanLength(records: Int32Array, length: number, start: number, end: number): number {
  let bytes = 0;
  for (let at = 0; at < length * nodeStride; at += nodeStride) {
    bytes += (records[at + end] ?? 0) - (records[at + start] ?? 0);
  }
  return bytes;
}

/**
 * The filter verb's answer as JSON in a buffer from `pool`: the fitting Nodes' JSON text and all names as they
 * arrived, each reason encoded once (thousands of nodes share a handful).
 */
function encodeFilterResult(scanned: ScannedNodes, request: CapacityRequest, withNames: boolean, pool: BufferPool): Buffer {
  const { text, nodes } = scanned;
  const checker = unfitCheckerOf(request);
  const verdicts = new Uint16Array(scanned.length);
  eachCapacities(scanned, (capacities, index) => {
    verdicts[index] = checker.verdictOf(capacities);
  });
  const encoded = [Buffer.alloc(0), ...checker.reasons.map((reason) => Buffer.from(JSON.stringify(reason)))];
  let reasonBytes = 0;
  for (const verdict of verdicts) {
    reasonBytes += (encoded[verdict]?.length ?? 0) + 1;
  }
  const namesLength = spanLength(nodes, scanned.length, nameStart, nameEnd);
  const writer = createJsonWriter(
    spanLength(nodes, scanned.length, itemStart, itemEnd) + verdicts.length + 2 * namesLength + reasonBytes + 128,
    pool,
  );
  const writeName = (index: number): void => {
    writer.bytes(text.bytes, nodes[index * nodeStride + nameStart] ?? 0, nodes[index * nodeStride + nameEnd] ?? 0);
  };
  writer.raw('{"Nodes":{"items":[');
  writeEach(writer, verdicts, true, (index) => {
    writer.bytes(text.bytes, nodes[index * nodeStride + itemStart] ?? 0, nodes[index * nodeStride + itemEnd] ?? 0);
  });
  writer.raw("]},");
  if (withNames) {
    writer.raw('"NodeNames":[');
    writeEach(writer, verdicts, true, writeName);
    writer.raw("],");
  }
  writer.raw('"FailedNodes":{},"FailedAndUnresolvableNodes":{');
  writeEach(writer, verdicts, false, (index, verdict) => {
    writeName(index);
    writer.raw(":");
    const bytes = encoded[verdict] ?? Buffer.alloc(0);
    writer.bytes(bytes, 0, bytes.length);
  });
  writer.raw('},"Error":""}');
  return writer.finish();
}

/** The prioritize verb's answer as a HostPriorityList in a buffer from `pool`, as encodeFilterResult. */
function encodeHostPriorities(scanned: ScannedNodes, request: CapacityRequest, context: ExtenderContext, pool: BufferPool): Buffer {
  const { text, nodes } = scanned;
  const scoreOf = nodeScoreOf(request, context.divisors);
  const writer = createJsonWriter(spanLength(nodes, scanned.length, nameStart, nameEnd) + 22 * scanned.length + 2, pool);
  writer.raw("[");
  eachCapacities(scanned, (capacities, index) => {
    writer.raw(index === 0 ? '{"Host":' : ',{"Host":');
    writer.bytes(text.bytes, nodes[index * nodeStride + nameStart] ?? 0, nodes[index * nodeStride + nameEnd] ?? 0);
    writer.raw(',"Score":');
    writer.integer(scoreOf(capacities));
    writer.raw("}");
  });
  writer.raw("]");
  return writer.finish();
}

function scannedAnswer(args: ExtenderArgs, nodes: ScannedNodes, body: Buffer): VerbAnswer {
  return { body, pod: args.pod, nodeCount: nodes.length, shape: "objects" };
}

/** The filter verb over a body read by scanning; a body without Nodes is answered by the plain verb. */
export function scanPredicate(body: Buffer, context: ExtenderContext, pool: BufferPool): VerbAnswer {
  const { args, nodes } = scanExtenderArgs(body);
  if (nodes === undefined) {
    return encodedAnswer(args, predicateVerb(args, context));
  }
  const request = requestOf(args.pod);
  if (typeof request === "string") {
    return scannedAnswer(args, nodes, Buffer.from(JSON.stringify(filterError(request))));
  }
  return scannedAnswer(args, nodes, encodeFilterResult(nodes, request, args.nodeNames !== undefined, pool));
}

/** The prioritize verb over a body read by scanning, as scanPredicate. */
export function scanPrioritize(body: Buffer, context: ExtenderContext, pool: BufferPool): VerbAnswer {
  const { args, nodes } = scanExtenderArgs(body);
  if (nodes === undefined) {
    return encodedAnswer(args, prioritizeVerb(args, context));
  }
  const request = requestOf(args.pod);
  return scannedAnswer(args, nodes, encodeHostPriorities(nodes, typeof request === "string" ? new Map() : request, context, pool));
}
