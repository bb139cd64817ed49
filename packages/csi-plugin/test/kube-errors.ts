import { KubeApiError } from "@topolvm/kube-client";

const reasons: Readonly<Record<number, string>> = {
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  500: "InternalError",
};

/** The error kube-client throws when the API server answers `method path` with `status` (reason derived from it unless given). */
export function kubeApiError(method: string, path: string, status: number, serverMessage = "", reason = reasons[status] ?? ""): KubeApiError {
  return new KubeApiError({ method, path, status, reason, serverMessage });
}
