import { performance } from "node:perf_hooks";
import {
  claimManifest,
  claimVolume,
  podManifest,
  startHookedCluster,
} from "../../packages/admission-webhook/test/support/hooked-cluster.js";
import { percentile } from "../support/stats.js";

// What the pod hook adds to creating a pod through a real kube-apiserver (tools/cluster): pods with a TopoLVM PVC
// created one at a time, alternating between a namespace the hook sees and one labelled to be ignored, same
// manifests otherwise. Reports both latency distributions, the difference of the medians, and the webhook's own
// mean time per admission from its histogram.
// Run as root after `npx nx build admission-webhook`: node --import tsx bench/admission-webhook/cluster-overhead.ts [pods]

const [pods = 200] = process.argv.slice(2).map(Number);
const namespaces = { hooked: "bench-hooked", ignored: "bench-ignored" };

const hooked = await startHookedCluster(namespaces);
try {
  const { objects, webhook } = hooked;
  for (const namespace of Object.values(namespaces)) {
    await objects.create(claimManifest(namespace, "data", "10Gi"));
  }
  const latencies: Record<string, number[]> = { hooked: [], ignored: [] };
  for (let i = 0; i < pods + 10; i++) {
    for (const [side, namespace] of Object.entries(namespaces)) {
      const t0 = performance.now();
      const created = await objects.create(podManifest(namespace, `pod-${i}`, [claimVolume("data")]));
      const ms = performance.now() - t0;
      const annotated = created.metadata.annotations?.["capacity.topolvm.cybozu.com/ssd"] !== undefined;
      if (annotated !== (side === "hooked")) {
        throw new Error(`pod ${namespace}/pod-${i} was ${annotated ? "" : "not "}mutated`);
      }
      // The first pods warm up connections and caches on both sides.
      if (i >= 10) latencies[side]?.push(ms);
    }
  }
  const medians: Record<string, number> = {};
  for (const [side, values] of Object.entries(latencies)) {
    values.sort((a, b) => a - b);
    medians[side] = percentile(values, 50);
    console.log(
      `${side}: ${values.length} pods, p50 ${percentile(values, 50).toFixed(2)} ms, p90 ${percentile(values, 90).toFixed(2)} ms, ` +
        `p99 ${percentile(values, 99).toFixed(2)} ms`,
    );
  }
  console.log(`pod hook adds ${((medians.hooked ?? 0) - (medians.ignored ?? 0)).toFixed(2)} ms to the median pod creation`);
  const metrics = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
  const sum = Number(/topolvm_webhook_request_duration_seconds_sum\{hook="pod"\} (\S+)/.exec(metrics)?.[1]);
  const count = Number(/topolvm_webhook_request_duration_seconds_count\{hook="pod"\} (\S+)/.exec(metrics)?.[1]);
  console.log(`webhook-side time per pod admission: mean ${((sum / count) * 1000).toFixed(3)} ms over ${count} admissions`);
} finally {
  await hooked.stop();
}
