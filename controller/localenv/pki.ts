// Certificates for the local control plane, made with the openssl CLI (Node cannot issue X.509).
// One CA signs the apiserver's serving certificate and the admin client certificate, as envtest does.
// `llmops up` keeps them in its state directory (ensurePki): the service-account signing key and
// the CA must outlive a restart, or tokens and kubeconfigs from the last run stop working.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  /** Service-account token signing key (private) — the apiserver verifies with the same file. */
  serviceAccountKey: string;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args);
  } catch (err: unknown) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed: ${stderr.trim()}`, {
      cause: err,
    });
  }
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** How long certificates are valid; ensurePki renews them a week before they run out. */
const validityDays = 365;

async function issue(
  pki: Pick<Pki, "dir" | "caCert" | "caKey">,
  name: string,
  subject: string,
  extensions: string,
): Promise<{ cert: string; key: string }> {
  const key = join(pki.dir, `${name}.key`);
  const csr = join(pki.dir, `${name}.csr`);
  const cert = join(pki.dir, `${name}.crt`);
  const ext = join(pki.dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await openssl(["req", "-new", ...ecKey, "-keyout", key, "-out", csr, "-subj", subject]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    String(validityDays),
    "-out",
    cert,
    "-extfile",
    ext,
  ]);
  return { cert, key };
}

function pkiFiles(dir: string): Pki {
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
    serviceAccountKey: join(dir, "sa.key"),
  };
}

/** True when the certificate is still valid `seconds` from now (openssl x509 -checkend). */
async function validFor(cert: string, seconds: number): Promise<boolean> {
  try {
    await execFileAsync("openssl", ["x509", "-checkend", String(seconds), "-noout", "-in", cert]);
    return true;
  } catch {
    return false;
  }
}

/**
 * The PKI in `dir`, made on first use and kept afterwards; made again (all of it) when a file is
 * missing or a certificate runs out within a week.
 */
export async function ensurePki(dir: string): Promise<Pki & { created: boolean }> {
  const files = pkiFiles(dir);
  const paths: string[] = [
    files.caCert,
    files.caKey,
    files.servingCert,
    files.servingKey,
    files.adminCert,
    files.adminKey,
    files.serviceAccountKey,
  ];
  const week = 7 * 24 * 3600;
  if (
    paths.every((path) => existsSync(path)) &&
    (await validFor(files.caCert, week)) &&
    (await validFor(files.servingCert, week)) &&
    (await validFor(files.adminCert, week))
  ) {
    return { ...files, created: false };
  }
  return { ...(await generatePki(dir)), created: true };
}

export async function generatePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caCert = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  await openssl([
    "req",
    "-x509",
    ...ecKey,
    "-keyout",
    caKey,
    "-out",
    caCert,
    "-days",
    String(validityDays),
    "-subj",
    "/CN=llmops-local-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
  ]);
  const ca = { dir, caCert, caKey };
  const serving = await issue(
    ca,
    "apiserver",
    "/CN=kube-apiserver",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
      "",
    ].join("\n"),
  );
  const admin = await issue(
    ca,
    "admin",
    "/O=system:masters/CN=llmops-local-admin",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
      "",
    ].join("\n"),
  );
  const serviceAccountKey = join(dir, "sa.key");
  await openssl([
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    serviceAccountKey,
  ]);
  return {
    dir,
    caCert,
    caKey,
    servingCert: serving.cert,
    servingKey: serving.key,
    adminCert: admin.cert,
    adminKey: admin.key,
    serviceAccountKey,
  };
}
