/**
 * The MutatingWebhookConfiguration `topolvm-hook` as the README decides it (pod hook Fail with matchConditions, PVC
 * hook Ignore, namespaces labelled `topolvm.cybozu.com/webhook: ignore` skipped), pointing at a webhook on
 * 127.0.0.1 by URL since the local cluster has no Services.
 */
export function webhookConfiguration(port: number, caBundle: string) {
  const namespaceSelector = {
    matchExpressions: [{ key: "topolvm.cybozu.com/webhook", operator: "NotIn", values: ["ignore"] }],
  };
  const common = { admissionReviewVersions: ["v1"], sideEffects: "None", matchPolicy: "Equivalent", timeoutSeconds: 10, namespaceSelector };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "topolvm-hook" },
    webhooks: [
      {
        ...common,
        name: "pod-hook.topolvm.cybozu.com",
        failurePolicy: "Fail",
        clientConfig: { url: `https://127.0.0.1:${port}/pod/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"] }],
        matchConditions: [
          {
            name: "has-claims",
            expression: "has(object.spec.volumes) && object.spec.volumes.exists(v, has(v.persistentVolumeClaim) || has(v.ephemeral))",
          },
        ],
      },
      {
        ...common,
        name: "pvc-hook.topolvm.cybozu.com",
        failurePolicy: "Ignore",
        clientConfig: { url: `https://127.0.0.1:${port}/pvc/mutate`, caBundle },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["persistentvolumeclaims"] }],
      },
    ],
  };
}
