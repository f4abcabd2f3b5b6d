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
  await waitForCrdsEstablished(crdNames());
}

/**
 * Waits until every named CRD reports Established=True. Polls rather than `kubectl wait`:
 * kubectl wait exits with an error ("status.conditions accessor error") when it reads a CRD
 * whose status has no conditions yet, which a freshly applied CRD briefly has.
 */
export async function waitForCrdsEstablished(
  names: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let pending: readonly string[] = names;
  let lastError = "";
  while (Date.now() < deadline) {
    const read = await kubectl(["get", "-o", "json", ...pending.map((n) => `crd/${n}`)], {
      env: options.env,
    });
    if (read.code === 0) {
      const list = JSON.parse(read.stdout) as { items?: Crd[]; metadata?: unknown } & Crd;
      const items = list.items ?? [list];
      pending = pending.filter((name) => !items.some((crd) => established(crd, name)));
      if (pending.length === 0) return;
    } else {
      lastError = read.stderr;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`CRDs not established within the timeout: ${pending.join(", ")} ${lastError}`);
}

type Crd = {
  metadata?: { name?: string };
  status?: { conditions?: { type: string; status: string }[] | null };
};

function established(crd: Crd, name: string): boolean {
  return (
    crd.metadata?.name === name &&
    (crd.status?.conditions ?? []).some((c) => c.type === "Established" && c.status === "True")
  );
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
