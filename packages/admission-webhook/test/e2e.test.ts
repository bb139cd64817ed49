// End to end on the local cluster (tools/cluster): a real kube-apiserver calls topolvm-webhook through a
// MutatingWebhookConfiguration, as it will in production, with the failure policies the README decides.
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterPrerequisitesMissing } from "../../../tools/cluster/src/index.js";
import { maxFallbackReadsPerReview } from "../src/cluster-cache.js";
import {
  claimManifest as claim,
  claimVolume,
  type HookedCluster,
  podManifest as pod,
  startHookedCluster,
  storageClassName,
} from "./support/hooked-cluster.js";

const missing = clusterPrerequisitesMissing();
const mustRun = process.env.CI === "true";

const appNamespace = "e2e-app";
const ignoredNamespace = "e2e-ignored";
const gi = 1024 ** 3;

/** The Status kube-apiserver refused a request with. */
async function rejectionOf(creation: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error: unknown = await creation.then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(ApiException);
  return JSON.parse((error as ApiException<string>).body) as { code: number; message: string };
}

describe.skipIf(missing.length > 0 && !mustRun)("topolvm-webhook on the local cluster", () => {
  let hooked: HookedCluster | undefined;

  beforeAll(async () => {
    if (missing.length > 0) {
      throw new Error(`the local cluster cannot start here: ${missing.join("; ")}`);
    }
    hooked = await startHookedCluster({ hooked: appNamespace, ignored: ignoredNamespace });
  });

  afterAll(async () => {
    await hooked?.stop();
  });

  const objects = () => {
    if (hooked === undefined) {
      throw new Error("the hooked cluster did not start");
    }
    return hooked.objects;
  };

  it("adds the finalizer to a PVC of the TopoLVM StorageClass", async () => {
    const created = await objects().create(claim(appNamespace, "data", "10Gi"));
    expect(created.metadata.finalizers).toContain("topolvm.cybozu.com/pvc");
  });

  it("annotates a pod with unbound TopoLVM claims and requests the capacity resource", async () => {
    await objects().create(claim(appNamespace, "logs", "512Mi"));
    const created = await objects().create(
      pod(appNamespace, "web", [
        claimVolume("data"),
        claimVolume("logs"),
        {
          name: "scratch",
          ephemeral: {
            volumeClaimTemplate: {
              spec: { accessModes: ["ReadWriteOnce"], storageClassName, resources: { requests: { storage: "1Gi" } } },
            },
          },
        },
      ]),
    );
    expect(created.metadata.annotations?.["capacity.topolvm.cybozu.com/ssd"]).toBe(String(10 * gi + gi / 2 + gi));
    expect(created.spec.containers[0]?.resources).toEqual({
      requests: { "topolvm.cybozu.com/capacity": "1" },
      limits: { "topolvm.cybozu.com/capacity": "1" },
    });
  });

  it("leaves PVCs and pods in ignored namespaces alone", async () => {
    const createdClaim = await objects().create(claim(ignoredNamespace, "data", "10Gi"));
    expect(createdClaim.metadata.finalizers ?? []).not.toContain("topolvm.cybozu.com/pvc");
    const createdPod = await objects().create(pod(ignoredNamespace, "web", [claimVolume("data")]));
    expect(createdPod.metadata.annotations?.["capacity.topolvm.cybozu.com/ssd"]).toBeUndefined();
    expect(createdPod.spec.containers[0]?.resources?.requests?.["topolvm.cybozu.com/capacity"]).toBeUndefined();
  });

  it("refuses a pod naming more claims missing from the cache than one review reads, as the hook's 503", async () => {
    const volumes = Array.from({ length: maxFallbackReadsPerReview + 1 }, (_, i) => claimVolume(`missing-${i}`));
    const status = await rejectionOf(objects().create(pod(appNamespace, "many-missing", volumes)));
    expect(status.message).toMatch(/^Internal error occurred: failed calling webhook "pod-hook\.topolvm\.cybozu\.com": /);
    expect(status.message).toContain(`more than ${maxFallbackReadsPerReview} objects the review reads are missing from the cache`);
  });

  it("lets kube-apiserver's validation refuse an empty claimName: the hook skips it", async () => {
    const status = await rejectionOf(objects().create(pod(appNamespace, "empty-claim", [{ name: "data", persistentVolumeClaim: { claimName: "" } }])));
    expect(status.code).toBe(422);
    expect(status.message).toContain("spec.volumes[0].persistentVolumeClaim.claimName: Required value");
  });

  describe("with the webhook stopped", () => {
    beforeAll(async () => {
      expect(await hooked?.webhook.stop("SIGTERM")).toBe(0);
    });

    it("still admits pods in ignored namespaces", async () => {
      const created = await objects().create(pod(ignoredNamespace, "after-stop", [claimVolume("data")]));
      expect(created.metadata.name).toBe("after-stop");
    });

    it("still admits pods without claims anywhere (matchConditions)", async () => {
      const created = await objects().create(pod(appNamespace, "no-claims", [{ name: "tmp", emptyDir: {} }]));
      expect(created.metadata.name).toBe("no-claims");
    });

    it("still admits PVCs, without the finalizer (failurePolicy Ignore)", async () => {
      const created = await objects().create(claim(appNamespace, "after-stop", "1Gi"));
      expect(created.metadata.finalizers ?? []).not.toContain("topolvm.cybozu.com/pvc");
    });

    it("rejects pods with TopoLVM claims elsewhere (failurePolicy Fail)", async () => {
      const status = await rejectionOf(objects().create(pod(appNamespace, "blocked", [claimVolume("data")])));
      expect(status.code).toBe(500);
      expect(status.message).toMatch(/^Internal error occurred: failed calling webhook "pod-hook\.topolvm\.cybozu\.com": /);
    });
  });
});
