// Where `llmops up` gets its control-plane binaries: --kube-binaries, else the cache, else built
// from their Go modules when Go is installed (build-binaries.sh, shipped with the package), else
// downloaded as official release binaries with their published SHA-256 checked (download.ts).
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { downloadArtifacts, releaseArtifacts, type Fetch } from "./download.js";
import {
  binDirFor,
  controlPlaneBinaries,
  localenvAssetsDir,
  missingBinaries,
  readVersions,
} from "./versions.js";

export type BinarySource = "flag" | "cache" | "built" | "downloaded";

export interface EnsureBinariesOptions {
  /** --kube-binaries: used as is, never written to. */
  kubeBinaries?: string;
  required?: readonly string[];
  log: (message: string) => void;
  env?: NodeJS.ProcessEnv;
  platform?: string;
  arch?: string;
  /** Whether `go` runs here (default: `go version` succeeds). */
  hasGo?: () => boolean;
  fetch?: Fetch;
}

export class MissingBinariesError extends Error {
  override name = "MissingBinariesError";
}

export async function ensureControlPlaneBinaries(
  options: EnsureBinariesOptions,
): Promise<{ binDir: string; source: BinarySource }> {
  const required = options.required ?? controlPlaneBinaries;
  if (options.kubeBinaries !== undefined) {
    const missing = missingBinaries(options.kubeBinaries, required);
    if (missing.length > 0) {
      throw new MissingBinariesError(
        `--kube-binaries ${options.kubeBinaries}: ${missing.join(", ")} not found there; the directory must hold ${required.join(", ")} (or leave the flag out to use the cache in ~/.cache/llmops)`,
      );
    }
    return { binDir: options.kubeBinaries, source: "flag" };
  }
  const versions = readVersions();
  const binDir = binDirFor(versions, options.env);
  const missing = missingBinaries(binDir, required);
  if (missing.length === 0) return { binDir, source: "cache" };

  const hasGo = options.hasGo ?? (() => spawnSync("go", ["version"]).status === 0);
  let source: BinarySource;
  if (hasGo()) {
    options.log(
      `building ${missing.join(", ")} ${versions.K8S_VERSION}/${versions.ETCD_VERSION} from their Go modules into ${binDir} (once; tens of minutes on 2 cores)`,
    );
    await runBuild(binDir, missing, options.log);
    source = "built";
  } else {
    options.log(`Go is not installed: downloading the official release binaries into ${binDir}`);
    const artifacts = releaseArtifacts(
      versions,
      options.platform ?? process.platform,
      options.arch ?? process.arch,
      missing,
    );
    await downloadArtifacts(artifacts, binDir, {
      log: options.log,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    source = "downloaded";
  }
  const still = missingBinaries(binDir, required);
  if (still.length > 0) {
    throw new MissingBinariesError(
      `${binDir}: ${still.join(", ")} still missing after the ${source} step`,
    );
  }
  return { binDir, source };
}

/** The build script's components that provide `binaries`. */
export function buildComponents(binaries: readonly string[]): string[] {
  const components = new Set<string>();
  for (const binary of binaries) {
    if (binary === "etcd") components.add("etcd");
    else if (binary.startsWith("kube-")) components.add("kubernetes");
    else if (binary === "kwok" || binary === "kwok-stages.yaml") components.add("kwok");
    else if (binary === "kubectl" || binary === "helm") components.add("kubectl");
  }
  return [...components];
}

async function runBuild(
  binDir: string,
  missing: readonly string[],
  log: (message: string) => void,
): Promise<void> {
  const child = spawn(
    "bash",
    [join(localenvAssetsDir, "build-binaries.sh"), binDir, ...buildComponents(missing)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      if (line.startsWith("[build-binaries]")) log(line.slice("[build-binaries] ".length));
    });
  }
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", resolve);
  });
  if (code !== 0) {
    throw new MissingBinariesError(
      `building the control plane failed (exit ${String(code)}):\n${tail.join("\n")}`,
    );
  }
}
