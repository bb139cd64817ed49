/** Thrown when a kubeconfig or the in-cluster environment cannot be used; the message names the file and field. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}
