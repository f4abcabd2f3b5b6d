import { describe, expect, it } from "vitest";
import type { Prompt } from "../api/generated/index.js";
import { promptContentHash } from "./content.js";
import { renderPrompt, selectPromptVersion } from "./render.js";

const spec: Prompt["spec"] = {
  template: {
    messages: [
      { role: "system", content: "You triage {{product}} tickets." },
      { role: "user", content: "{{ticket}} (priority {{priority}}, vip {{vip}}) {{meta}}" },
    ],
  },
  variables: [
    { name: "product", default: "Acme" },
    { name: "ticket", required: true },
    { name: "priority", type: "integer", required: true },
    { name: "vip", type: "boolean", required: false },
    { name: "meta", type: "json", required: false },
  ],
  model: { name: "gpt-4o-mini" },
  labels: ["staging"],
};

const prompt: Prompt = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  metadata: { name: "triage", namespace: "team-a" },
  spec,
  status: {
    version: 3,
    contentHash: promptContentHash(spec),
    history: [
      { version: 3, contentHash: promptContentHash(spec), labels: ["staging"] },
      { version: 2, contentHash: "sha256:two", labels: ["production"] },
      { version: 1, contentHash: "sha256:one" },
    ],
  },
};

describe("selectPromptVersion", () => {
  const rows = [
    { name: "live", selector: { live: true } as const, want: { version: 3, live: true } },
    { name: "live by label", selector: { label: "staging" }, want: { version: 3, live: true } },
    {
      name: "earlier by label",
      selector: { label: "production" },
      want: { version: 2, live: false, contentHash: "sha256:two", labels: ["production"] },
    },
    { name: "by number", selector: { version: 1 }, want: { version: 1, live: false, labels: [] } },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(selectPromptVersion(prompt, row.selector)).toMatchObject({ ok: true, ...row.want });
    });
  }
  it("names what exists when a version or label does not", () => {
    expect(selectPromptVersion(prompt, { version: 9 })).toMatchObject({
      status: 404,
      message: "Prompt team-a/triage has no version 9; versions: 3, 2, 1",
    });
    expect(selectPromptVersion(prompt, { label: "canary" })).toMatchObject({
      status: 404,
      code: "LabelNotFound",
    });
  });
  it("is unavailable while the live spec is not versioned", () => {
    const edited = { ...prompt, spec: { ...spec, model: { name: "other" } } };
    expect(selectPromptVersion(edited, { live: true })).toMatchObject({ status: 503 });
  });
});

describe("renderPrompt", () => {
  it("fills variables by type, with defaults; json as JSON text", () => {
    const r = renderPrompt(
      spec,
      { ticket: "Login fails", priority: 2, vip: true, meta: { a: [1] } },
      "x",
    );
    expect(r).toEqual({
      ok: true,
      messages: [
        { role: "system", content: "You triage Acme tickets." },
        { role: "user", content: 'Login fails (priority 2, vip true) {"a":[1]}' },
      ],
    });
  });
  it("names missing, undeclared and mistyped variables, each with its field", () => {
    const r = renderPrompt(
      spec,
      { ticket: 5, priority: 1.5, tone: "calm" },
      "Prompt team-a/triage version 3",
    );
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems;
    expect(problems.map((p) => [p.field, p.code])).toEqual([
      ["variables.tone", "UndeclaredVariable"],
      ["variables.ticket", "InvalidVariableType"],
      ["variables.priority", "InvalidVariableType"],
    ]);
    expect(problems[0]?.message).toBe(
      "variables.tone: Prompt team-a/triage version 3 does not declare tone; declared: product, ticket, priority, vip, meta",
    );
    const missing = renderPrompt(spec, { priority: 1 }, "P");
    expect(missing.ok ? [] : missing.problems).toEqual([
      {
        field: "variables.ticket",
        code: "MissingVariable",
        message: "variables.ticket is required by P and was not given",
      },
    ]);
  });
  it("renders a text template as one user message, unescaped", () => {
    const r = renderPrompt(
      { template: { text: "Say <{{x}}> & go" }, variables: [{ name: "x" }], model: { name: "m" } },
      { x: "a&b" },
      "P",
    );
    expect(r).toEqual({ ok: true, messages: [{ role: "user", content: "Say <a&b> & go" }] });
  });
});
