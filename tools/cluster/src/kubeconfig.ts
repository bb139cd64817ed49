import { readFile, writeFile } from "node:fs/promises";

import type { CertificatePaths } from "./pki.js";

/** What a kubeconfig file needs: where the server is, which CA to trust and which client certificate to present. */
export interface KubeconfigSpec {
  serverUrl: string;
  caCertFile: string;
  client: CertificatePaths;
  /** Names the cluster, user and context inside the file. */
  userName: string;
}

/**
 * Writes a self-contained kubeconfig (certificates embedded, so it can be copied anywhere). It is JSON, which every
 * kubeconfig reader accepts since YAML is a superset of it.
 */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  const base64 = async (file: string): Promise<string> => (await readFile(file)).toString("base64");
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "topolvm-local",
        cluster: { server: spec.serverUrl, "certificate-authority-data": await base64(spec.caCertFile) },
      },
    ],
    users: [
      {
        name: spec.userName,
        user: {
          "client-certificate-data": await base64(spec.client.certFile),
          "client-key-data": await base64(spec.client.keyFile),
        },
      },
    ],
    contexts: [{ name: spec.userName, context: { cluster: "topolvm-local", user: spec.userName } }],
    "current-context": spec.userName,
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
