// The GitOps health checker (main.go beside this file): built from its Go module on first use into
// ~/.cache/llmops/gitops-health/<hash of go.mod, go.sum and the Go sources>/checker, so a changed
// source or dependency builds anew and an unchanged one never does. Nothing built is committed.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export const moduleDir = dirname(fileURLToPath(import.meta.url));
/** The shipped Argo CD health checks, as <group>/<Kind>/health.lua. */
export const luaDir = join(moduleDir, "..", "..", "deploy", "argocd", "resource_customizations");

/** One object as the checker reads it. */
export interface HealthReport {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  /** sigs.k8s.io/cli-utils kstatus: InProgress, Failed, Current, Terminating, NotFound, Unknown. */
  kstatus: { status: string; message: string };
  /** Argo CD health from our Lua script; null when there is none for the kind. */
  argocd: { status: string; message: string } | null;
}

async function sourceHash(): Promise<string> {
  const files = (await readdir(moduleDir))
    .filter((f) => f === "go.mod" || f === "go.sum" || f.endsWith(".go"))
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(await readFile(join(moduleDir, file)));
    hash.update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

/** The checker binary's path, built with `go build` (modules from the Go module proxy) when absent. */
export async function gitopsHealthChecker(): Promise<string> {
  const dir = join(homedir(), ".cache", "llmops", "gitops-health", await sourceHash());
  const binary = join(dir, "checker");
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  // Built beside its final name and renamed: test files building at once never see half a binary.
  const partial = `${binary}.${String(process.pid)}.partial`;
  try {
    await execFileAsync("go", ["build", "-mod=readonly", "-trimpath", "-o", partial, "."], {
      cwd: moduleDir,
      env: { ...process.env, CGO_ENABLED: "0" },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    await rm(partial, { force: true });
    const e = error as { code?: string; stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        "building test/gitops-health needs the go command on PATH (Go 1.26, as .ci/run requires)",
        { cause: error },
      );
    }
    throw new Error(`go build in ${moduleDir} failed:\n${e.stderr ?? String(error)}`, {
      cause: error,
    });
  }
  await rename(partial, binary);
  return binary;
}

/** Runs the checker on `kubectl get -o json` output (an object or a List). */
export async function checkHealth(json: string): Promise<HealthReport[]> {
  const binary = await gitopsHealthChecker();
  const child = execFileAsync(binary, ["-lua-dir", luaDir], { maxBuffer: 64 * 1024 * 1024 });
  child.child.stdin?.end(json);
  const { stdout } = await child;
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as HealthReport);
}
