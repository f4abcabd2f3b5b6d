import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildComponents, ensureControlPlaneBinaries, MissingBinariesError } from "./binaries.js";
import { controlPlaneBinaries } from "./versions.js";

describe("buildComponents", () => {
  it.each([
    { binaries: ["etcd"], want: ["etcd"] },
    { binaries: ["kube-apiserver", "kube-controller-manager"], want: ["kubernetes"] },
    { binaries: [...controlPlaneBinaries], want: ["etcd", "kubernetes"] },
    { binaries: ["kwok-stages.yaml", "helm"], want: ["kwok", "kubectl"] },
  ])("$binaries → $want", ({ binaries, want }) => {
    expect(buildComponents(binaries)).toEqual(want);
  });
});

describe("ensureControlPlaneBinaries", () => {
  it("--kube-binaries: used as is when complete", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmops-bins-"));
    for (const name of controlPlaneBinaries) {
      writeFileSync(join(dir, name), "");
      chmodSync(join(dir, name), 0o755);
    }
    await expect(
      ensureControlPlaneBinaries({ kubeBinaries: dir, log: () => undefined }),
    ).resolves.toEqual({
      binDir: dir,
      source: "flag",
    });
  });

  it("--kube-binaries: names what is missing and never builds or downloads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llmops-bins-"));
    writeFileSync(join(dir, "etcd"), "");
    const log: string[] = [];
    const attempt = ensureControlPlaneBinaries({
      kubeBinaries: dir,
      log: (m) => log.push(m),
      hasGo: () => {
        throw new Error("must not look for Go");
      },
    });
    await expect(attempt).rejects.toThrow(MissingBinariesError);
    await expect(attempt).rejects.toThrow(
      `--kube-binaries ${dir}: kube-apiserver, kube-controller-manager not found`,
    );
    expect(log).toEqual([]);
  });

  it("an empty cache without Go on a platform with no release binaries: a clear error", async () => {
    const cache = mkdtempSync(join(tmpdir(), "llmops-cache-"));
    await expect(
      ensureControlPlaneBinaries({
        env: { LLMOPS_CACHE_DIR: cache },
        log: () => undefined,
        hasGo: () => false,
        platform: "darwin",
        arch: "arm64",
      }),
    ).rejects.toThrow(/install Go.*--kube-binaries/);
  });
});
