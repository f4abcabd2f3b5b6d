// Official release binaries of the local control plane, for machines without Go: kube-apiserver
// and kube-controller-manager from dl.k8s.io, etcd from its GitHub release. Each file is checked
// against the SHA-256 its publisher lists beside it (the .sha256 file, the release's SHA256SUMS)
// before it is made executable, as controller-runtime's setup-envtest checks its archives.
// Kubernetes publishes server binaries for Linux only; elsewhere the caller has to build them
// (Go) or pass --kube-binaries.
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ControlPlaneVersions } from "./versions.js";

const execFileAsync = promisify(execFile);

export interface ReleaseArtifact {
  /** The binary this artifact provides, as named in the bin directory. */
  binary: string;
  url: string;
  /** Where the publisher lists the SHA-256 of `url`. */
  checksumUrl: string;
  /** The file name to look up in a checksum list with several entries (SHA256SUMS). */
  checksumName?: string;
  /** For an archive (.tar.gz): the member to extract. */
  archiveMember?: string;
}

/** GOARCH names for Node's process.arch; undefined for architectures nobody publishes. */
export function goArch(arch: string): string | undefined {
  return ({ x64: "amd64", arm64: "arm64" } as Record<string, string | undefined>)[arch];
}

export class UnsupportedPlatformError extends Error {
  override name = "UnsupportedPlatformError";
}

/** The downloads that provide `binaries` on this platform. */
export function releaseArtifacts(
  versions: Pick<ControlPlaneVersions, "K8S_VERSION" | "ETCD_VERSION">,
  platform: string,
  arch: string,
  binaries: readonly string[],
): ReleaseArtifact[] {
  const goarch = goArch(arch);
  if (platform !== "linux" || goarch === undefined) {
    throw new UnsupportedPlatformError(
      `there are no official kube-apiserver and kube-controller-manager binaries for ${platform}/${arch} ` +
        "(Kubernetes publishes server binaries for linux/amd64 and linux/arm64): install Go, which " +
        "builds them from source, or pass --kube-binaries DIR with etcd, kube-apiserver and " +
        "kube-controller-manager in it",
    );
  }
  return binaries.map((binary): ReleaseArtifact => {
    if (binary === "etcd") {
      const v = versions.ETCD_VERSION;
      const archive = `etcd-${v}-linux-${goarch}.tar.gz`;
      const base = `https://github.com/etcd-io/etcd/releases/download/${v}`;
      return {
        binary,
        url: `${base}/${archive}`,
        checksumUrl: `${base}/SHA256SUMS`,
        checksumName: archive,
        archiveMember: `etcd-${v}-linux-${goarch}/etcd`,
      };
    }
    if (binary === "kube-apiserver" || binary === "kube-controller-manager") {
      const url = `https://dl.k8s.io/release/${versions.K8S_VERSION}/bin/linux/${goarch}/${binary}`;
      return { binary, url, checksumUrl: `${url}.sha256` };
    }
    throw new UnsupportedPlatformError(`no official download is known for ${binary}`);
  });
}

const hex64 = /^[0-9a-f]{64}$/;

/**
 * The SHA-256 a checksum file gives for `name`: a file with the bare digest (dl.k8s.io's .sha256),
 * or `sha256sum` lines "<digest>  <name>" (with an optional `*` for binary mode).
 */
export function parseSha256(text: string, name?: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  for (const line of lines) {
    const [digest = "", file] = line.split(/\s+/, 2);
    const lower = digest.toLowerCase();
    if (!hex64.test(lower)) continue;
    if (file === undefined && lines.length === 1) return lower;
    if (name !== undefined && file?.replace(/^\*/, "") === name) return lower;
  }
  throw new Error(
    name === undefined
      ? "the checksum file holds no SHA-256 digest"
      : `the checksum file lists no SHA-256 for ${name}`,
  );
}

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export class ChecksumMismatchError extends Error {
  override name = "ChecksumMismatchError";
}

/** Throws unless `data` has the expected digest; nothing is written for a mismatch. */
export function verifySha256(data: Uint8Array, expected: string, what: string): void {
  const actual = sha256Hex(data);
  if (actual !== expected.toLowerCase()) {
    throw new ChecksumMismatchError(
      `${what}: SHA-256 ${actual} does not match the published ${expected}; the download is corrupt or was tampered with, and was not installed`,
    );
  }
}

export type Fetch = (
  url: string,
) => Promise<{ ok: boolean; status: number; arrayBuffer: () => Promise<ArrayBuffer> }>;

async function fetchBytes(fetchImpl: Fetch, url: string): Promise<Uint8Array> {
  const res = await fetchImpl(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${String(res.status)}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Downloads, verifies and installs each artifact into binDir (a temp name, then a rename, so a
 * half-written binary is never found there).
 */
export async function downloadArtifacts(
  artifacts: readonly ReleaseArtifact[],
  binDir: string,
  options: { fetch?: Fetch; log: (message: string) => void },
): Promise<void> {
  const fetchImpl: Fetch = options.fetch ?? fetch;
  await mkdir(binDir, { recursive: true });
  const tmp = await mkdtemp(join(binDir, ".download-"));
  try {
    for (const artifact of artifacts) {
      options.log(`downloading ${artifact.url}`);
      const [data, sums] = await Promise.all([
        fetchBytes(fetchImpl, artifact.url),
        fetchBytes(fetchImpl, artifact.checksumUrl),
      ]);
      const expected = parseSha256(new TextDecoder().decode(sums), artifact.checksumName);
      verifySha256(data, expected, artifact.url);
      options.log(`verified ${artifact.binary} (sha256 ${expected.slice(0, 12)}…)`);
      let file = join(tmp, artifact.binary);
      if (artifact.archiveMember !== undefined) {
        const archive = join(tmp, `${artifact.binary}.tar.gz`);
        await writeFile(archive, data);
        await execFileAsync("tar", ["-xzf", archive, "-C", tmp, artifact.archiveMember]);
        file = join(tmp, artifact.archiveMember);
      } else {
        await writeFile(file, data);
      }
      await chmod(file, 0o755);
      await rename(file, join(binDir, artifact.binary));
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
