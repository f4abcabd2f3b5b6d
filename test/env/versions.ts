// Reads the pinned versions (versions.env, shared with build-testenv.sh) and locates the binaries.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const testenvDir = dirname(fileURLToPath(import.meta.url));

export interface TestenvVersions {
  K8S_VERSION: string;
  ETCD_VERSION: string;
  KWOK_VERSION: string;
  KUBECTL_LAYER_VERSION: string;
  TESTENV_VERSION: string;
}

/** Parses versions.env (KEY=value lines, `${VAR}` references to earlier keys). */
export function readVersions(file = join(testenvDir, "versions.env")): TestenvVersions {
  const values: Record<string, string> = {};
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    values[key] = line
      .slice(eq + 1)
      .replace(/\$\{(\w+)\}/g, (_m, name: string) => values[name] ?? "");
  }
  for (const key of [
    "K8S_VERSION",
    "ETCD_VERSION",
    "KWOK_VERSION",
    "KUBECTL_LAYER_VERSION",
    "TESTENV_VERSION",
  ]) {
    if (!values[key]) throw new Error(`${file}: ${key} is not set`);
  }
  return values as unknown as TestenvVersions;
}

export const requiredBinaries = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
  "kwok-stages.yaml",
  "kubectl",
  "helm",
] as const;

/** ~/.cache/llmops/testenv/<TESTENV_VERSION>/bin, or $LLMOPS_CACHE_DIR/testenv/… */
export function binDirFor(versions: TestenvVersions, env = process.env): string {
  const cacheRoot = env.LLMOPS_CACHE_DIR ?? join(homedir(), ".cache", "llmops");
  return join(cacheRoot, "testenv", versions.TESTENV_VERSION, "bin");
}

export function missingBinaries(binDir: string): string[] {
  return requiredBinaries.filter((name) => !existsSync(join(binDir, name)));
}
