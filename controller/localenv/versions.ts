// The pinned versions of the local control plane (versions.env, shared with build-binaries.sh) and
// where its binaries are cached. The files beside this module ship with the package: the path is
// resolved from the repository root so that it is the same from controller/ (tsx) and dist/.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** controller/localenv/ of the package: versions.env and build-binaries.sh live here. */
export const localenvAssetsDir = fileURLToPath(
  new URL("../../controller/localenv/", import.meta.url),
);

export interface ControlPlaneVersions {
  K8S_VERSION: string;
  ETCD_VERSION: string;
  KWOK_VERSION: string;
  KUBECTL_LAYER_VERSION: string;
  TESTENV_VERSION: string;
}

const versionKeys = [
  "K8S_VERSION",
  "ETCD_VERSION",
  "KWOK_VERSION",
  "KUBECTL_LAYER_VERSION",
  "TESTENV_VERSION",
] as const;

/** Parses versions.env (KEY=value lines, `${VAR}` references to earlier keys). */
export function readVersions(file = join(localenvAssetsDir, "versions.env")): ControlPlaneVersions {
  return parseVersions(readFileSync(file, "utf8"), file);
}

export function parseVersions(text: string, file = "versions.env"): ControlPlaneVersions {
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`${file}: "${line}" is not KEY=value`);
    const key = line.slice(0, eq);
    values[key] = line
      .slice(eq + 1)
      .replace(/\$\{(\w+)\}/g, (_m, name: string) => values[name] ?? "");
  }
  for (const key of versionKeys) {
    if (!values[key]) throw new Error(`${file}: ${key} is not set`);
  }
  return values as unknown as ControlPlaneVersions;
}

/** What `llmops up` needs: etcd, the apiserver and the controller-manager (garbage collection). */
export const controlPlaneBinaries = ["etcd", "kube-apiserver", "kube-controller-manager"] as const;

/** ~/.cache/llmops/testenv/<TESTENV_VERSION>/bin, or $LLMOPS_CACHE_DIR/testenv/… */
export function binDirFor(versions: ControlPlaneVersions, env = process.env): string {
  const cacheRoot = env.LLMOPS_CACHE_DIR ?? join(homedir(), ".cache", "llmops");
  return join(cacheRoot, "testenv", versions.TESTENV_VERSION, "bin");
}

export function missingBinaries(binDir: string, required: readonly string[]): string[] {
  return required.filter((name) => !existsSync(join(binDir, name)));
}
