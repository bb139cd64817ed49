// The value combinations the chart is tested with: each scheduling topology × each certificate path × lvmd as the
// chart's DaemonSet or as a systemd service (deploy/README.md describes each choice).
import type { ChartValues } from "./helm.js";

/** How pods find nodes with space: the extender as a DaemonSet or a Deployment, or Storage Capacity Tracking. */
export type SchedulerTopology = "daemonset" | "deployment" | "capacity-tracking";
/** Where the webhook's serving certificate comes from. */
export type CertificatePath = "cert-manager" | "manual";

export const schedulerTopologies: readonly SchedulerTopology[] = ["daemonset", "deployment", "capacity-tracking"];
export const certificatePaths: readonly CertificatePath[] = ["cert-manager", "manual"];

export interface ChartCombination {
  /** e.g. "daemonset scheduler, cert-manager, managed lvmd". */
  name: string;
  scheduler: SchedulerTopology;
  certificate: CertificatePath;
  lvmdManaged: boolean;
  values: ChartValues;
}

/** The values selecting a scheduling topology. */
export function schedulerValues(topology: SchedulerTopology): ChartValues {
  return topology === "capacity-tracking"
    ? { scheduler: { enabled: false }, controller: { storageCapacityTracking: { enabled: true } } }
    : { scheduler: { enabled: true, type: topology } };
}

/** The values selecting a certificate path; the manual one needs the base64 PEM of the CA. */
export function certificateValues(path: CertificatePath, caBundle: string): ChartValues {
  return path === "cert-manager"
    ? { webhook: { certManager: { enabled: true } } }
    : { webhook: { certManager: { enabled: false }, caBundle } };
}

/** Merges values files as helm does for maps (later wins; lists and scalars are replaced). */
export function mergeValues(...layers: ChartValues[]): ChartValues {
  const merged: ChartValues = {};
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) {
      const current = merged[key];
      merged[key] = isMap(current) && isMap(value) ? mergeValues(current, value) : value;
    }
  }
  return merged;
}

function isMap(value: unknown): value is ChartValues {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** All 12 combinations, with caBundle as the manual path's CA. */
export function chartCombinations(caBundle: string): ChartCombination[] {
  return schedulerTopologies.flatMap((scheduler) =>
    certificatePaths.flatMap((certificate) =>
      [true, false].map((lvmdManaged) => ({
        name: `${scheduler === "capacity-tracking" ? "capacity tracking" : `${scheduler} scheduler`}, ${certificate}, ${lvmdManaged ? "managed lvmd" : "systemd lvmd"}`,
        scheduler,
        certificate,
        lvmdManaged,
        values: mergeValues(
          schedulerValues(scheduler),
          certificateValues(certificate, caBundle),
          { lvmd: { managed: lvmdManaged } },
        ),
      })),
    ),
  );
}
