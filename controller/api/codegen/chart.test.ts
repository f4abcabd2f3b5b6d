import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderChartFiles, renderCrdTemplate, valuesTable } from "./chart.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

describe("the chart's generated files", () => {
  it("are current: the CRD templates match crds/ and the README matches values.yaml", async () => {
    const files = await renderChartFiles();
    expect(files.map((f) => f.path)).toEqual([
      "charts/llmops/templates/crds/llmops.dev_experiments.yaml",
      "charts/llmops/templates/crds/llmops.dev_modeldeployments.yaml",
      "charts/llmops/templates/crds/llmops.dev_prompts.yaml",
      "charts/llmops/templates/crds/llmops.dev_trainingjobs.yaml",
      "charts/llmops/README.md",
    ]);
    for (const f of files) {
      const committed = await readFile(join(repoRoot, f.path), "utf8").catch(() => "");
      expect(committed, `${f.path} is stale: run npm run generate:chart`).toBe(f.content);
    }
  });
});

describe("renderCrdTemplate", () => {
  const crd = [
    "# a comment that stays in crds/",
    "apiVersion: apiextensions.k8s.io/v1",
    "kind: CustomResourceDefinition",
    "metadata:",
    "  name: widgets.example.dev",
    "  labels:",
    "    app.kubernetes.io/name: llmops",
    "spec:",
    "  group: example.dev",
    "  description: uses {{name}} placeholders",
    "",
  ].join("\n");

  it("keeps spec as written, escapes template actions, adds the keep annotation behind installCRDs", () => {
    const out = renderCrdTemplate("crds/widgets.yaml", crd);
    expect(out).toContain("{{- if .Values.installCRDs }}\n");
    expect(out).toContain("  name: widgets.example.dev\n");
    expect(out).toContain("    app.kubernetes.io/name: llmops\n");
    expect(out).toContain("    helm.sh/resource-policy: keep\n");
    expect(out).toContain('uses {{ "{{" }}name{{ "}}" }} placeholders');
    expect(out).not.toContain("a comment that stays");
    expect(out.trimEnd().endsWith("{{- end }}")).toBe(true);
  });

  it("refuses a file that is not a CRD", () => {
    expect(() =>
      renderCrdTemplate("crds/x.yaml", "kind: ConfigMap\nmetadata: {name: x}\n"),
    ).toThrow("crds/x.yaml: not a CustomResourceDefinition");
  });
});

describe("valuesTable", () => {
  const rows = [
    {
      name: "documented keys are rows, sections without a comment are descended into",
      values:
        "# -- top\na: 1\nsec:\n  # -- first\n  b: [x]\n  # -- second, on\n  # two lines\n  c: {}\n",
      want: [
        { key: "a", type: "int", default: "1", description: "top" },
        { key: "sec.b", type: "list", default: '["x"]', description: "first" },
        { key: "sec.c", type: "object", default: "{}", description: "second, on two lines" },
      ],
    },
    {
      name: "a documented mapping is one row with the whole mapping as default",
      values: "# header\n\n# -- resources\nres:\n  limits:\n    memory: 1Gi\n",
      want: [
        {
          key: "res",
          type: "object",
          default: '{"limits":{"memory":"1Gi"}}',
          description: "resources",
        },
      ],
    },
  ];
  it.each(rows)("$name", ({ values, want }) => {
    expect(valuesTable(values)).toEqual(want);
  });

  it("names an undocumented value", () => {
    expect(() => valuesTable("sec:\n  # -- ok\n  a: 1\n  b: 2\n", "v.yaml")).toThrow(
      'v.yaml: sec.b has no "# -- " description comment above it',
    );
  });
});
