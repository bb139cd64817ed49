import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { KubeConfigError } from "./kube-config-error.js";
import type { KubeCredentials } from "./kube-credentials.js";
import { inClusterCredentials } from "./in-cluster.js";
import { readKubeconfig } from "./kubeconfig.js";

export interface LoadCredentialsOptions {
  /** An explicit kubeconfig path (a `--kubeconfig` flag); it must exist. */
  readonly kubeconfig?: string;
  /** Default process.env: KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where `.kube/config` is looked for; default the user's home directory. */
  readonly homeDir?: string;
  /** Where the service account is mounted; default /var/run/secrets/kubernetes.io/serviceaccount. */
  readonly serviceAccountDir?: string;
}

/**
 * Finds credentials as kubectl does, less merging: the explicit kubeconfig, else the one file $KUBECONFIG names,
 * else ~/.kube/config if it exists, else the pod's service account.
 */
export async function loadKubeCredentials(options: LoadCredentialsOptions = {}): Promise<KubeCredentials> {
  if (options.kubeconfig !== undefined) {
    return readKubeconfig(options.kubeconfig);
  }
  const env = options.env ?? process.env;
  const listed = (env.KUBECONFIG ?? "").split(delimiter).filter((path) => path !== "");
  if (listed.length > 1) {
    throw new KubeConfigError(
      `KUBECONFIG names ${listed.length} files; merging kubeconfigs is not supported by @topolvm/kube-client: name one`,
    );
  }
  const [fromEnv] = listed;
  if (fromEnv !== undefined) {
    return readKubeconfig(fromEnv);
  }
  const home = join(options.homeDir ?? homedir(), ".kube", "config");
  if (existsSync(home)) {
    return readKubeconfig(home);
  }
  if ((env.KUBERNETES_SERVICE_HOST ?? "") === "") {
    throw new KubeConfigError(
      `no kubeconfig: none given, KUBECONFIG is unset, ${home} does not exist, and not in a cluster (KUBERNETES_SERVICE_HOST is unset)`,
    );
  }
  return inClusterCredentials({
    env,
    ...(options.serviceAccountDir === undefined ? {} : { serviceAccountDir: options.serviceAccountDir }),
  });
}
