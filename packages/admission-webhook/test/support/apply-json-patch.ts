import type { JsonPatchOperation, JsonValue } from "../../src/json-patch.js";

/**
 * Applies add/remove operations (RFC 6902) to a copy of a document, strictly: a missing parent or member fails, as
 * kube-apiserver's patch library does, so tests catch patches that would not apply.
 */
export function applyJsonPatch(document: unknown, patch: readonly JsonPatchOperation[]): unknown {
  const root = structuredClone(document) as JsonValue;
  for (const operation of patch) {
    const tokens = operation.path
      .split("/")
      .slice(1)
      .map((token) => token.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = tokens.pop();
    if (last === undefined) {
      throw new Error(`patch path ${JSON.stringify(operation.path)} names the whole document`);
    }
    let parent: JsonValue = root;
    for (const token of tokens) {
      const child: JsonValue | undefined = member(parent, token);
      if (child === undefined) {
        throw new Error(`patch path ${operation.path}: no member ${JSON.stringify(token)}`);
      }
      parent = child;
    }
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (operation.op === "add") {
        parent.splice(index, 0, operation.value);
      } else {
        parent.splice(index, 1);
      }
    } else if (typeof parent === "object" && parent !== null) {
      if (operation.op === "add") {
        parent[last] = operation.value;
      } else {
        if (!(last in parent)) {
          throw new Error(`patch path ${operation.path}: nothing to remove`);
        }
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- removing a member is what the op means.
        delete parent[last];
      }
    } else {
      throw new Error(`patch path ${operation.path}: parent is not a container`);
    }
  }
  return root;
}

function member(value: JsonValue, token: string): JsonValue | undefined {
  if (Array.isArray(value)) {
    return value[Number(token)];
  }
  if (typeof value === "object" && value !== null) {
    return value[token];
  }
  return undefined;
}
