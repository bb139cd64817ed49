/**
 * Readers for the parts of an admitted object the hooks use. Mutating webhooks run before the API server validates
 * an object, and anyone who reaches the port can post a body, so every field is checked before use; a mismatch is
 * an ObjectShapeError naming the field path and the value found.
 */

/** A field of the admitted object is missing or has the wrong type. */
export class ObjectShapeError extends Error {
  constructor(
    readonly field: string,
    expected: string,
    value: unknown,
  ) {
    super(`${field}: expected ${expected}, got ${describe(value)}`);
    this.name = "ObjectShapeError";
  }
}

/** A JSON object (not an array, not null). */
export type JsonObject = Readonly<Record<string, unknown>>;

function describe(value: unknown): string {
  if (value === undefined) {
    return "nothing";
  }
  if (value === null) {
    return "null";
  }
  if (Array.isArray(value)) {
    return "an array";
  }
  if (typeof value === "object") {
    return "an object";
  }
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 64 ? text.slice(0, 64) + "…" : text}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value as a JSON object, or an error naming the field. */
export function requireObject(value: unknown, field: string): JsonObject {
  if (!isObject(value)) {
    throw new ObjectShapeError(field, "an object", value);
  }
  return value;
}

/** The value as a JSON object; undefined when absent or null (how the API server omits empty fields). */
export function optionalObject(value: unknown, field: string): JsonObject | undefined {
  return value === undefined || value === null ? undefined : requireObject(value, field);
}

/** The value as an array; undefined when absent or null. */
export function optionalArray(value: unknown, field: string): readonly unknown[] | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!Array.isArray(value)) {
    throw new ObjectShapeError(field, "an array", value);
  }
  return value as readonly unknown[];
}

/** The value as a string, or an error naming the field. */
export function requireString(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new ObjectShapeError(field, "a string", value);
  }
  return value;
}

/** The value as a string; undefined when absent or null. */
export function optionalString(value: unknown, field: string): string | undefined {
  return value === undefined || value === null ? undefined : requireString(value, field);
}

/** A map of strings (annotations, resource lists); undefined when absent or null. */
export function optionalStringMap(value: unknown, field: string): Readonly<Record<string, string>> | undefined {
  const object = optionalObject(value, field);
  if (object === undefined) {
    return undefined;
  }
  for (const [key, entry] of Object.entries(object)) {
    requireString(entry, `${field}[${JSON.stringify(key)}]`);
  }
  return object as Readonly<Record<string, string>>;
}
