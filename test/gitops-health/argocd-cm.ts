// deploy/argocd/argocd-cm.yaml from the Lua files under deploy/argocd/resource_customizations, the
// one source: `npx tsx test/gitops-health/argocd-cm.ts` writes it, and argocd-cm.test.ts fails when
// it differs from what this renders.
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "prettier";
import { Document, Scalar } from "yaml";
import { luaDir } from "./checker.js";

export const argoCdConfigMapPath = join(luaDir, "..", "argocd-cm.yaml");

/** Argo CD's key for a kind's health check in argocd-cm: `resource.customizations.health.<group>_<Kind>`. */
export function healthKey(group: string, kind: string): string {
  return `resource.customizations.health.${group}_${kind}`;
}

/** Every <group>/<Kind>/health.lua, keyed as argocd-cm keys it, in a stable order. */
export async function healthScripts(): Promise<Map<string, string>> {
  const scripts = new Map<string, string>();
  for (const group of (await readdir(luaDir)).sort()) {
    for (const kind of (await readdir(join(luaDir, group))).sort()) {
      scripts.set(
        healthKey(group, kind),
        await readFile(join(luaDir, group, kind, "health.lua"), "utf8"),
      );
    }
  }
  return scripts;
}

const header = `# Argo CD health checks for the llmops.dev kinds, as a patch of Argo CD's argocd-cm ConfigMap.
# Generated from deploy/argocd/resource_customizations/*/*/health.lua by
# \`npx tsx test/gitops-health/argocd-cm.ts\`: edit the .lua files, not this file.
#
# Apply it with \`kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm.yaml\`, or list it
# under \`patches:\` in the kustomization that installs Argo CD.
`;

/** The patch as it should be committed. */
export async function renderArgoCdConfigMap(): Promise<string> {
  const data: Record<string, Scalar> = {};
  for (const [key, script] of await healthScripts()) {
    const value = new Scalar(script);
    value.type = Scalar.BLOCK_LITERAL;
    data[key] = value;
  }
  const document = new Document({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "argocd-cm",
      labels: { "app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd" },
    },
    data,
  });
  return format(header + document.toString({ lineWidth: 0 }), { parser: "yaml" });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await writeFile(argoCdConfigMapPath, await renderArgoCdConfigMap());
  console.log(`wrote ${argoCdConfigMapPath}`);
}
