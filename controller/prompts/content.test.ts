import { describe, expect, it } from "vitest";
import type { PromptSpec } from "../api/generated/index.js";
import { checkTemplate, promptContentHash } from "./content.js";

const base: PromptSpec = {
  template: {
    messages: [
      { role: "system", content: "You triage support tickets for {{product}}." },
      { role: "user", content: "{{ticket}}" },
    ],
  },
  variables: [
    { name: "product", default: "Acme" },
    { name: "ticket", required: true },
  ],
  model: { name: "gpt-4o-mini" },
};

function withMessages(...contents: string[]): PromptSpec {
  return {
    ...base,
    template: { messages: contents.map((content) => ({ role: "user" as const, content })) },
  };
}

describe("checkTemplate", () => {
  const rows: { name: string; spec: PromptSpec; want: string[] }[] = [
    { name: "a sound chat template", spec: base, want: [] },
    {
      name: "an undeclared placeholder names the message",
      spec: withMessages("{{product}} {{ticket}} {{ticket_id}}"),
      want: [
        "spec.template.messages[0].content: uses {{ticket_id}}, which is not declared in spec.variables; add it to spec.variables or remove the placeholder",
      ],
    },
    {
      name: "a required variable the template never uses",
      spec: withMessages("{{product}}"),
      want: [
        "spec.variables[1]: required variable ticket is not used by the template; use {{ticket}} in the template, make it optional, or remove it",
      ],
    },
    {
      name: "an optional unused variable is fine",
      spec: withMessages("{{ticket}}"),
      want: [],
    },
    {
      name: "an unclosed section does not parse",
      spec: withMessages("{{ticket}} {{#product}} open"),
      want: ["spec.template.messages[0].content: does not parse as a mustache template"],
    },
    {
      name: "a text template",
      spec: { ...base, template: { text: "Summarise {{doc}}" }, variables: [] },
      want: [
        "spec.template.text: uses {{doc}}, which is not declared in spec.variables; add it to spec.variables or remove the placeholder",
      ],
    },
    {
      name: "fields inside a section are not top-level variables",
      spec: withMessages("{{ticket}} {{#product}}{{name}}{{/product}}"),
      want: [],
    },
    {
      name: "the same problem twice in one message is reported once",
      spec: withMessages("{{ticket}} {{x}} {{x}} {{product}}"),
      want: [
        "spec.template.messages[0].content: uses {{x}}, which is not declared in spec.variables; add it to spec.variables or remove the placeholder",
      ],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const got = checkTemplate(row.spec).map((p) => `${p.field}: ${p.message}`);
      expect(got).toHaveLength(row.want.length);
      row.want.forEach((want, i) => {
        expect(got[i]?.startsWith(want)).toBe(true);
      });
    });
  }
});

describe("promptContentHash", () => {
  it("ignores labels, publishing and history settings", () => {
    const relabelled: PromptSpec = {
      ...base,
      labels: ["production"],
      publish: { configMap: { name: "other" } },
      historyLimit: 5,
    };
    expect(promptContentHash(relabelled)).toBe(promptContentHash(base));
  });

  it("treats a spelled-out default the same as an omitted one", () => {
    const explicit: PromptSpec = {
      ...base,
      variables: [
        { name: "product", default: "Acme", type: "string", required: false },
        { name: "ticket", required: true, type: "string" },
      ],
    };
    expect(promptContentHash(explicit)).toBe(promptContentHash(base));
  });

  it("changes with the template, the model and its parameters", () => {
    const hashes = new Set([
      promptContentHash(base),
      promptContentHash(withMessages("{{ticket}} {{product}}!")),
      promptContentHash({ ...base, model: { name: "gpt-4o" } }),
      promptContentHash({
        ...base,
        model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      }),
    ]);
    expect(hashes.size).toBe(4);
  });
});
