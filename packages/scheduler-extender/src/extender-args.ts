import type { CandidateNode } from "./candidate-node.js";
import { nodeCapacitiesOf } from "./capacity.js";
import { capacityAnnotationPrefix } from "./topolvm-names.js";
import { expectEnd, parseSpan, skipValue, skipWhitespace, valueKind, walkArray, walkObject } from "./json-scan.js";

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
 * kube-scheduler's ExtenderArgs (k8s.io/kube-scheduler/extender/v1): the pod and either the full candidate Nodes
 * (`nodeCacheCapable: false`) or only their names (`nodeCacheCapable: true`).
 */
export interface ExtenderArgs {
  readonly pod: PodInfo;
  readonly nodes: readonly NodeObject[] | undefined;
  readonly nodeNames: readonly string[] | undefined;
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

/**
 * Reads the annotations object starting at `offset`, keeping only the capacity annotations (the only ones placement
 * reads) while checking that every value is a string. Returns them and the offset after the object.
 */
function capacityAnnotationsAt(
  bytes: Buffer,
  offset: number,
  path: string,
): { annotations: Record<string, string> | undefined; end: number } {
  const kind = valueKind(bytes, offset);
  if (kind === "null") {
    return { annotations: undefined, end: skipValue(bytes, offset) };
  }
  if (kind !== "object") {
    skipValue(bytes, offset);
    throw new ExtenderArgsError(`${path} must be an object`);
  }
  const annotations: Record<string, string> = {};
  const end = walkObject(bytes, offset, (key, valueOffset) => {
    const isString = valueKind(bytes, valueOffset) === "string";
    const valueEnd = skipValue(bytes, valueOffset);
    if (!isString) {
      throw new ExtenderArgsError(`${path}[${JSON.stringify(key)}] must be a string`);
    }
    if (key.startsWith(capacityAnnotationPrefix)) {
      annotations[key] = parseSpan(bytes, { start: valueOffset, end: valueEnd }) as string;
    }
    return valueEnd;
  });
  return { annotations, end };
}

/**
 * Reads the Node starting at `offset`, decoding only its name and capacity annotations: the rest is kept as the JSON
 * text to echo back. Returns the Node and the offset after it.
 */
function parseNodeAt(bytes: Buffer, offset: number, path: string): { node: NodeObject; end: number } {
  if (valueKind(bytes, offset) !== "object") {
    skipValue(bytes, offset);
    throw new ExtenderArgsError(`${path} must be a Node object`);
  }
  let name: unknown;
  let annotations: Record<string, string> | undefined;
  const end = walkObject(bytes, offset, (member, memberOffset) => {
    const kind = valueKind(bytes, memberOffset);
    if (member !== "metadata" || kind === "null") {
      return skipValue(bytes, memberOffset);
    }
    if (kind !== "object") {
      skipValue(bytes, memberOffset);
      throw new ExtenderArgsError(`${path}.metadata must be an object`);
    }
    return walkObject(bytes, memberOffset, (field, fieldOffset) => {
      if (field === "annotations") {
        const read = capacityAnnotationsAt(bytes, fieldOffset, `${path}.metadata.annotations`);
        annotations = read.annotations;
        return read.end;
      }
      const fieldEnd = skipValue(bytes, fieldOffset);
      if (field === "name") {
        name = parseSpan(bytes, { start: fieldOffset, end: fieldEnd });
      }
      return fieldEnd;
    });
  });
  if (typeof name !== "string" || name === "") {
    throw new ExtenderArgsError(`${path}.metadata.name must be a non-empty string`);
  }
  return { node: { name, capacities: nodeCapacitiesOf(annotations), raw: bytes.subarray(offset, end) }, end };
}

/** Reads the NodeList starting at `offset`; returns its Nodes (undefined for null) and the offset after it. */
function parseNodesAt(bytes: Buffer, offset: number, path: string): { nodes: NodeObject[] | undefined; end: number } {
  const kind = valueKind(bytes, offset);
  if (kind === "null") {
    return { nodes: undefined, end: skipValue(bytes, offset) };
  }
  if (kind !== "object") {
    skipValue(bytes, offset);
    throw new ExtenderArgsError(`${path} must be a NodeList object`);
  }
  const nodes: NodeObject[] = [];
  const end = walkObject(bytes, offset, (name, valueOffset) => {
    if (name !== "items" || valueKind(bytes, valueOffset) === "null") {
      // Go encodes an empty NodeList's nil slice as null.
      return skipValue(bytes, valueOffset);
    }
    if (valueKind(bytes, valueOffset) !== "array") {
      skipValue(bytes, valueOffset);
      throw new ExtenderArgsError(`${path}.items must be an array`);
    }
    nodes.length = 0;
    return walkArray(bytes, valueOffset, (index, itemOffset) => {
      const { node, end: itemEnd } = parseNodeAt(bytes, itemOffset, `${path}.items[${index}]`);
      nodes.push(node);
      return itemEnd;
    });
  });
  return { nodes, end };
}

function parseNodeNames(value: unknown, path: string): string[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!Array.isArray(value)) {
    throw new ExtenderArgsError(`${path} must be an array of node names`);
  }
  return value.map((name, index) => {
    if (typeof name !== "string" || name === "") {
      throw new ExtenderArgsError(`${path}[${index}] must be a non-empty string`);
    }
    return name;
  });
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
 * Reads an ExtenderArgs request body in one pass over its bytes: the pod and node names are decoded, and of each
 * full Node only its metadata (the rest is kept as raw JSON to echo back). Unknown fields are ignored. Throws
 * JsonSyntaxError for bytes that are not JSON and ExtenderArgsError for JSON that is not ExtenderArgs.
 */
export function parseExtenderArgs(body: Buffer | string): ExtenderArgs {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const start = skipWhitespace(bytes, 0);
  if (valueKind(bytes, start) !== "object") {
    expectEnd(bytes, skipValue(bytes, start));
    throw new ExtenderArgsError("request body must be a JSON object (ExtenderArgs)");
  }
  const exactSeen = new Set<TopLevelField>();
  let podValue: unknown;
  let nodes: NodeObject[] | undefined;
  let nodeNamesValue: unknown;
  const end = walkObject(bytes, start, (name, valueOffset) => {
    const match = fieldOf(name);
    if (match === undefined || (exactSeen.has(match.field) && !match.exact)) {
      return skipValue(bytes, valueOffset);
    }
    if (match.exact) {
      exactSeen.add(match.field);
    }
    if (match.field === "Nodes") {
      const parsed = parseNodesAt(bytes, valueOffset, "Nodes");
      nodes = parsed.nodes;
      return parsed.end;
    }
    const valueEnd = skipValue(bytes, valueOffset);
    const value = parseSpan(bytes, { start: valueOffset, end: valueEnd });
    if (match.field === "Pod") {
      podValue = value;
    } else {
      nodeNamesValue = value;
    }
    return valueEnd;
  });
  expectEnd(bytes, end);
  const pod = parsePod(podValue, "Pod");
  const nodeNames = parseNodeNames(nodeNamesValue, "NodeNames");
  if (nodes === undefined && nodeNames === undefined) {
    throw new ExtenderArgsError("one of Nodes or NodeNames is required");
  }
  return { pod, nodes, nodeNames };
}
