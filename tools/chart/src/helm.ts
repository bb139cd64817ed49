// The TopoLVM chart rendered by the real helm (built by tools/ensure-deps, tools/deps/44-helm.sh): what the chart's
// tests, the deploy/ renderer and the local cluster's chart-driven processes all read.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { isNode, parseAllDocuments, stringify } from "yaml";

import { binaryPath } from "../../cluster/src/binaries.js";

/** charts/topolvm in this checkout. */
export const chartDir = fileURLToPath(new URL("../../../charts/topolvm", import.meta.url));

/** The release name and namespace of the docs (DESIGN.md §1). */
export const releaseName = "topolvm";
export const releaseNamespace = "topolvm-system";

/** An object as helm renders it. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** What helm printed when it failed: its exit code and stderr, for assertions on the schema's messages. */
export class HelmError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`helm ${args.join(" ")} exited ${String(code)}: ${stderr.trim()}`);
    this.name = "HelmError";
  }
}

/** Runs helm with argv (never a shell); resolves with its stdout, rejects with a HelmError. */
export function helm(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binaryPath("helm"),
      [...args],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new HelmError(args, typeof error.code === "number" ? error.code : null, stderr));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

/** Values given to helm as one YAML file (-f), so nested keys and lists need no --set escaping. */
export type ChartValues = Record<string, unknown>;

/** Runs `fn` with `values` written to a temporary values file. */
export async function withValuesFile<T>(values: ChartValues, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "topolvm-values-"));
  try {
    const file = join(dir, "values.yaml");
    await writeFile(file, stringify(values));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parses a multi-document YAML stream into its non-empty objects. */
export function parseObjects(text: string): RenderedObject[] {
  return parseSourcedObjects(text).map(({ object }) => object);
}

/** An object with the chart file it came from, e.g. `templates/controller/deployment.yaml` or `crds/x.yaml`. */
export interface SourcedObject {
  source: string;
  object: RenderedObject;
}

/** Parses helm's output into its non-empty objects and the `# Source: <chart>/<file>` comment above each. */
export function parseSourcedObjects(text: string): SourcedObject[] {
  const objects: SourcedObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new Error(`helm rendered invalid YAML: ${document.errors.map((error) => error.message).join("; ")}`);
    }
    const object = document.toJS() as RenderedObject | null;
    if (object === null) {
      continue;
    }
    // yaml attaches the comment after `---` to the document or to its first node.
    const comments = `${document.commentBefore ?? ""}\n${isNode(document.contents) ? (document.contents.commentBefore ?? "") : ""}`;
    const source = /Source: [^/\n]+\/(\S+)/.exec(comments)?.[1];
    if (source === undefined) {
      throw new Error(`helm rendered ${object.kind} ${object.metadata.name} without a "# Source:" comment`);
    }
    objects.push({ source, object });
  }
  return objects;
}

export interface RenderOptions {
  /** Include the CRDs of crds/ (helm template --include-crds); default true. */
  includeCrds?: boolean;
  /** The Kubernetes version helm renders for (--kube-version); default helm's own. */
  kubeVersion?: string;
}

/** `helm template` of charts/topolvm with `values`, as objects (CRDs first when included). */
export async function renderChart(values: ChartValues = {}, options: RenderOptions = {}): Promise<RenderedObject[]> {
  return parseObjects(await renderChartText(values, options));
}

/** `helm template` of charts/topolvm with `values`, each object with the chart file that rendered it. */
export async function renderChartSources(values: ChartValues = {}, options: RenderOptions = {}): Promise<SourcedObject[]> {
  return parseSourcedObjects(await renderChartText(values, options));
}

/** `helm lint --strict` of charts/topolvm with `values`; resolves with helm's report, rejects with a HelmError. */
export function lintChart(values: ChartValues = {}, options: Pick<RenderOptions, "kubeVersion"> = {}): Promise<string> {
  return withValuesFile(values, (file) =>
    helm([
      "lint",
      "--strict",
      chartDir,
      "--namespace",
      releaseNamespace,
      "--values",
      file,
      ...(options.kubeVersion === undefined ? [] : ["--kube-version", options.kubeVersion]),
    ]),
  );
}

/** `helm template` of charts/topolvm with `values`, as helm printed it. */
export function renderChartText(values: ChartValues = {}, options: RenderOptions = {}): Promise<string> {
  return withValuesFile(values, (file) =>
    helm([
      "template",
      releaseName,
      chartDir,
      "--namespace",
      releaseNamespace,
      "--values",
      file,
      ...(options.includeCrds === false ? [] : ["--include-crds"]),
      ...(options.kubeVersion === undefined ? [] : ["--kube-version", options.kubeVersion]),
    ]),
  );
}
