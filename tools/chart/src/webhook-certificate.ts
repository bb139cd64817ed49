// The hand-made certificate of the webhook's manual path (webhook.certManager.enabled: false), made with the same
// openssl commands deploy/README.md shows an operator: a self-signed CA and a serving certificate for
// controller.<namespace>.svc signed by it.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

import { releaseNamespace } from "./helm.js";

const execFileAsync = promisify(execFile);

/** The files of a webhook certificate and the chart's webhook.caBundle value for them. */
export interface WebhookCertificate {
  caCertFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  /** base64 of the CA's PEM: the value of webhook.caBundle. */
  caBundle: string;
}

/** The DNS name the API server calls the webhook by: the Service `controller` of the namespace. */
export function webhookDnsName(namespace: string = releaseNamespace): string {
  return `controller.${namespace}.svc`;
}

/** The openssl argv lists that make the CA (ca.crt, ca.key) and the serving pair (tls.crt, tls.key) in dir. */
export function webhookCertificateCommands(dir: string, namespace: string = releaseNamespace): string[][] {
  const dnsName = webhookDnsName(namespace);
  const file = (name: string): string => join(dir, name);
  return [
    // The CA: self-signed, allowed to sign certificates only.
    ["req", "-x509", "-new", "-noenc", "-newkey", "rsa:2048", "-days", "3650", "-subj", "/CN=topolvm-webhook-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      "-keyout", file("ca.key"), "-out", file("ca.crt")],
    // The serving certificate, signed by the CA, for the Service's name.
    ["req", "-x509", "-new", "-noenc", "-newkey", "rsa:2048", "-days", "365", "-subj", `/CN=${dnsName}`,
      "-CA", file("ca.crt"), "-CAkey", file("ca.key"),
      "-addext", `subjectAltName=DNS:${dnsName}`, "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature,keyEncipherment", "-addext", "extendedKeyUsage=serverAuth",
      "-keyout", file("tls.key"), "-out", file("tls.crt")],
  ];
}

/** Makes a webhook certificate in dir with openssl. */
export async function createWebhookCertificate(dir: string, namespace: string = releaseNamespace): Promise<WebhookCertificate> {
  for (const args of webhookCertificateCommands(dir, namespace)) {
    await execFileAsync("openssl", args, { timeout: 60_000 });
  }
  const caCertFile = join(dir, "ca.crt");
  return {
    caCertFile,
    caKeyFile: join(dir, "ca.key"),
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    caBundle: (await readFile(caCertFile)).toString("base64"),
  };
}
