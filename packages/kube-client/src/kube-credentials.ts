/** What a connection to kube-apiserver authenticates with, read from a kubeconfig or the pod's service account. */
export interface KubeCredentials {
  /** The API server's URL; a path in it (`https://host/prefix`) prefixes every request path. */
  readonly server: string;
  /** Trusted CA certificates (PEM); without them the system's CAs are trusted. */
  readonly ca?: Buffer;
  /** Client certificate and key (PEM). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** The name to verify the server's certificate against instead of the URL's host. */
  readonly tlsServerName?: string;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token; a token file is read again for every request (service account tokens rotate). */
  readonly token?: () => Promise<string>;
  /** The context's namespace, or the service account's. */
  readonly namespace?: string;
  /** Where the credentials came from, for logs: the kubeconfig's path or "in-cluster". */
  readonly source: string;
}
