import type { CandidateNode } from "./candidate-node.js";

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

/** A full Node object from the request, with the parts placement reads pulled out; `object` is echoed back verbatim. */
export interface NodeObject extends CandidateNode {
  readonly object: Readonly<Record<string, unknown>>;
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

/**
 * Reads a top-level ExtenderArgs field the way Go's encoding/json does: the exact Go field name first, then any
 * case-insensitive match. Today's kube-scheduler sends `Pod`, `Nodes`, `NodeNames` (the Go types have no JSON tags);
 * older releases and other tools send `pod`, `nodes`, `nodenames`.
 */
function goField(object: JsonObject, goName: string): unknown {
  if (Object.hasOwn(object, goName)) {
    return object[goName];
  }
  const lower = goName.toLowerCase();
  for (const key of Object.keys(object)) {
    if (key.toLowerCase() === lower) {
      return object[key];
    }
  }
  return undefined;
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

function parseNode(value: unknown, path: string): NodeObject {
  if (!isObject(value)) {
    throw new ExtenderArgsError(`${path} must be a Node object`);
  }
  const metadata = metadataAt(value, path);
  const name = metadata.name;
  if (typeof name !== "string" || name === "") {
    throw new ExtenderArgsError(`${path}.metadata.name must be a non-empty string`);
  }
  return { name, annotations: annotationsAt(metadata, `${path}.metadata`), object: value };
}

function parseNodes(value: unknown, path: string): NodeObject[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!isObject(value)) {
    throw new ExtenderArgsError(`${path} must be a NodeList object`);
  }
  // Go encodes an empty NodeList's nil slice as null.
  const items = value.items ?? [];
  if (!Array.isArray(items)) {
    throw new ExtenderArgsError(`${path}.items must be an array`);
  }
  return items.map((item, index) => parseNode(item, `${path}.items[${index}]`));
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

/** Validates a decoded request body as ExtenderArgs; unknown fields are ignored. */
export function parseExtenderArgs(body: unknown): ExtenderArgs {
  if (!isObject(body)) {
    throw new ExtenderArgsError("request body must be a JSON object (ExtenderArgs)");
  }
  const pod = parsePod(goField(body, "Pod"), "Pod");
  const nodes = parseNodes(goField(body, "Nodes"), "Nodes");
  const nodeNames = parseNodeNames(goField(body, "NodeNames"), "NodeNames");
  if (nodes === undefined && nodeNames === undefined) {
    throw new ExtenderArgsError("one of Nodes or NodeNames is required");
  }
  return { pod, nodes, nodeNames };
}
