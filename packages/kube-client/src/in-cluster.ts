import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KubeConfigError } from "./kube-config-error.js";
import type { KubeCredentials } from "./kube-credentials.js";

/** Where kubelet mounts a pod's service account token, CA and namespace. */
export const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface InClusterOptions {
  /** Default process.env: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default serviceAccountDir. */
  readonly serviceAccountDir?: string;
}

async function readMounted(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new KubeConfigError(`in-cluster: ${(error as Error).message}`);
  }
}

/** The pod's service account: the API server from the service environment, the mounted CA, token and namespace. */
export async function inClusterCredentials(options: InClusterOptions = {}): Promise<KubeCredentials> {
  const env = options.env ?? process.env;
  const dir = options.serviceAccountDir ?? serviceAccountDir;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new KubeConfigError("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  const ca = await readMounted(join(dir, "ca.crt"));
  const tokenPath = join(dir, "token");
  // Read once now so a missing token fails at start, not at the first request.
  await readMounted(tokenPath);
  const namespace = (await readFile(join(dir, "namespace"), "utf8").catch(() => "")).trim();
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    source: "in-cluster",
    ca,
    insecureSkipTlsVerify: false,
    token: async () => (await readMounted(tokenPath)).toString("utf8").trim(),
    ...(namespace === "" ? {} : { namespace }),
  };
}
