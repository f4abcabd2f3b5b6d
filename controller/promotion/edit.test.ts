import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import type { PromptSpec } from "../api/generated/index.js";
import { promptContentHash } from "../prompts/content.js";
import type { PromptSnapshotSpec } from "../prompts/snapshots.js";
import { applyPromotionEdit, PromotionEditError, type PromotionEdit } from "./edit.js";

const triage = `# The triage prompt: owned by the support team.
apiVersion: llmops.dev/v1alpha1
kind: Prompt
metadata:
  name: triage # do not rename: apps read prompt-triage
spec:
  template:
    messages:
      - role: system
        content: You triage tickets for {{product}}. # the v2 wording
      - role: user
        content: "{{ticket}}"
  variables:
    - name: product
      default: Acme
    - name: ticket
      required: true
  model:
    name: gpt-4o-mini
    parameters:
      temperature: 0 # deterministic
  labels: [staging]
`;

const other = `---
apiVersion: llmops.dev/v1alpha1
kind: Prompt
metadata:
  name: other
spec:
  template:
    text: "hi"
  model:
    name: m
  labels:
  - production   # flush with its key, kubectl style
`;

const configMap = `---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated   # keep this comment
data:
  a: "1"
`;

const v1: PromptSnapshotSpec = {
  template: {
    messages: [
      { role: "system", content: "You sort tickets." },
      { role: "user", content: "{{ticket}}" },
    ],
  },
  variables: [{ name: "ticket", required: true }],
  model: { name: "gpt-4o", parameters: { temperature: 0 } },
  responseFormat: { type: "json_schema", name: "triage", schema: { type: "object" } },
};

function docs(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
}
function specOf(text: string, name: string): PromptSpec {
  const found = docs(text).find(
    (d) => (d.metadata as { name?: string } | undefined)?.name === name,
  );
  return (found as { spec: PromptSpec }).spec;
}

describe("applyPromotionEdit", () => {
  const file = "specs/prompts/triage.yaml";
  const base = { file, promptName: "triage", label: "production" };

  it.each<{ name: string; edit: Omit<PromotionEdit, "file">; labels: string[]; changed: boolean }>([
    {
      name: "adds the label after the others",
      edit: { ...base, text: triage },
      labels: ["staging", "production"],
      changed: true,
    },
    {
      name: "a label already there: unchanged, same text",
      edit: { ...base, text: triage, label: "staging" },
      labels: ["staging"],
      changed: false,
    },
    {
      name: "no spec.labels: creates it",
      edit: { ...base, text: triage.replace("  labels: [staging]\n", "") },
      labels: ["production"],
      changed: true,
    },
    {
      name: "labels: null: becomes a list",
      edit: { ...base, text: triage.replace("[staging]", "") },
      labels: ["production"],
      changed: true,
    },
    {
      name: "a matching namespace in the file",
      edit: {
        ...base,
        namespace: "team-a",
        text: triage.replace("  name: triage", "  name: triage\n  namespace: team-a"),
      },
      labels: ["staging", "production"],
      changed: true,
    },
  ])("$name", ({ edit, labels, changed }) => {
    const result = applyPromotionEdit({ file, ...edit });
    expect(result.labels).toEqual(labels);
    expect(result.changed).toBe(changed);
    if (!changed) expect(result.text).toBe(edit.text);
    else expect(specOf(result.text, "triage").labels).toEqual(labels);
  });

  it("keeps comments, the other documents byte for byte, and the same label on other Prompts", () => {
    const text = configMap + "---\n" + triage + other;
    const result = applyPromotionEdit({ ...base, text });
    expect(result.changed).toBe(true);
    expect(result.text.startsWith(configMap)).toBe(true);
    expect(result.text.endsWith(other)).toBe(true);
    for (const comment of [
      "# The triage prompt: owned by the support team.",
      "# do not rename: apps read prompt-triage",
      "# the v2 wording",
      "# deterministic",
    ]) {
      expect(result.text).toContain(comment);
    }
    expect(specOf(result.text, "other").labels).toEqual(["production"]);
    // Content is untouched: the live version keeps its hash.
    expect(promptContentHash(specOf(result.text, "triage"))).toBe(
      promptContentHash(specOf(text, "triage")),
    );
  });

  it("only the named Prompt gets the label when another one is in the same file", () => {
    const result = applyPromotionEdit({
      ...base,
      promptName: "other",
      label: "canary",
      text: triage + other,
    });
    expect(specOf(result.text, "other").labels).toEqual(["production", "canary"]);
    expect(specOf(result.text, "triage").labels).toEqual(["staging"]);
    expect(result.text.startsWith(triage)).toBe(true);
    // kubectl-style flush sequences stay flush.
    expect(result.text).toMatch(
      /\n {2}labels:\n {2}- production +# flush with its key, kubectl style\n {2}- canary\n/,
    );
  });

  it("with a snapshot: writes that version's content exactly (hash matches) and removes what it lacks", () => {
    const withFormat = applyPromotionEdit({ ...base, text: triage, snapshot: v1 });
    const spec = specOf(withFormat.text, "triage");
    expect(promptContentHash(spec)).toBe(promptContentHash(v1 as PromptSpec));
    expect(spec.labels).toEqual(["staging", "production"]);
    expect(spec.responseFormat).toEqual(v1.responseFormat);
    // Unchanged parts keep their comments.
    expect(withFormat.text).toContain("temperature: 0 # deterministic");

    const { responseFormat: _dropped, ...withoutFormat } = v1;
    const back = applyPromotionEdit({ ...base, text: withFormat.text, snapshot: withoutFormat });
    expect(specOf(back.text, "triage").responseFormat).toBeUndefined();
    expect(promptContentHash(specOf(back.text, "triage"))).toBe(
      promptContentHash(withoutFormat as PromptSpec),
    );
  });

  it("a snapshot whose strings look like other types stays strings", () => {
    const snapshot: PromptSnapshotSpec = {
      template: { text: "true" },
      model: { name: "1.5" },
    };
    const result = applyPromotionEdit({ ...base, text: triage, snapshot });
    const spec = specOf(result.text, "triage");
    expect(spec.template.text).toBe("true");
    expect(spec.model.name).toBe("1.5");
    expect(spec.variables).toBeUndefined();
  });

  it("a snapshot equal to the file's content and a label already there: unchanged", () => {
    const spec = specOf(triage, "triage");
    const result = applyPromotionEdit({
      ...base,
      label: "staging",
      text: triage,
      snapshot: { template: spec.template, variables: spec.variables, model: spec.model },
    });
    expect(result).toEqual({ text: triage, changed: false, labels: ["staging"] });
  });

  it("keeps a file without a final newline that way", () => {
    const text = triage.replace(/\n$/, "");
    const result = applyPromotionEdit({ ...base, text });
    expect(result.text).toMatch(/labels: \[ ?staging, production ?\]$/);
    expect(parse(result.text)).toMatchObject({ spec: { labels: ["staging", "production"] } });
  });

  it("expectContentHash: labels the file's content only when it is the winning version", () => {
    const hash = promptContentHash(specOf(triage, "triage"));
    expect(applyPromotionEdit({ ...base, text: triage, expectContentHash: hash }).changed).toBe(
      true,
    );
    expect(() =>
      applyPromotionEdit({ ...base, text: triage, expectContentHash: "sha256:other" }),
    ).toThrow(/no longer holds the winning content/);
  });

  it.each<{ name: string; edit: Omit<PromotionEdit, "file">; code: string; message: RegExp }>([
    {
      name: "no such Prompt",
      edit: { ...base, promptName: "missing", text: triage },
      code: "NotFound",
      message: /specs\/prompts\/triage\.yaml: no document defines Prompt missing/,
    },
    {
      name: "another namespace",
      edit: {
        ...base,
        namespace: "team-b",
        text: triage.replace("  name: triage", "  name: triage\n  namespace: team-a"),
      },
      code: "NotFound",
      message: /no document defines Prompt team-b\/triage/,
    },
    {
      name: "twice",
      edit: { ...base, text: `${triage}---\n${triage}` },
      code: "Ambiguous",
      message: /defined 2 times/,
    },
    {
      name: "inside a List",
      edit: {
        ...base,
        text: "apiVersion: v1\nkind: List\nitems:\n  - kind: Prompt\n    metadata: {name: triage}\n",
      },
      code: "InList",
      message: /inside a kind: List/,
    },
    {
      name: "labels not a list",
      edit: { ...base, text: triage.replace("[staging]", "staging") },
      code: "InvalidLabels",
      message: /spec\.labels of Prompt triage is not a list/,
    },
    {
      name: "broken YAML",
      edit: { ...base, text: "kind: Prompt\nmetadata: [\n" },
      code: "InvalidYaml",
      message: /not valid YAML/,
    },
  ])("error: $name", ({ edit, code, message }) => {
    let caught: unknown;
    try {
      applyPromotionEdit({ file, ...edit });
    } catch (err: unknown) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PromotionEditError);
    expect((caught as PromotionEditError).code).toBe(code);
    expect((caught as PromotionEditError).file).toBe(file);
    expect((caught as Error).message).toMatch(message);
  });
});
