import { CoreV1Api, KubernetesObjectApi } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";

import { eventually, until } from "../../eventually.js";
import { pauseImage, startVmCluster, vmClusterPrerequisitesMissing } from "../src/index.js";

const missing = vmClusterPrerequisitesMissing();

// Under CI=true a missing prerequisite fails the test (startVmCluster names it) instead of skipping it.
describe.skipIf(missing.length > 0 && process.env.CI !== "true")("a real node in the VM", () => {
  it("registers its Node, becomes Ready and runs a pod with the pause image", async () => {
    const started = Date.now();
    const seconds = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const log = (line: string): void => {
      process.stderr.write(`[${seconds()}] ${line}\n`);
    };
    const cluster = await startVmCluster({ onProgress: log });
    let stopped = false;
    try {
      const core = cluster.kubeConfig.makeApiClient(CoreV1Api);
      const vmEnded = cluster.vm.then((result) => `the VM stopped early (exit ${result.exitCode}):\n${result.stderr}`);
      let vmFailure: string | undefined;
      void vmEnded.then((reason) => (vmFailure = reason));
      const ready = async (): Promise<boolean> => {
        if (vmFailure !== undefined) throw new Error(vmFailure);
        try {
          const node = await core.readNode({ name: cluster.nodeName });
          return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
        } catch {
          return false;
        }
      };
      await until(`node ${cluster.nodeName} Ready`, ready, 600_000);
      log(`node ${cluster.nodeName} is Ready`);

      const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "pause", namespace: "default" },
        spec: {
          automountServiceAccountToken: false,
          containers: [{ name: "pause", image: pauseImage, imagePullPolicy: "Never" }],
        },
      };
      // The namespace's default ServiceAccount, which admission waits for, comes from kube-controller-manager.
      await eventually("the pod created", async () => {
        try {
          return await objects.create(pod);
        } catch {
          return undefined;
        }
      });
      const running = await eventually(
        "the pod Running",
        async () => {
          if (vmFailure !== undefined) throw new Error(vmFailure);
          const current = await core.readNamespacedPod({ name: "pause", namespace: "default" });
          return current.status?.phase === "Running" ? current : undefined;
        },
        300_000,
      );
      log(`pod pause is Running on ${running.spec?.nodeName ?? "?"} at ${running.status?.podIP ?? "?"}`);
      expect(running.spec?.nodeName).toBe(cluster.nodeName);
      expect(running.status?.podIP).toMatch(/^10\.88\./);

      const result = await cluster.stop();
      stopped = true;
      log("stopped");
      expect(result.stdout).toContain("kubelet, the containers and containerd stopped");
      expect(result.exitCode).toBe(0);
    } finally {
      if (!stopped) await cluster.stop();
    }
  }, 1_200_000);
});
