import type { JsonPatchOperation } from "./json-patch.js";
import {
  type JsonObject,
  ObjectShapeError,
  optionalString,
  requireObject,
  requireString,
} from "./object-shape.js";

/** The only AdmissionReview version served; the webhook configuration lists `admissionReviewVersions: [v1]`. */
export const admissionReviewApiVersion = "admission.k8s.io/v1";

/** Kind of the object under review, as in AdmissionRequest.kind. */
export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** The fields of an AdmissionRequest the hooks use. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: GroupVersionKind;
  readonly operation: string;
  /** The request's namespace; "" for cluster-scoped objects. Pods created from templates may lack their own. */
  readonly namespace: string;
  readonly object: unknown;
}

/** A hook's decision: allow with a (possibly empty) JSON patch, or deny with an HTTP-style code and a message. */
export type Admission =
  | { readonly allowed: true; readonly patch: readonly JsonPatchOperation[]; readonly reason: string }
  | { readonly allowed: false; readonly code: number; readonly message: string };

/**
 * The body is not an AdmissionReview v1 with a request uid, so no AdmissionReview can answer it: the HTTP layer
 * replies 400 with a Status body, which kube-apiserver quotes in its error.
 */
export class AdmissionReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AdmissionReviewError";
  }
}

/** An allowed admission without changes. */
export function allow(reason: string): Admission {
  return { allowed: true, patch: [], reason };
}

/** A denied admission. */
export function deny(code: number, message: string): Admission {
  return { allowed: false, code, message };
}

/**
 * Reads the AdmissionReview envelope: JSON, apiVersion admission.k8s.io/v1, kind AdmissionReview, a request with a
 * uid. Everything else about the request is read by readAdmissionRequest, whose errors can be answered by uid.
 */
export function parseAdmissionReview(body: string): { uid: string; request: JsonObject } {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (error) {
    throw new AdmissionReviewError(`body is not JSON: ${(error as Error).message}`);
  }
  try {
    const envelope = requireObject(review, "body");
    const apiVersion = requireString(envelope.apiVersion, "apiVersion");
    if (apiVersion !== admissionReviewApiVersion) {
      throw new AdmissionReviewError(
        `apiVersion ${JSON.stringify(apiVersion)} is not supported; only ${admissionReviewApiVersion} is`,
      );
    }
    const kind = requireString(envelope.kind, "kind");
    if (kind !== "AdmissionReview") {
      throw new AdmissionReviewError(`kind ${JSON.stringify(kind)} is not AdmissionReview`);
    }
    const request = requireObject(envelope.request, "request");
    const uid = requireString(request.uid, "request.uid");
    if (uid === "") {
      throw new AdmissionReviewError("request.uid is empty");
    }
    return { uid, request };
  } catch (error) {
    if (error instanceof ObjectShapeError) {
      throw new AdmissionReviewError(error.message);
    }
    throw error;
  }
}

/** The request fields the hooks need; an ObjectShapeError names a missing or mistyped one. */
export function readAdmissionRequest(uid: string, request: JsonObject): AdmissionRequest {
  const kind = requireObject(request.kind, "request.kind");
  return {
    uid,
    kind: {
      group: requireString(kind.group, "request.kind.group"),
      version: requireString(kind.version, "request.kind.version"),
      kind: requireString(kind.kind, "request.kind.kind"),
    },
    operation: requireString(request.operation, "request.operation"),
    namespace: optionalString(request.namespace, "request.namespace") ?? "",
    object: requireObject(request.object, "request.object"),
  };
}

/** The AdmissionReview v1 answering request uid with the admission. */
export function admissionReviewResponse(uid: string, admission: Admission): JsonObject {
  const response = admission.allowed
    ? {
        uid,
        allowed: true,
        ...(admission.patch.length > 0
          ? { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(admission.patch)).toString("base64") }
          : {}),
      }
    : { uid, allowed: false, status: { status: "Failure", code: admission.code, message: admission.message } };
  return { apiVersion: admissionReviewApiVersion, kind: "AdmissionReview", response };
}

/** A metav1.Status body for an HTTP error; kube-apiserver decodes it and shows the message. */
export function statusBody(code: number, reason: string, message: string): JsonObject {
  return { apiVersion: "v1", kind: "Status", metadata: {}, status: "Failure", message, reason, code };
}
