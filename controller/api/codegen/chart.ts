// `npm run generate:chart`: writes the Helm chart's generated parts from their one source each:
// charts/llmops/templates/crds/ from crds/ (the CRDs as templates, behind installCRDs and with
// helm.sh/resource-policy: keep, as Flux's and Argo Rollouts' charts do; Helm never upgrades what a
// chart's crds/ folder holds), and charts/llmops/README.md from the `# --` comments of values.yaml.
// `npm run generate:chart -- --check`: exits 1 when a generated file is stale.
import { readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isMap, isScalar, isSeq, parseDocument, stringify, type Node, type Pair } from "yaml";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const chartDirectory = join(repoRoot, "charts", "llmops");
export const chartCrdDirectory = join(chartDirectory, "templates", "crds");
const crdDirectory = join(repoRoot, "crds");

export interface ChartFile {
  /** Path relative to the repository root. */
  path: string;
  content: string;
}

/** Go-template actions in CRD text (`{{var}}` in descriptions) printed as literals. */
function escapeTemplateActions(text: string): string {
  return text.replace(/\{\{|\}\}/g, (m) => `{{ "${m}" }}`);
}

/**
 * One CRD of crds/ as a chart template: metadata rewritten (the source's labels plus the
 * release's, the keep annotation), everything from `spec:` on copied as written.
 */
export function renderCrdTemplate(sourcePath: string, text: string): string {
  const doc = parseDocument(text);
  const metadata = doc.get("metadata", true);
  const name = isMap(metadata) ? metadata.get("name") : undefined;
  if (typeof name !== "string" || doc.get("kind") !== "CustomResourceDefinition") {
    throw new Error(`${sourcePath}: not a CustomResourceDefinition with metadata.name`);
  }
  const labels = isMap(metadata) ? (metadata.toJSON() as { labels?: unknown }).labels : undefined;
  const specAt = text.search(/^spec:/m);
  if (specAt === -1) throw new Error(`${sourcePath}: no top-level spec:`);
  const labelLines =
    labels === undefined
      ? ""
      : stringify(labels)
          .trimEnd()
          .split("\n")
          .map((l) => `    ${l}\n`)
          .join("");
  return (
    `{{- /* Generated from ${sourcePath} by \`npm run generate:chart\`: edit that file, not this one. */ -}}\n` +
    "{{- if .Values.installCRDs }}\n" +
    "apiVersion: apiextensions.k8s.io/v1\n" +
    "kind: CustomResourceDefinition\n" +
    "metadata:\n" +
    `  name: ${name}\n` +
    "  labels:\n" +
    labelLines +
    '    {{- include "llmops.chartLabels" . | nindent 4 }}\n' +
    "  annotations:\n" +
    "    {{- if .Values.crds.keep }}\n" +
    "    helm.sh/resource-policy: keep\n" +
    "    {{- end }}\n" +
    "    {{- with .Values.crds.annotations }}\n" +
    "    {{- toYaml . | nindent 4 }}\n" +
    "    {{- end }}\n" +
    escapeTemplateActions(text.slice(specAt)).trimEnd() +
    "\n{{- end }}\n"
  );
}

/** One documented value: its dotted key, type, default (as YAML/JSON) and description. */
export interface ValueRow {
  key: string;
  type: string;
  default: string;
  description: string;
}

/** The `# -- …` description in a comment block (the lines from the last `--` on). */
function description(comment: string | null | undefined): string | undefined {
  if (!comment) return undefined;
  const lines = comment.split("\n").map((l) => l.replace(/^ ?/, ""));
  const start = lines.findLastIndex((l) => l.startsWith("-- "));
  if (start === -1) return undefined;
  return lines
    .slice(start)
    .map((l, i) => (i === 0 ? l.slice(3) : l).trim())
    .join(" ")
    .trim();
}

function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null) return "null";
  if (typeof value === "object") return "object";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  return typeof value;
}

/**
 * Every value in values.yaml with its `# --` description: a key with a description is a row
 * (its whole value the default); a mapping without one is a section whose keys are rows. A key
 * with neither is an error, so no value goes undocumented.
 */
export function valuesTable(text: string, file = "values.yaml"): ValueRow[] {
  const doc = parseDocument(text);
  const rows: ValueRow[] = [];
  const visit = (node: Node | null, prefix: string): void => {
    if (!isMap(node)) return;
    for (const [index, pair] of (node.items as Pair<Node, Node>[]).entries()) {
      const key = isScalar(pair.key) ? String(pair.key.value) : "";
      const path = prefix === "" ? key : `${prefix}.${key}`;
      // The parser hangs the comment above a mapping's first key on the mapping itself.
      const text = description(
        pair.key.commentBefore ?? (index === 0 ? node.commentBefore : undefined),
      );
      if (text !== undefined) {
        const value: unknown = pair.value?.toJSON() ?? null;
        rows.push({
          key: path,
          type: typeOf(value),
          default: JSON.stringify(value),
          description: text,
        });
      } else if (isMap(pair.value) && !isSeq(pair.value)) {
        visit(pair.value, path);
      } else {
        throw new Error(`${file}: ${path} has no "# -- " description comment above it`);
      }
    }
  };
  visit(doc.contents, "");
  return rows;
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** The chart's README: how to install, and every value. */
export function renderChartReadme(
  rows: readonly ValueRow[],
  chart: { version: string; appVersion: string },
): string {
  return [
    "<!-- Generated from values.yaml by `npm run generate:chart`: edit the `# --` comments there. -->",
    "",
    "# llmops Helm chart",
    "",
    `Chart ${chart.version}, llmops ${chart.appVersion}. GitOps for the LLM lifecycle on Kubernetes: the`,
    "llmops controller, which reconciles Prompt, Experiment, TrainingJob and ModelDeployment",
    "resources, with its CRDs, least-privilege RBAC and optional git sync.",
    "",
    "```sh",
    "helm install llmops charts/llmops -n llmops-system --create-namespace \\",
    '  --set-json \'gitSync.sources=[{"name":"main","url":"https://github.com/acme/llm-specs.git","branch":"main","paths":["specs/"],"secretRef":{"name":"git-credentials"}}]\'',
    "```",
    "",
    "- The CRDs are templates (`installCRDs`), so `helm upgrade` upgrades them; they carry",
    "  `helm.sh/resource-policy: keep`, so `helm uninstall` leaves them and every object of the kinds.",
    "- RBAC: a ClusterRole when `watchNamespaces` is empty, a Role per namespace otherwise; Secrets",
    "  are only read by name (`get`), never listed or watched. `<fullname>-view` and `<fullname>-edit`",
    "  join Kubernetes' view, edit and admin roles.",
    "- The pods run as non-root with a read-only root filesystem (emptyDirs for /tmp and the git",
    "  cache), all capabilities dropped and seccomp RuntimeDefault; 2 replicas with leader election.",
    "- `helm test` checks that the controller Service answers `/readyz`.",
    "",
    "## Values",
    "",
    "| Key | Type | Default | Description |",
    "| --- | --- | --- | --- |",
    ...rows.map(
      (r) => `| \`${r.key}\` | ${r.type} | \`${cell(r.default)}\` | ${cell(r.description)} |`,
    ),
    "",
  ].join("\n");
}

/** Every generated file of the chart, rendered from crds/ and values.yaml. */
export async function renderChartFiles(): Promise<ChartFile[]> {
  const files: ChartFile[] = [];
  for (const name of (await readdir(crdDirectory)).filter((f) => f.endsWith(".yaml")).sort()) {
    const text = await readFile(join(crdDirectory, name), "utf8");
    files.push({
      path: `charts/llmops/templates/crds/${name}`,
      content: renderCrdTemplate(`crds/${name}`, text),
    });
  }
  const values = await readFile(join(chartDirectory, "values.yaml"), "utf8");
  const chart = parseDocument(
    await readFile(join(chartDirectory, "Chart.yaml"), "utf8"),
  ).toJSON() as {
    version: string;
    appVersion: string;
  };
  // Formatted as `npm run lint` checks it (prettier aligns the table).
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(join(repoRoot, ".prettierrc.json"))) ?? {};
  const readme = renderChartReadme(valuesTable(values, "charts/llmops/values.yaml"), chart);
  files.push({
    path: "charts/llmops/README.md",
    content: await prettier.format(readme, { ...options, parser: "markdown" }),
  });
  return files;
}

async function main(args: string[]): Promise<number> {
  const files = await renderChartFiles();
  if (args.includes("--check")) {
    let stale = 0;
    for (const f of files) {
      const current = await readFile(join(repoRoot, f.path), "utf8").catch(() => "");
      if (current !== f.content) {
        process.stderr.write(`stale: ${f.path}\n`);
        stale++;
      }
    }
    if (stale > 0) process.stderr.write("run `npm run generate:chart` and commit the result\n");
    return stale === 0 ? 0 : 1;
  }
  await mkdir(chartCrdDirectory, { recursive: true });
  const keep = new Set(files.map((f) => f.path));
  for (const name of await readdir(chartCrdDirectory)) {
    if (!keep.has(`charts/llmops/templates/crds/${name}`)) await rm(join(chartCrdDirectory, name));
  }
  for (const f of files) await writeFile(join(repoRoot, f.path), f.content);
  process.stdout.write(`wrote ${String(files.length)} chart files\n`);
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
