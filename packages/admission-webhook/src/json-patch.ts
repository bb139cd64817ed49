/** JSON Patch (RFC 6902) operations as the webhooks emit them; values are plain JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One RFC 6902 operation; the hooks only add to and remove from objects and arrays. */
export type JsonPatchOperation = { op: "add"; path: string; value: JsonValue } | { op: "remove"; path: string };

/** Escapes one reference token of a JSON Pointer (RFC 6901): `~` → `~0`, then `/` → `~1`. */
export function escapePointerToken(token: string): string {
  return token.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A JSON Pointer from unescaped tokens: `["metadata", "annotations", "a/b"]` → `/metadata/annotations/a~1b`. */
export function jsonPointer(...tokens: readonly (string | number)[]): string {
  return tokens.map((token) => "/" + escapePointerToken(String(token))).join("");
}
