import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { defaultListen, parseListenAddress, parseSchedulerOptions } from "./scheduler-options.js";
import { capacityResourceName } from "@topolvm/proto/names";

const deployDir = fileURLToPath(new URL("../../../deploy/scheduler-config/", import.meta.url));

describe("deploy/scheduler-config", () => {
  it("ships a scheduler-options.yaml the extender accepts", async () => {
    const path = `${deployDir}scheduler-options.yaml`;
    const options = parseSchedulerOptions(await readFile(path, "utf8"), path);
    expect(options.listen.port).toBe(parseListenAddress(defaultListen).port);
  });

  it("points kube-scheduler at the extender's port, verbs and managed resource", async () => {
    const config = parse(await readFile(`${deployDir}scheduler-config.yaml`, "utf8")) as {
      apiVersion: string;
      kind: string;
      extenders: Record<string, unknown>[];
    };
    expect([config.apiVersion, config.kind]).toEqual(["kubescheduler.config.k8s.io/v1", "KubeSchedulerConfiguration"]);
    expect(config.extenders).toHaveLength(1);
    expect(config.extenders[0]).toMatchObject({
      urlPrefix: "http://127.0.0.1:9251",
      filterVerb: "predicate",
      prioritizeVerb: "prioritize",
      weight: 1,
      nodeCacheCapable: false,
      managedResources: [{ name: capacityResourceName, ignoredByScheduler: true }],
    });
  });

  it("mounts the configuration into kube-scheduler in the kubeadm example", async () => {
    const kubeadm = parse(await readFile(`${deployDir}kubeadm-config.yaml`, "utf8")) as {
      kind: string;
      scheduler: { extraArgs: { name: string; value: string }[]; extraVolumes: { mountPath: string }[] };
    };
    expect(kubeadm.kind).toBe("ClusterConfiguration");
    const configArg = kubeadm.scheduler.extraArgs.find((arg) => arg.name === "config");
    expect(configArg?.value).toBe(`${kubeadm.scheduler.extraVolumes[0]?.mountPath ?? ""}/scheduler-config.yaml`);
  });
});
