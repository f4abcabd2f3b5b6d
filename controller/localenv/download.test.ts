// The download path cannot reach dl.k8s.io or GitHub from here: these tests check the URLs it
// would fetch, the checksum parsing and verification, and the install step with a fetch that
// serves real bytes (a real .tar.gz made with tar), including a tampered file that must not land.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ChecksumMismatchError,
  downloadArtifacts,
  goArch,
  parseSha256,
  releaseArtifacts,
  sha256Hex,
  UnsupportedPlatformError,
  verifySha256,
  type Fetch,
} from "./download.js";
import { controlPlaneBinaries, readVersions } from "./versions.js";

const versions = { K8S_VERSION: "v1.34.4", ETCD_VERSION: "v3.5.35" };

describe("releaseArtifacts", () => {
  it.each([
    ["x64", "amd64"],
    ["arm64", "arm64"],
  ])(
    "linux/%s: dl.k8s.io binaries with .sha256, etcd's release tarball with SHA256SUMS",
    (arch, goarch) => {
      const artifacts = releaseArtifacts(versions, "linux", arch, controlPlaneBinaries);
      expect(artifacts).toEqual([
        {
          binary: "etcd",
          url: `https://github.com/etcd-io/etcd/releases/download/v3.5.35/etcd-v3.5.35-linux-${goarch}.tar.gz`,
          checksumUrl: "https://github.com/etcd-io/etcd/releases/download/v3.5.35/SHA256SUMS",
          checksumName: `etcd-v3.5.35-linux-${goarch}.tar.gz`,
          archiveMember: `etcd-v3.5.35-linux-${goarch}/etcd`,
        },
        {
          binary: "kube-apiserver",
          url: `https://dl.k8s.io/release/v1.34.4/bin/linux/${goarch}/kube-apiserver`,
          checksumUrl: `https://dl.k8s.io/release/v1.34.4/bin/linux/${goarch}/kube-apiserver.sha256`,
        },
        {
          binary: "kube-controller-manager",
          url: `https://dl.k8s.io/release/v1.34.4/bin/linux/${goarch}/kube-controller-manager`,
          checksumUrl: `https://dl.k8s.io/release/v1.34.4/bin/linux/${goarch}/kube-controller-manager.sha256`,
        },
      ]);
    },
  );

  it("uses the pinned versions from versions.env", () => {
    const pinned = readVersions();
    const [etcd] = releaseArtifacts(pinned, "linux", "x64", ["etcd"]);
    expect(etcd?.url).toContain(`/${pinned.ETCD_VERSION}/etcd-${pinned.ETCD_VERSION}-linux-amd64`);
  });

  it.each([
    ["darwin", "arm64"],
    ["linux", "ia32"],
    ["win32", "x64"],
  ])("refuses %s/%s and says what to do instead", (platform, arch) => {
    expect(() => releaseArtifacts(versions, platform, arch, controlPlaneBinaries)).toThrow(
      UnsupportedPlatformError,
    );
    expect(() => releaseArtifacts(versions, platform, arch, controlPlaneBinaries)).toThrow(
      /install Go.*--kube-binaries/,
    );
  });

  it("knows no download for other binaries", () => {
    expect(() => releaseArtifacts(versions, "linux", "x64", ["kwok"])).toThrow(/kwok/);
  });

  it("maps Node architectures to Go's", () => {
    expect(goArch("x64")).toBe("amd64");
    expect(goArch("arm64")).toBe("arm64");
    expect(goArch("s390x")).toBeUndefined();
  });
});

const digestA = "a".repeat(64);
const digestB = "0123456789abcdef".repeat(4);

describe("parseSha256", () => {
  it.each([
    {
      name: "a bare digest (dl.k8s.io .sha256)",
      text: `${digestA}\n`,
      file: undefined,
      want: digestA,
    },
    { name: "upper case", text: digestA.toUpperCase(), file: undefined, want: digestA },
    {
      name: "sha256sum lines, by name",
      text: `${digestA}  etcd-v3.5.35-darwin-amd64.zip\n${digestB}  etcd-v3.5.35-linux-amd64.tar.gz\n`,
      file: "etcd-v3.5.35-linux-amd64.tar.gz",
      want: digestB,
    },
    {
      name: "binary-mode marker",
      text: `${digestB} *etcd.tar.gz\n`,
      file: "etcd.tar.gz",
      want: digestB,
    },
  ])("$name", ({ text, file, want }) => {
    expect(parseSha256(text, file)).toBe(want);
  });

  it.each([
    {
      name: "name not listed",
      text: `${digestA}  other.tar.gz\n`,
      file: "etcd.tar.gz",
      want: /no SHA-256 for etcd.tar.gz/,
    },
    {
      name: "not a digest",
      text: "<html>not found</html>",
      file: undefined,
      want: /no SHA-256 digest/,
    },
    { name: "short digest", text: "abc123", file: undefined, want: /no SHA-256 digest/ },
    {
      name: "a list but no name asked",
      text: `${digestA}  a\n${digestB}  b\n`,
      file: undefined,
      want: /no SHA-256 digest/,
    },
  ])("fails: $name", ({ text, file, want }) => {
    expect(() => parseSha256(text, file)).toThrow(want);
  });
});

describe("verifySha256", () => {
  const data = new TextEncoder().encode("kube-apiserver bytes");
  it("accepts the right digest, in either case", () => {
    expect(() => {
      verifySha256(data, sha256Hex(data), "x");
    }).not.toThrow();
    expect(() => {
      verifySha256(data, sha256Hex(data).toUpperCase(), "x");
    }).not.toThrow();
  });
  it("refuses another", () => {
    expect(() => {
      verifySha256(data, digestA, "https://dl.k8s.io/x");
    }).toThrow(ChecksumMismatchError);
  });
  it("matches a known reference digest", () => {
    // sha256("abc") from FIPS 180-2.
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});

function servingFetch(files: Record<string, Uint8Array | string>): Fetch {
  return (url) => {
    const body = files[url];
    if (body === undefined)
      return Promise.resolve({
        ok: false,
        status: 404,
        arrayBuffer: () => Promise.resolve(new ArrayBuffer(0)),
      });
    const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
    return Promise.resolve({
      ok: true,
      status: 200,
      arrayBuffer: () => Promise.resolve(new Uint8Array(bytes).buffer),
    });
  };
}

describe("downloadArtifacts", () => {
  const artifacts = releaseArtifacts(versions, "linux", "x64", controlPlaneBinaries);
  const work = mkdtempSync(join(tmpdir(), "llmops-download-test-"));
  mkdirSync(join(work, "etcd-v3.5.35-linux-amd64"));
  writeFileSync(join(work, "etcd-v3.5.35-linux-amd64", "etcd"), "#!/bin/sh\necho etcd\n");
  execFileSync("tar", ["-czf", join(work, "etcd.tar.gz"), "-C", work, "etcd-v3.5.35-linux-amd64"]);
  const tarball = readFileSync(join(work, "etcd.tar.gz"));
  const apiserver = new TextEncoder().encode("apiserver-binary");
  const kcm = new TextEncoder().encode("kcm-binary");
  const [etcdA, apiA, kcmA] = artifacts;
  if (!etcdA || !apiA || !kcmA) throw new Error("three artifacts expected");
  const good = {
    [etcdA.url]: tarball,
    [etcdA.checksumUrl]: `${digestA}  etcd-v3.5.35-darwin-amd64.zip\n${sha256Hex(tarball)}  etcd-v3.5.35-linux-amd64.tar.gz\n`,
    [apiA.url]: apiserver,
    [apiA.checksumUrl]: sha256Hex(apiserver),
    [kcmA.url]: kcm,
    [kcmA.checksumUrl]: `${sha256Hex(kcm)}\n`,
  };

  it("installs verified binaries, executable, etcd extracted from its tarball", async () => {
    const binDir = join(work, "bin-good");
    const log: string[] = [];
    await downloadArtifacts(artifacts, binDir, {
      fetch: servingFetch(good),
      log: (m) => log.push(m),
    });
    expect(readFileSync(join(binDir, "etcd"), "utf8")).toContain("echo etcd");
    expect(readFileSync(join(binDir, "kube-apiserver"), "utf8")).toBe("apiserver-binary");
    expect(readFileSync(join(binDir, "kube-controller-manager"), "utf8")).toBe("kcm-binary");
    expect(statSync(join(binDir, "kube-apiserver")).mode & 0o111).toBe(0o111);
    expect(log.filter((l) => l.startsWith("verified"))).toHaveLength(3);
  });

  it("installs nothing of a file whose checksum does not match", async () => {
    const binDir = join(work, "bin-tampered");
    const tampered = { ...good, [kcmA.url]: new TextEncoder().encode("evil") };
    await expect(
      downloadArtifacts(artifacts, binDir, { fetch: servingFetch(tampered), log: () => undefined }),
    ).rejects.toThrow(ChecksumMismatchError);
    expect(existsSync(join(binDir, "kube-controller-manager"))).toBe(false);
  });

  it("names the URL that failed", async () => {
    const binDir = join(work, "bin-404");
    const missing = { ...good, [apiA.checksumUrl]: undefined } as unknown as Record<string, string>;
    await expect(
      downloadArtifacts(artifacts, binDir, { fetch: servingFetch(missing), log: () => undefined }),
    ).rejects.toThrow(`GET ${apiA.checksumUrl}: HTTP 404`);
  });
});
