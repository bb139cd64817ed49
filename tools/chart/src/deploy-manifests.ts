// deploy/manifests rendered from the chart, so the chart stays the one source of truth: a kustomize base with the
// objects both scheduler topologies share (manual certificate, lvmd as a systemd service), one overlay per topology
// with its scheduler objects, and cert-manager's objects beside the base for operators who use it.
import { readFile, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";

import { stringify } from "yaml";

import { certificateValues, mergeValues, schedulerValues } from "./combinations.js";
import { releaseNamespace, renderChartSources, type ChartValues, type RenderedObject, type SourcedObject } from "./helm.js";

/** The repository's root directory. */
export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));

/** deploy/manifests in this checkout. */
export const deployManifestsDir = join(repoRoot, "deploy", "manifests");

/** The overlays of deploy/manifests/overlays and the scheduler topology each renders. */
export const deployOverlays = { "daemonset-scheduler": "daemonset", "deployment-scheduler": "deployment" } as const;
export type DeployOverlay = keyof typeof deployOverlays;

/**
 * webhook.caBundle of the manifests: no CA is known when they are rendered, so they carry this stand-in (base64 of a
 * PEM-shaped note) and deploy/README.md has the operator patch in the CA of the Secret `mutatingwebhook`.
 */
export const placeholderCaBundle = Buffer.from(
  "-----BEGIN CERTIFICATE-----\nReplace this caBundle with the base64 PEM of your webhook CA, see deploy/README.md\n-----END CERTIFICATE-----\n",
).toString("base64");

/** The chart's values for deploy/manifests: lvmd as a systemd service, the given scheduler and certificate path. */
export function deployValues(overlay: DeployOverlay, certificate: "manual" | "cert-manager" = "manual"): ChartValues {
  return mergeValues(
    schedulerValues(deployOverlays[overlay]),
    certificateValues(certificate, placeholderCaBundle),
    { lvmd: { managed: false } },
  );
}

/** Labels only helm's own bookkeeping needs; the manifests are not managed by helm, so they go. */
export const helmOnlyLabels: readonly string[] = ["helm.sh/chart", "app.kubernetes.io/managed-by"];

/** A copy of object without helmOnlyLabels in any `metadata.labels` (the object's and its pod template's). */
export function withoutHelmLabels<T>(object: T): T {
  return strip(structuredClone(object)) as T;
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) {
    value.forEach(strip);
  } else if (typeof value === "object" && value !== null) {
    const record = value as Record<string, unknown>;
    const metadata = record.metadata;
    if (typeof metadata === "object" && metadata !== null && "labels" in metadata) {
      const labels = (metadata as { labels?: Record<string, string> }).labels ?? {};
      for (const label of helmOnlyLabels) {
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- label keys are data
        delete labels[label];
      }
    }
    Object.values(record).forEach(strip);
  }
  return value;
}

/** The Namespace helm gets from --create-namespace; kustomize users get it from the base. */
export const namespaceObject: RenderedObject = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: releaseNamespace, labels: { "app.kubernetes.io/part-of": "topolvm" } },
};

/** What deploy/manifests is made of: helm's objects for each overlay's values and for cert-manager's. */
export interface DeployRenders {
  overlays: Record<DeployOverlay, SourcedObject[]>;
  /** The daemonset overlay's values with webhook.certManager.enabled. */
  certManager: SourcedObject[];
}

/** Runs helm for every render deploy/manifests needs. */
export async function renderDeploySources(): Promise<DeployRenders> {
  const [daemonset, deployment, certManager] = await Promise.all([
    renderChartSources(deployValues("daemonset-scheduler")),
    renderChartSources(deployValues("deployment-scheduler")),
    renderChartSources(deployValues("daemonset-scheduler", "cert-manager")),
  ]);
  return { overlays: { "daemonset-scheduler": daemonset, "deployment-scheduler": deployment }, certManager };
}

const header = (what: string): string =>
  `# Rendered from charts/topolvm by tools/chart/render-deploy (${what}).\n` +
  "# Do not edit: change the chart and run tools/chart/render-deploy; the chart's tests check for drift.\n";

function yamlDocuments(objects: readonly RenderedObject[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0 })).join("---\n");
}

function valuesComment(values: ChartValues): string {
  return stringify(values, { lineWidth: 0 })
    .trimEnd()
    .split("\n")
    .map((line) => `#   ${line}`)
    .join("\n");
}

function kustomization(what: string, resources: readonly string[], values?: ChartValues): string {
  const rendered = values === undefined ? "" : `# helm template --include-crds with these values:\n${valuesComment(values)}\n`;
  const body = { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", resources: [...resources] };
  return `${header(what)}${rendered}${stringify(body, { lineWidth: 0 })}`;
}

/**
 * Writes objects into files under dir, one per chart file that rendered them (templates/x/y.yaml → dir/x/y.yaml,
 * crds/z.yaml → dir/crds/z.yaml), and returns those files' paths relative to dir, sorted.
 */
function filesBySource(dir: string, objects: readonly SourcedObject[], files: Map<string, string>): string[] {
  const bySource = new Map<string, RenderedObject[]>();
  for (const { source, object } of objects) {
    bySource.set(source, [...(bySource.get(source) ?? []), withoutHelmLabels(object)]);
  }
  const names: string[] = [];
  for (const [source, rendered] of bySource) {
    const name = source.replace(/^templates\//, "");
    files.set(join(dir, name), `${header(`charts/topolvm/${source}`)}${yamlDocuments(rendered)}`);
    names.push(name);
  }
  return names.sort();
}

/** Whether list holds an object equal to object. */
function holds(list: readonly SourcedObject[], object: RenderedObject): boolean {
  return list.some((other) => isDeepStrictEqual(other.object, object));
}

/** Pure: the files of deploy/manifests (paths relative to it) from helm's renders. */
export function deployManifestFiles(renders: DeployRenders): Map<string, string> {
  const files = new Map<string, string>();
  const { "daemonset-scheduler": daemonset, "deployment-scheduler": deployment } = renders.overlays;
  // The extender's objects belong to its topology even where both render them alike (its ServiceAccount and RBAC).
  const common = daemonset.filter(({ source, object }) => !source.startsWith("templates/scheduler/") && holds(deployment, object));
  files.set("base/namespace.yaml", `${header("the release namespace; helm creates it with --create-namespace")}${yamlDocuments([namespaceObject])}`);
  const baseResources = ["namespace.yaml", ...filesBySource("base", common, files)];
  files.set(
    "base/kustomization.yaml",
    kustomization("what both overlays render alike; cert-manager's objects are in certificates.yaml, not listed here", baseResources),
  );
  const certificates = renders.certManager.filter(({ object }) => object.apiVersion.startsWith("cert-manager.io/"));
  files.set(
    "base/certificates.yaml",
    `${header("its cert-manager.io objects with webhook.certManager.enabled: true; optional, see deploy/README.md")}${yamlDocuments(
      certificates.map(({ object }) => withoutHelmLabels(object)),
    )}`,
  );
  for (const overlay of Object.keys(deployOverlays) as DeployOverlay[]) {
    const own = renders.overlays[overlay].filter((entry) => !common.includes(entry) && !holds(common, entry.object));
    const dir = join("overlays", overlay);
    const resources = ["../../base", ...filesBySource(dir, own, files)];
    files.set(join(dir, "kustomization.yaml"), kustomization(`the ${overlay} topology over the base`, resources, deployValues(overlay)));
  }
  return files;
}

/**
 * The kustomization of an operator's own overlay on the manual certificate path (the text deploy/README.md shows):
 * the overlay at `overlayPath` with the CA of the Secret `mutatingwebhook` as both webhooks' caBundle.
 */
export function manualCertificateKustomization(overlayPath: string, caBundle: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${overlayPath}
patches:
  - target:
      kind: MutatingWebhookConfiguration
      name: topolvm-hook
    patch: |-
      - op: replace
        path: /webhooks/0/clientConfig/caBundle
        value: ${caBundle}
      - op: replace
        path: /webhooks/1/clientConfig/caBundle
        value: ${caBundle}
`;
}

/**
 * The kustomization of an operator's own overlay that takes cert-manager's path instead of the manual one (the text
 * deploy/README.md shows): the overlay at `overlayPath`, a copy of base/certificates.yaml beside it, and a patch that
 * lets cert-manager's CA injector fill in the webhooks' caBundle.
 */
export function certManagerKustomization(overlayPath: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${overlayPath}
  - certificates.yaml
patches:
  - target:
      kind: MutatingWebhookConfiguration
      name: topolvm-hook
    patch: |-
      - op: add
        path: /metadata/annotations
        value:
          cert-manager.io/inject-ca-from: ${releaseNamespace}/topolvm-mutatingwebhook
      - op: remove
        path: /webhooks/0/clientConfig/caBundle
      - op: remove
        path: /webhooks/1/clientConfig/caBundle
`;
}

/** Renders deploy/manifests with helm: file paths relative to deploy/manifests and their contents. */
export async function renderDeployManifests(): Promise<Map<string, string>> {
  return deployManifestFiles(await renderDeploySources());
}

/** Every file under dir, relative to it; empty when dir does not exist. */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name))).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return [];
    }
    throw error;
  }
}

/** The differences between the files under dir and wanted: paths that are missing, changed or not wanted. */
export async function manifestDrift(wanted: ReadonlyMap<string, string>, dir: string = deployManifestsDir): Promise<string[]> {
  const present = await listFiles(dir);
  const drift: string[] = present.filter((file) => !wanted.has(file)).map((file) => `${file}: not rendered by the chart`);
  for (const [file, content] of wanted) {
    if (!present.includes(file)) {
      drift.push(`${file}: missing`);
    } else if ((await readFile(join(dir, file), "utf8")) !== content) {
      drift.push(`${file}: differs`);
    }
  }
  return drift.sort();
}

