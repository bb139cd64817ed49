/** How many characters of the server's message an error message keeps: Status messages can quote whole objects. */
const maxServerMessageChars = 500;

/** Thrown when the API server answers with an error status, or ends a watch with an ERROR event. */
export class KubeApiError extends Error {
  /** HTTP status code (or the ERROR event's Status.code): 404, 409, 410, 422, ... */
  readonly status: number;
  /** The Status object's reason: "NotFound", "Conflict", "AlreadyExists", "Expired", "Invalid", ...; "" when none. */
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  /** The server's message, whole. */
  readonly serverMessage: string;

  constructor(options: { method: string; path: string; status: number; reason: string; serverMessage: string }) {
    const { method, path, status, reason, serverMessage } = options;
    const shown =
      serverMessage.length > maxServerMessageChars ? `${serverMessage.slice(0, maxServerMessageChars)}…` : serverMessage;
    super(`${method} ${path}: ${status}${reason === "" ? "" : ` ${reason}`}${shown === "" ? "" : `: ${shown}`}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
    this.serverMessage = serverMessage;
  }
}

/** Whether `error` is a KubeApiError, with this reason when one is given (`isKubeApiError(error, "NotFound")`). */
export function isKubeApiError(error: unknown, reason?: string): error is KubeApiError {
  return error instanceof KubeApiError && (reason === undefined || error.reason === reason);
}
