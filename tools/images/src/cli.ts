// tools/images/build COMPONENT... [--repository PREFIX] [--no-load]: what each process package's `container` target
// runs (nx run lvmd:container). Prints one line per image: reference, digest and sizes.
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";

import { cacheDir } from "../../paths.js";
import { buildImage } from "./build-image.js";
import { componentNamed } from "./components.js";
import { defaultRepository } from "./reference.js";
import { formatBytes } from "./sizes.js";

const workspaceRoot = resolve(import.meta.dirname, "..", "..", "..");

const usage = `Usage: tools/images/build COMPONENT... [--repository PREFIX] [--no-load]
  COMPONENT          lvmd, csi-plugin, scheduler-extender or admission-webhook (its package must be built)
  --repository       image repository prefix (default ${defaultRepository}): tags <prefix>/<component>:<version>
  --no-load          only write dist/images/<component>-<version>.oci.tar, do not load it into buildah's storage
Environment: SOURCE_DATE_EPOCH (default 0) is every file's mtime and the image's created date.
`;

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { repository: { type: "string", default: defaultRepository }, "no-load": { type: "boolean", default: false }, help: { type: "boolean", default: false } },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(usage);
    return values.help ? 0 : 2;
  }
  const epoch = process.env.SOURCE_DATE_EPOCH ?? "0";
  if (!/^\d+$/.test(epoch)) {
    throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, got "${epoch}"`);
  }
  for (const name of positionals) {
    const started = Date.now();
    const record = await buildImage({
      component: componentNamed(name),
      workspaceRoot,
      imagesCache: join(cacheDir(), "images"),
      outDir: join(workspaceRoot, "dist", "images"),
      repository: values.repository,
      epochSeconds: Number(epoch),
      load: !values["no-load"],
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `${record.reference} ${record.digest} ${formatBytes(record.compressedBytes)} compressed, ${formatBytes(record.uncompressedBytes)} unpacked, Node.js ${record.nodeVersion}, ${seconds} s\n`,
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`tools/images/build: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
