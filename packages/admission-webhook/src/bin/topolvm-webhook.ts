#!/usr/bin/env node
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

// package.json sits two levels up from both src/bin/ and dist/bin/.
const { version } = createRequire(import.meta.url)("../../package.json") as { version: string };
const { values } = parseArgs({ options: { version: { type: "boolean" }, help: { type: "boolean" } } });
if (values.version === true) {
  process.stdout.write(`topolvm-webhook ${version}\n`);
} else {
  process.stdout.write("Usage: topolvm-webhook [--version] [--help]\n");
  process.exitCode = values.help === true ? 0 : 2;
}
