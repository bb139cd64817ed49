import { readFile } from "node:fs/promises";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";

/** Thrown when a kubeconfig or the in-cluster environment cannot be used; the message names the field. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}

/** Thrown when the API server answers a request with an error status. */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/**
 * A connection to kube-apiserver: just GET with the credentials of a kubeconfig or a service account. The node cache
 * needs nothing more, and @kubernetes/client-node alone would add about 70 MB to an extender that idles below that.
 */
export interface KubeConnection {
  readonly server: string;
  /** GETs a path; resolves with the response once its status is 2xx, else rejects with KubeApiError. */
  get(path: string, options: { accept: string; signal?: AbortSignal }): Promise<IncomingMessage>;
  /** Closes idle keep-alive sockets. */
  close(): void;
}

interface Credentials {
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token, read anew for every request when it lives in a file (service account tokens rotate). */
  readonly token?: () => Promise<string>;
}

async function readText(response: IncomingMessage): Promise<string> {
  let text = "";
  response.setEncoding("utf8");
  for await (const chunk of response) {
    text += chunk as string;
  }
  return text;
}

function connect(credentials: Credentials): KubeConnection {
  const server = new URL(credentials.server);
  const secure = server.protocol === "https:";
  if (!secure && server.protocol !== "http:") {
    throw new KubeConfigError(`server ${JSON.stringify(credentials.server)} is not an http(s) URL`);
  }
  const agent = secure
    ? new HttpsAgent({
        keepAlive: true,
        ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
        ...(credentials.cert === undefined ? {} : { cert: credentials.cert }),
        ...(credentials.key === undefined ? {} : { key: credentials.key }),
        rejectUnauthorized: !credentials.insecureSkipTlsVerify,
      })
    : new HttpAgent({ keepAlive: true });
  const basePath = server.pathname.replace(/\/$/, "");
  return {
    server: credentials.server,
    async get(path, options) {
      const headers: Record<string, string> = { accept: options.accept };
      if (credentials.token !== undefined) {
        headers.authorization = `Bearer ${await credentials.token()}`;
      }
      const url = new URL(basePath + path, server);
      const response = await new Promise<IncomingMessage>((resolvePromise, reject) => {
        const request = (secure ? httpsRequest : httpRequest)(url, {
          agent,
          headers,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
        request.on("response", resolvePromise);
        request.on("error", reject);
        request.end();
      });
      const status = response.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const body = await readText(response).catch(() => "");
        let message = body;
        try {
          message = (JSON.parse(body) as { message?: string }).message ?? body;
        } catch {
          // Not a Status object: keep the text.
        }
        throw new KubeApiError(status, `GET ${url.pathname}: ${status} ${message.slice(0, 500)}`);
      }
      return response;
    },
    close() {
      agent.destroy();
    },
  };
}

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

/** Reads `<name>-data` (base64) or `<name>` (a file path, relative to the kubeconfig's directory). */
async function pemField(entry: Mapping, name: string, where: string, baseDir: string): Promise<Buffer | undefined> {
  const data = optionalString(entry, `${name}-data`, where);
  if (data !== undefined) {
    return Buffer.from(data, "base64");
  }
  const file = optionalString(entry, name, where);
  return file === undefined ? undefined : readFile(resolve(baseDir, file));
}

/**
 * Opens a connection with a kubeconfig file's current context: a client certificate or a bearer token (`token` or
 * `tokenFile`). Exec plugins, auth providers and basic auth are refused with an error naming the field.
 */
export async function connectWithKubeconfig(path: string): Promise<KubeConnection> {
  let config: unknown;
  try {
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
  const clusterName = optionalString(context, "cluster", `${path}: contexts[${contextName}].context`) ?? "";
  const userName = optionalString(context, "user", `${path}: contexts[${contextName}].context`) ?? "";
  const cluster = namedEntry(config, "clusters", clusterName, "cluster", path);
  const user = userName === "" ? {} : namedEntry(config, "users", userName, "user", path);
  const clusterWhere = `${path}: clusters[${clusterName}].cluster`;
  const userWhere = `${path}: users[${userName}].user`;
  for (const unsupported of ["exec", "auth-provider", "username", "password"]) {
    if (user[unsupported] !== undefined) {
      throw new KubeConfigError(
        `${userWhere}.${unsupported} is not supported by topolvm-scheduler; use a client certificate or a token`,
      );
    }
  }
  const server = optionalString(cluster, "server", clusterWhere);
  if (server === undefined) {
    throw new KubeConfigError(`${clusterWhere}.server is missing`);
  }
  const baseDir = dirname(path);
  const ca = await pemField(cluster, "certificate-authority", clusterWhere, baseDir);
  const cert = await pemField(user, "client-certificate", userWhere, baseDir);
  const key = await pemField(user, "client-key", userWhere, baseDir);
  const token = optionalString(user, "token", userWhere);
  const tokenFile = optionalString(user, "tokenFile", userWhere);
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  return connect({
    server,
    insecureSkipTlsVerify: insecure,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(token !== undefined
      ? { token: () => Promise.resolve(token) }
      : tokenFile !== undefined
        ? { token: async () => (await readFile(resolve(baseDir, tokenFile), "utf8")).trim() }
        : {}),
  });
}

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Opens a connection as the pod's service account (KUBERNETES_SERVICE_HOST/PORT, the mounted token and CA). */
export async function connectInCluster(environment: NodeJS.ProcessEnv = process.env): Promise<KubeConnection> {
  const host = environment.KUBERNETES_SERVICE_HOST;
  const port = environment.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new KubeConfigError("--in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  let ca: Buffer;
  try {
    ca = await readFile(`${serviceAccountDir}/ca.crt`);
  } catch (error) {
    throw new KubeConfigError(`--in-cluster: ${(error as Error).message}`);
  }
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return connect({
    server,
    ca,
    insecureSkipTlsVerify: false,
    token: async () => (await readFile(`${serviceAccountDir}/token`, "utf8")).trim(),
  });
}
