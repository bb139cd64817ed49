// deploy/: the kustomize manifests are the chart's output (no drift), each overlay builds exactly what helm renders
// for its values, and the cert-manager overlay deploy/README.md shows builds what helm renders with cert-manager.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

import { parse, parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { missingBinaries } from "../../cluster/src/binaries.js";
import {
  certManagerKustomization,
  deployManifestsDir,
  deployOverlays,
  deployValues,
  helmOnlyLabels,
  manifestDrift,
  manualCertificateKustomization,
  namespaceObject,
  renderDeployManifests,
  repoRoot,
  withoutHelmLabels,
  type DeployOverlay,
} from "../src/deploy-manifests.js";
import { mergeValues } from "../src/combinations.js";
import { renderChart, type RenderedObject } from "../src/helm.js";
import { kubectl } from "../src/kubectl.js";
import { createWebhookCertificate } from "../src/webhook-certificate.js";

const missing = missingBinaries(["helm", "kubectl"]).map((name) => `${name} (run tools/ensure-deps)`);
const overlays = Object.keys(deployOverlays) as DeployOverlay[];

function key(object: RenderedObject): string {
  return `${object.kind}/${object.metadata.namespace ?? ""}/${object.metadata.name}`;
}

/** Objects in a stable order, for an object-for-object comparison. */
function sorted(objects: readonly RenderedObject[]): RenderedObject[] {
  return [...objects].sort((a, b) => key(a).localeCompare(key(b)));
}

function parseObjects(text: string): RenderedObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as RenderedObject | null)
    .filter((object): object is RenderedObject => object !== null);
}

/** What helm renders for values, as the manifests carry it: without helm's labels, with the Namespace. */
async function expectedObjects(values: Parameters<typeof renderChart>[0]): Promise<RenderedObject[]> {
  return sorted([namespaceObject, ...(await renderChart(values)).map(withoutHelmLabels)]);
}

const skip = missing.length > 0 && process.env.CI !== "true";

describe.skipIf(skip)(skip ? `deploy/manifests (skipped, missing: ${missing.join(", ")})` : "deploy/manifests", () => {
  let rendered: Map<string, string>;
  let workDir: string | undefined;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`missing: ${missing.join(", ")}`);
    }
    rendered = await renderDeployManifests();
    workDir = await mkdtemp(join(tmpdir(), "topolvm-deploy-"));
  });

  function work(): string {
    if (workDir === undefined) {
      throw new Error("no work directory");
    }
    return workDir;
  }

  afterAll(async () => {
    if (workDir !== undefined) {
      await rm(workDir, { recursive: true, force: true });
    }
  });

  it("is what tools/chart/render-deploy renders from the chart now", async () => {
    expect(await manifestDrift(rendered), "run tools/chart/render-deploy").toEqual([]);
  });

  it("keeps base/ free of scheduler objects and cert-manager's objects out of base/kustomization.yaml", () => {
    const base = [...rendered.keys()].filter((file) => file.startsWith("base/"));
    expect(base.filter((file) => file.includes("scheduler/"))).toEqual([]);
    const kustomization = parse(rendered.get("base/kustomization.yaml") ?? "") as { resources: string[] };
    expect(kustomization.resources).toContain("namespace.yaml");
    expect(kustomization.resources).not.toContain("certificates.yaml");
    expect(parseObjects(rendered.get("base/certificates.yaml") ?? "").map(key).sort()).toEqual([
      "Certificate/topolvm-system/topolvm-mutatingwebhook",
      "Certificate/topolvm-system/topolvm-webhook-ca",
      "Issuer/topolvm-system/topolvm-selfsign",
      "Issuer/topolvm-system/topolvm-webhook-ca",
    ]);
    for (const content of rendered.values()) {
      for (const label of helmOnlyLabels) {
        expect(content).not.toContain(`${label}:`);
      }
    }
  });

  it.each(overlays)("builds overlays/%s with kubectl kustomize into exactly what helm template renders", async (overlay) => {
    const built = parseObjects(await kubectl(["kustomize", join(deployManifestsDir, "overlays", overlay)]));
    const expected = await expectedObjects(deployValues(overlay));
    expect(sorted(built).map(key)).toEqual(expected.map(key));
    expect(sorted(built)).toEqual(expected);
  });

  it("builds the cert-manager overlay of deploy/README.md into what helm renders with cert-manager", async () => {
    const overlay = "daemonset-scheduler";
    await copyFile(join(deployManifestsDir, "base", "certificates.yaml"), join(work(), "certificates.yaml"));
    await writeFile(
      join(work(), "kustomization.yaml"),
      certManagerKustomization(relative(work(), join(deployManifestsDir, "overlays", overlay))),
    );
    const built = parseObjects(await kubectl(["kustomize", work()]));
    expect(sorted(built)).toEqual(await expectedObjects(deployValues(overlay, "cert-manager")));
  });

  it("builds the manual-certificate overlay of deploy/README.md into what helm renders with that caBundle", async () => {
    const overlay = "deployment-scheduler";
    const dir = join(work(), "manual");
    await mkdir(dir);
    const certificate = await createWebhookCertificate(dir);
    await writeFile(
      join(dir, "kustomization.yaml"),
      manualCertificateKustomization(relative(dir, join(deployManifestsDir, "overlays", overlay)), certificate.caBundle),
    );
    const built = parseObjects(await kubectl(["kustomize", dir]));
    const values = mergeValues(deployValues(overlay), { webhook: { caBundle: certificate.caBundle } });
    expect(sorted(built)).toEqual(await expectedObjects(values));
  });

  it("is explained by deploy/README.md, with the cert-manager overlay as the test builds it", async () => {
    const readme = await readFile(join(repoRoot, "deploy", "README.md"), "utf8");
    expect(readme).toContain(certManagerKustomization("../topolvm/deploy/manifests/overlays/daemonset-scheduler"));
    expect(readme).toContain(manualCertificateKustomization("../topolvm/deploy/manifests/overlays/daemonset-scheduler", "CA_BUNDLE"));
    for (const overlay of overlays) {
      expect(readme).toContain(`deploy/manifests/overlays/${overlay}`);
    }
    expect(readme).toContain("deploy/manifests/base/certificates.yaml");
  });
});
