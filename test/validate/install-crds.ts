// Installs crds/ into the test control plane. CRDs are cluster-scoped and shared by every test
// file of the run, so this is idempotent (server-side apply) and nothing deletes them.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { kubectl } from "../support/cluster.js";
import { repositoryRoot } from "./fixtures.js";

const crdDirectory = join(repositoryRoot, "crds");

/** The CRD names in crds/, from their file names (`<group>_<plural>.yaml`). */
export function crdNames(): string[] {
  return readdirSync(crdDirectory)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => {
      const [group, plural] = f.replace(/\.yaml$/, "").split("_");
      return `${plural ?? ""}.${group ?? ""}`;
    });
}

/** Applies crds/ and waits until the apiserver serves every kind. */
export async function installCrds(): Promise<void> {
  const applied = await kubectl([
    "apply",
    "--server-side",
    "--force-conflicts",
    "--field-manager=llmops-tests",
    "-f",
    crdDirectory,
  ]);
  if (applied.code !== 0)
    throw new Error(`installing crds/ failed: ${applied.stderr || applied.stdout}`);
  const waited = await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...crdNames().map((n) => `crd/${n}`),
  ]);
  if (waited.code !== 0)
    throw new Error(`crds/ not established: ${waited.stderr || waited.stdout}`);
}

/** Creates a namespace if it does not exist (for fixtures that name one). */
export async function ensureNamespace(name: string): Promise<void> {
  const result = await kubectl(
    ["apply", "--server-side", "--field-manager=llmops-tests", "-f", "-"],
    {
      input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name } }),
    },
  );
  if (result.code !== 0) throw new Error(`creating namespace ${name} failed: ${result.stderr}`);
}
