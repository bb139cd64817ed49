import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { KubeConfigError } from "./kube-config-error.js";
import type { KubeCredentials } from "./kube-credentials.js";

type Mapping = Readonly<Record<string, unknown>>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function namedEntry(config: Mapping, list: string, name: string, field: string, source: string): Mapping {
  const entries = config[list];
  const entry = Array.isArray(entries)
    ? (entries as unknown[]).find((item) => isMapping(item) && item.name === name)
    : undefined;
  const body = isMapping(entry) ? entry[field] : undefined;
  if (!isMapping(body)) {
    throw new KubeConfigError(`${source}: ${list} has no entry named ${JSON.stringify(name)} with a ${field}`);
  }
  return body;
}

function optionalString(entry: Mapping, key: string, where: string): string | undefined {
  const value = entry[key];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "string" || value === "") {
    throw new KubeConfigError(`${where}.${key} must be a non-empty string`);
  }
  return value;
}

async function readField(path: string, where: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new KubeConfigError(`${where}: ${(error as Error).message}`);
  }
}

/** Reads `<name>-data` (base64) or `<name>` (a file path, relative to the kubeconfig's directory). */
async function pemField(entry: Mapping, name: string, where: string, baseDir: string): Promise<Buffer | undefined> {
  const data = optionalString(entry, `${name}-data`, where);
  if (data !== undefined) {
    return Buffer.from(data, "base64");
  }
  const file = optionalString(entry, name, where);
  return file === undefined ? undefined : readField(resolve(baseDir, file), `${where}.${name}`);
}

/** Fields of a kubeconfig that need code this client does not run (plugins, proxies) or credentials it will not send. */
const refusedUserFields = ["exec", "auth-provider", "username", "password", "as", "as-groups", "as-uid"];
const refusedClusterFields = ["proxy-url"];

/**
 * Reads the current context of a kubeconfig file: the server, its CA (or `insecure-skip-tls-verify`), and a client
 * certificate or a bearer token (`token`, or `tokenFile` read for every request). Exec plugins, auth providers, basic
 * auth, impersonation and proxies are refused with an error naming the field.
 */
export async function readKubeconfig(path: string): Promise<KubeCredentials> {
  let config: unknown;
  try {
    // Loaded here, not at import: the YAML parser is about 9 MB of RSS that in-cluster processes never need.
    const { parse } = await import("yaml");
    config = parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new KubeConfigError(`${path}: ${(error as Error).message}`);
  }
  if (!isMapping(config)) {
    throw new KubeConfigError(`${path}: not a kubeconfig mapping`);
  }
  const contextName = config["current-context"];
  if (typeof contextName !== "string" || contextName === "") {
    throw new KubeConfigError(`${path}: current-context is not set`);
  }
  const context = namedEntry(config, "contexts", contextName, "context", path);
  const contextWhere = `${path}: contexts[${contextName}].context`;
  const clusterName = optionalString(context, "cluster", contextWhere) ?? "";
  const userName = optionalString(context, "user", contextWhere);
  const namespace = optionalString(context, "namespace", contextWhere);
  const cluster = namedEntry(config, "clusters", clusterName, "cluster", path);
  const user = userName === undefined ? {} : namedEntry(config, "users", userName, "user", path);
  const clusterWhere = `${path}: clusters[${clusterName}].cluster`;
  const userWhere = `${path}: users[${userName ?? ""}].user`;
  for (const [entry, where, fields] of [
    [user, userWhere, refusedUserFields],
    [cluster, clusterWhere, refusedClusterFields],
  ] as const) {
    for (const field of fields) {
      if (entry[field] !== undefined) {
        throw new KubeConfigError(
          `${where}.${field} is not supported by @topolvm/kube-client; use a client certificate or a token`,
        );
      }
    }
  }
  const server = optionalString(cluster, "server", clusterWhere);
  if (server === undefined) {
    throw new KubeConfigError(`${clusterWhere}.server is missing`);
  }
  const insecure = cluster["insecure-skip-tls-verify"];
  if (insecure !== undefined && typeof insecure !== "boolean") {
    throw new KubeConfigError(`${clusterWhere}.insecure-skip-tls-verify must be true or false`);
  }
  const baseDir = dirname(path);
  const ca = await pemField(cluster, "certificate-authority", clusterWhere, baseDir);
  const cert = await pemField(user, "client-certificate", userWhere, baseDir);
  const key = await pemField(user, "client-key", userWhere, baseDir);
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeConfigError(`${userWhere}: client-certificate and client-key must be given together`);
  }
  const tlsServerName = optionalString(cluster, "tls-server-name", clusterWhere);
  const token = optionalString(user, "token", userWhere);
  const tokenFile = optionalString(user, "tokenFile", userWhere);
  const tokenPath = tokenFile === undefined ? undefined : resolve(baseDir, tokenFile);
  return {
    server,
    source: path,
    insecureSkipTlsVerify: insecure === true,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(tlsServerName === undefined ? {} : { tlsServerName }),
    ...(namespace === undefined ? {} : { namespace }),
    ...(token !== undefined
      ? { token: () => Promise.resolve(token) }
      : tokenPath !== undefined
        ? { token: async () => (await readField(tokenPath, `${userWhere}.tokenFile`)).toString("utf8").trim() }
        : {}),
  };
}
