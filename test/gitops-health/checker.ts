// The GitOps health checker (main.go beside this file): built from its Go module on first use into
// ~/.cache/llmops/gitops-health/<hash of go.mod, go.sum and the Go sources>/checker, so a changed
// source or dependency builds anew and an unchanged one never does. Nothing built is committed.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
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
  // Test files run in parallel workers: one builds, the others wait for it (two builds at once
  // would only halve a 2-core machine for each).
  const release = await lock(join(dir, "build.lock"));
  try {
    if (!existsSync(binary)) await build(binary);
  } finally {
    await release();
  }
  return binary;
}

async function build(binary: string): Promise<void> {
  // Built beside its final name and renamed, so no one ever runs half a binary.
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
}

/** A lock file holding its owner's pid; one left by a process that died is taken over. */
async function lock(path: string): Promise<() => Promise<void>> {
  for (;;) {
    try {
      await writeFile(path, String(process.pid), { flag: "wx" });
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw error;
    }
    const owner = Number(await readFile(path, "utf8").catch(() => ""));
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
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
