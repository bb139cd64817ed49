import type { CandidateNode } from "./candidate-node.js";
import { nodeCapacitiesOf } from "./capacity.js";

/** Thrown when a request body is not a usable ExtenderArgs; the HTTP layer answers 400 with its message. */
export class ExtenderArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExtenderArgsError";
  }
}

/** Thrown for a request body that is not JSON; the HTTP layer answers 400 with its message. */
export class JsonSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

/** The parts of the pod being scheduled that the extender reads. */
export interface PodInfo {
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly annotations: Readonly<Record<string, string>> | undefined;
}

/** A JSON object as JSON.parse gives it. */
type JsonObject = Readonly<Record<string, unknown>>;

/** A full Node of a request: what placement reads of it, and the object itself, to answer with. */
export interface NodeObject extends CandidateNode {
  readonly object: JsonObject;
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

/**
 * A member name folded as Go's encoding/json compares names with struct fields (bytes.EqualFold): the only
 * characters beyond ASCII that fold onto ASCII letters are the Kelvin sign, which toLowerCase maps to "k", and the
 * long s.
 */
export function foldedName(name: string): string {
  return name.toLowerCase().replaceAll("\u017f", "s");
}

/**
 * The member of `object` that Go's decoder reads into the struct field `field` (`Pod`, `metadata`, `name`, ...):
 * member names match case-insensitively, as they do in encoding/json at every struct level (kube-scheduler sends
 * the Go names, older releases and other tools `pod`, `nodenames`). Where an object holds several spellings, the
 * exact one wins, else the first; a name given twice counts with its last value, as JSON.parse keeps it.
 */
export function memberOf(object: JsonObject, field: string): unknown {
  if (Object.hasOwn(object, field)) {
    return object[field];
  }
  const wanted = foldedName(field);
  for (const key of Object.keys(object)) {
    if (foldedName(key) === wanted) {
      return object[key];
    }
  }
  return undefined;
}

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
  const annotations = memberOf(metadata, "annotations");
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
  const metadata = memberOf(object, "metadata");
  if (metadata === undefined || metadata === null) {
    return {};
  }
  if (!isObject(metadata)) {
    throw new ExtenderArgsError(`${path}.metadata must be an object`);
  }
  return metadata;
}

/** Reads ExtenderArgs' `Pod`. */
export function podOf(value: unknown): PodInfo {
  if (value === undefined || value === null) {
    throw new ExtenderArgsError("Pod is missing");
  }
  if (!isObject(value)) {
    throw new ExtenderArgsError("Pod must be a Pod object");
  }
  const metadata = metadataAt(value, "Pod");
  return {
    namespace: optionalString(memberOf(metadata, "namespace"), "Pod.metadata.namespace"),
    name: optionalString(memberOf(metadata, "name"), "Pod.metadata.name"),
    annotations: annotationsAt(metadata, "Pod.metadata"),
  };
}

function nodeObjectOf(value: unknown, path: string): NodeObject {
  if (!isObject(value)) {
    throw new ExtenderArgsError(`${path} must be a Node object`);
  }
  const metadata = metadataAt(value, path);
  const annotations = annotationsAt(metadata, `${path}.metadata`);
  const name = memberOf(metadata, "name");
  if (typeof name !== "string" || name === "") {
    throw new ExtenderArgsError(`${path}.metadata.name must be a non-empty string`);
  }
  return { name, capacities: nodeCapacitiesOf(annotations), object: value };
}

function nodeObjectsOf(value: unknown): NodeObject[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!isObject(value)) {
    throw new ExtenderArgsError("Nodes must be a NodeList object");
  }
  const items = memberOf(value, "items");
  // Go encodes an empty NodeList's nil slice as null.
  if (items === undefined || items === null) {
    return [];
  }
  if (!Array.isArray(items)) {
    throw new ExtenderArgsError("Nodes.items must be an array");
  }
  return items.map((item: unknown, index) => nodeObjectOf(item, `Nodes.items[${index}]`));
}

/** Reads ExtenderArgs' `NodeNames`; undefined when it is absent or null. */
export function nodeNamesOf(value: unknown): string[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!Array.isArray(value)) {
    throw new ExtenderArgsError("NodeNames must be an array of node names");
  }
  const names: unknown[] = value;
  names.forEach((name, index) => {
    if (typeof name !== "string" || name === "") {
      throw new ExtenderArgsError(`NodeNames[${index}] must be a non-empty string`);
    }
  });
  return names as string[];
}

/** Checks that a request names its nodes one way or the other. */
export function checkOffered(nodes: unknown, nodeNames: unknown): void {
  if (nodes === undefined && nodeNames === undefined) {
    throw new ExtenderArgsError("one of Nodes or NodeNames is required");
  }
}

/**
 * Reads an ExtenderArgs request body; unknown fields are ignored. Throws JsonSyntaxError for bytes that are not JSON
 * and ExtenderArgsError for JSON that is not ExtenderArgs.
 */
export function parseExtenderArgs(body: Buffer | string): ExtenderArgs {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
  } catch (error) {
    throw new JsonSyntaxError((error as Error).message);
  }
  if (!isObject(value)) {
    throw new ExtenderArgsError("request body must be a JSON object (ExtenderArgs)");
  }
  // Checked in the order the scanning path (full-object-scan.ts) meets them, so both name the same fault.
  const nodes = nodeObjectsOf(memberOf(value, "Nodes"));
  const pod = podOf(memberOf(value, "Pod"));
  const nodeNames = nodeNamesOf(memberOf(value, "NodeNames"));
  checkOffered(nodes, nodeNames);
  return { pod, nodes, nodeNames };
}
