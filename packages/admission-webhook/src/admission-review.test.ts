import { describe, expect, it } from "vitest";
import {
  AdmissionReviewError,
  admissionReviewResponse,
  parseAdmissionReview,
  readAdmissionRequest,
  statusBody,
} from "./admission-review.js";
import { ObjectShapeError } from "./object-shape.js";

const review = (request: unknown, apiVersion = "admission.k8s.io/v1", kind = "AdmissionReview") =>
  JSON.stringify({ apiVersion, kind, request });

const podRequest = {
  uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
  kind: { group: "", version: "v1", kind: "Pod" },
  resource: { group: "", version: "v1", resource: "pods" },
  operation: "CREATE",
  namespace: "app",
  object: { metadata: { name: "web" } },
};

describe("parseAdmissionReview", () => {
  it("returns the uid and the request of a v1 review", () => {
    expect(parseAdmissionReview(review(podRequest))).toEqual({ uid: podRequest.uid, request: podRequest });
  });

  it.each([
    ["{", /^body is not JSON: /],
    ["[]", /^body: expected an object, got an array$/],
    ["null", /^body: expected an object, got null$/],
    [review(podRequest, "admission.k8s.io/v1beta1"), /^apiVersion "admission.k8s.io\/v1beta1" is not supported; only admission.k8s.io\/v1 is$/],
    [JSON.stringify({ kind: "AdmissionReview", request: podRequest }), /^apiVersion: expected a string, got nothing$/],
    [review(podRequest, "admission.k8s.io/v1", "Pod"), /^kind "Pod" is not AdmissionReview$/],
    [review(undefined), /^request: expected an object, got nothing$/],
    [review({ ...podRequest, uid: undefined }), /^request\.uid: expected a string, got nothing$/],
    [review({ ...podRequest, uid: 42 }), /^request\.uid: expected a string, got number 42$/],
    [review({ ...podRequest, uid: "" }), /^request\.uid is empty$/],
  ])("rejects %j with a clear message", (body, message) => {
    expect(() => parseAdmissionReview(body)).toThrow(AdmissionReviewError);
    expect(() => parseAdmissionReview(body)).toThrow(message);
  });
});

describe("readAdmissionRequest", () => {
  it("reads kind, operation, namespace and object", () => {
    expect(readAdmissionRequest("u", podRequest)).toEqual({
      uid: "u",
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "app",
      object: podRequest.object,
    });
  });

  it("treats a missing namespace as the empty one", () => {
    expect(readAdmissionRequest("u", { ...podRequest, namespace: undefined }).namespace).toBe("");
  });

  it.each([
    [{ ...podRequest, object: undefined }, "request.object: expected an object, got nothing"],
    [{ ...podRequest, object: "pod" }, 'request.object: expected an object, got string "pod"'],
    [{ ...podRequest, kind: { group: "", version: "v1" } }, "request.kind.kind: expected a string, got nothing"],
    [{ ...podRequest, operation: 1 }, "request.operation: expected a string, got number 1"],
  ])("names the bad field of %j", (request, message) => {
    expect(() => readAdmissionRequest("u", request)).toThrow(ObjectShapeError);
    expect(() => readAdmissionRequest("u", request)).toThrow(message);
  });
});

describe("admissionReviewResponse", () => {
  it("answers an allowed admission with a base64 JSONPatch", () => {
    const patch = [{ op: "add" as const, path: "/metadata/finalizers", value: ["topolvm.cybozu.com/pvc"] }];
    const body = admissionReviewResponse("u1", { allowed: true, patch, reason: "" });
    expect(body).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "u1", allowed: true, patchType: "JSONPatch", patch: expect.any(String) as unknown },
    });
    const encoded = (body.response as { patch: string }).patch;
    expect(JSON.parse(Buffer.from(encoded, "base64").toString("utf8"))).toEqual(patch);
  });

  it("omits patchType and patch when nothing changes", () => {
    expect(admissionReviewResponse("u1", { allowed: true, patch: [], reason: "no volumes" }).response).toEqual({
      uid: "u1",
      allowed: true,
    });
  });

  it("carries the code and message of a denial in status", () => {
    expect(admissionReviewResponse("u1", { allowed: false, code: 400, message: "bad" }).response).toEqual({
      uid: "u1",
      allowed: false,
      status: { status: "Failure", code: 400, message: "bad" },
    });
  });
});

describe("statusBody", () => {
  it("is a metav1.Status", () => {
    expect(statusBody(400, "BadRequest", "nope")).toEqual({
      apiVersion: "v1",
      kind: "Status",
      metadata: {},
      status: "Failure",
      message: "nope",
      reason: "BadRequest",
      code: 400,
    });
  });
});
