// A bin's shebang line, which its bundle keeps: `#!/usr/bin/env node` or `#!/usr/bin/env -S [VAR=value] node FLAGS`,
// so the image runs each bin with the node flags and environment its package chose (node is on the image's PATH).

/** Splits a script into its shebang line (or "" when it has none) and the rest. */
export function splitShebang(script: string): { shebang: string; body: string } {
  if (!script.startsWith("#!")) {
    return { shebang: "", body: script };
  }
  const end = script.indexOf("\n");
  return end === -1 ? { shebang: script, body: "" } : { shebang: script.slice(0, end), body: script.slice(end + 1) };
}

/** Checks that a bin's shebang starts it with node through env, which the images carry at /usr/bin/env. */
export function checkShebang(shebang: string, bin: string): string {
  if (!/^#!\/usr\/bin\/env (?:-S (?:[A-Za-z_][A-Za-z0-9_]*=\S* )*)?node(?: \S+)*$/.test(shebang)) {
    throw new Error(`${bin}: shebang "${shebang}" does not start node through /usr/bin/env`);
  }
  return shebang;
}
