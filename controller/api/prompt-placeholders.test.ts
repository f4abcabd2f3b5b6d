import { describe, expect, it } from "vitest";
import { templatePlaceholders, undeclaredPlaceholders } from "./prompt-placeholders.js";

describe("templatePlaceholders", () => {
  it.each<[string, string[]]>([
    ["Hello {{name}}!", ["name"]],
    ["{{ spaced }} and {{{raw}}} and {{& amp}}", ["spaced", "raw", "amp"]],
    ["{{user.name}}", ["user"]],
    ["{{! a comment }}{{> partial}}{{=<% %>=}}", []],
    ["{{#items}}{{title}} by {{author}}{{/items}} for {{reader}}", ["items", "reader"]],
    ["{{^empty}}none{{/empty}}", ["empty"]],
  ])("%s", (text, names) => {
    expect(templatePlaceholders(text).map((p) => p.name)).toEqual(names);
  });
});

describe("undeclaredPlaceholders", () => {
  it("lists each undeclared name once per text, with the field that uses it", () => {
    const prompt = {
      spec: {
        template: { messages: [{ content: "{{a}} {{b}} {{b}}" }, { content: "{{c}}" }] },
        variables: [{ name: "a" }],
      },
    };
    expect(undeclaredPlaceholders(prompt)).toEqual([
      { path: ["spec", "template", "messages", 0, "content"], name: "b" },
      { path: ["spec", "template", "messages", 1, "content"], name: "c" },
    ]);
  });
});
