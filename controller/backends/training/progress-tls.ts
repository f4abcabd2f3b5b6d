// TLS material for the training progress endpoint when no certificate is configured: a private
// CA and a serving certificate it signs, minted in memory at start. Pods trust the CA (its PEM goes
// into a ConfigMap the Job mounts), never the serving certificate itself, so the serving
// certificate can be re-minted (new hosts, expiry) without touching running pods.
//
// Why node-forge: node:crypto parses certificates (X509Certificate) but cannot create one. Keys
// are still generated and kept by node:crypto; forge only encodes and signs the certificates. It
// is imported when a certificate is first minted, not with this module (most controllers never
// mint one, and forge costs ~10 MiB resident).
import { generateKeyPair, randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import type forgeType from "node-forge";

const generateKeyPairAsync = promisify(generateKeyPair);

async function loadForge(): Promise<typeof forgeType> {
  return (await import("node-forge")).default;
}

/** PEM strings a TLS server needs, and the CA a client must trust to reach it. */
export interface ProgressTlsMaterial {
  /** Serving certificate (leaf first, then any intermediates). */
  cert: string;
  key: string;
  /** What clients verify the server with: the CA that issued `cert`. */
  caPem: string;
}

/** A CA that can sign serving certificates. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
}

export interface SelfSignedOptions {
  /** DNS names and IP addresses the serving certificate is valid for. */
  hosts: readonly string[];
  /** Lifetime of the serving certificate (default 1 year). */
  validForMs?: number;
  /** Reuse this CA instead of minting one (e.g. a CA kept in a Secret across restarts). */
  ca?: CertificateAuthority;
  now?: Date;
}

const day = 24 * 60 * 60 * 1000;
const defaultLeafValidityMs = 365 * day;
const caValidityMs = 10 * 365 * day;
// Clocks of pods and controller differ a little; a certificate valid from "now" would be refused
// by a pod whose clock is a few seconds behind.
const clockSkewMs = 5 * 60 * 1000;

/** Mints a private CA (RSA 2048, 10 years). */
export async function createCertificateAuthority(
  options: { commonName?: string; now?: Date } = {},
): Promise<CertificateAuthority> {
  const now = options.now ?? new Date();
  const forge = await loadForge();
  const keys = await newRsaKeys(forge);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - clockSkewMs);
  cert.validity.notAfter = new Date(now.getTime() + caValidityMs);
  const subject = [
    { name: "commonName", value: options.commonName ?? "llmops training progress CA" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.forgePrivate, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privatePem };
}

/** A serving certificate for `hosts`, signed by `options.ca` or by a CA minted for it. */
export async function createSelfSignedTls(
  options: SelfSignedOptions,
): Promise<ProgressTlsMaterial> {
  if (options.hosts.length === 0) {
    throw new RangeError("a serving certificate needs at least one host name or IP address");
  }
  const now = options.now ?? new Date();
  const ca = options.ca ?? (await createCertificateAuthority({ now }));
  const forge = await loadForge();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = await newRsaKeys(forge);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - clockSkewMs);
  cert.validity.notAfter = new Date(now.getTime() + (options.validForMs ?? defaultLeafValidityMs));
  cert.setSubject([{ name: "commonName", value: options.hosts[0] ?? "" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: options.hosts.map(altName) },
    { name: "subjectKeyIdentifier" },
    {
      name: "authorityKeyIdentifier",
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.privatePem, caPem: ca.certPem };
}

function altName(host: string): { type: number; value?: string; ip?: string } {
  // GeneralName tags (RFC 5280): 2 = dNSName, 7 = iPAddress. Clients match IPs only against
  // iPAddress entries, so an IP written as a DNS name would not verify.
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return isIP(bare) === 0 ? { type: 2, value: bare } : { type: 7, ip: bare };
}

async function newRsaKeys(forge: typeof forgeType): Promise<{
  privatePem: string;
  forgePrivate: forgeType.pki.rsa.PrivateKey;
  forgePublic: forgeType.pki.rsa.PublicKey;
}> {
  // Native key generation (forge's pure-JS RSA keygen takes seconds and blocks the loop).
  const { privateKey, publicKey } = await generateKeyPairAsync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return {
    privatePem: privateKey,
    forgePrivate: forge.pki.privateKeyFromPem(privateKey),
    forgePublic: forge.pki.publicKeyFromPem(publicKey),
  };
}

function randomSerial(): string {
  // 128 random bits, top bit cleared so the DER INTEGER stays positive (RFC 5280 4.1.2.2).
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}
