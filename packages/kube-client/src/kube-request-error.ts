/**
 * Thrown when a request got no usable answer: the server was unreachable, did not answer in time, or sent a body that
 * is too large or not JSON. The cause, when there is one, is the underlying error (with its `code`, e.g.
 * ECONNREFUSED).
 */
export class KubeRequestError extends Error {
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, message: string, options?: { cause: unknown }) {
    super(`${method} ${path}: ${message}`, options);
    this.name = "KubeRequestError";
    this.method = method;
    this.path = path;
  }
}
