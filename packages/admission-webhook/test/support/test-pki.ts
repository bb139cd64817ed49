import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A test certificate authority made with openssl, able to issue serving certificates. */
export interface TestPki {
  readonly caCertPath: string;
  readonly caCert: Buffer;
  /** Issues a serving certificate for 127.0.0.1/localhost; returns PEM cert and key and the cert's fingerprint. */
  issueServing(name: string): ServingPair;
}

/** A serving certificate and its key, as PEM. */
export interface ServingPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly fingerprint256: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** Creates a CA (EC P-256, valid one day) in dir with openssl. */
export function createTestPki(dir: string): TestPki {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=topolvm-test-ca"], dir);
  writeFileSync(
    join(dir, "serving.ext"),
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      // kube-apiserver verifies webhook certificates by SAN only.
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "",
    ].join("\n"),
  );
  const caCertPath = join(dir, "ca.crt");
  return {
    caCertPath,
    caCert: readFileSync(caCertPath),
    issueServing(name) {
      openssl(["req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
      openssl(
        [
          "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-days", "1",
          "-set_serial", `0x${createHash("sha256").update(name).digest("hex").slice(0, 16)}`,
          "-extfile", "serving.ext", "-out", `${name}.crt`,
        ],
        dir,
      );
      const cert = readFileSync(join(dir, `${name}.crt`));
      return { cert, key: readFileSync(join(dir, `${name}.key`)), fingerprint256: new X509Certificate(cert).fingerprint256 };
    },
  };
}
