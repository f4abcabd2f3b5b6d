import { describe, expect, it } from "vitest";
import { compileJsonSchema, jsonSchemaValid } from "./json-schema.js";
import { EvaluatorConfigError } from "./types.js";

const schema = {
  type: "object",
  properties: { label: { enum: ["bug", "feature"] }, email: { type: "string", format: "email" } },
  required: ["label"],
  additionalProperties: false,
};

describe("jsonSchema", () => {
  const validate = compileJsonSchema(schema);
  const run = (output: string | null) =>
    jsonSchemaValid({ item: { id: "j" }, output }, { validate });

  it.each([
    { output: '{"label": "bug"}', want: true },
    { output: '{"label": "bug", "email": "a@b.co"}', want: true },
    { output: '{"label": "question"}', want: false },
    { output: '{"label": "bug", "email": "nope"}', want: false },
    { output: '{"label": "bug", "extra": 1}', want: false },
    { output: "label: bug", want: false },
    { output: null, want: false },
  ])("$output → $want", ({ output, want }) => {
    expect(run(output).passed).toBe(want);
  });

  it("says what is wrong", () => {
    expect(run('{"label": "question"}').detail?.["errors"]).toStrictEqual([
      "/label must be equal to one of the allowed values",
    ]);
    expect(String(run("label: bug").detail?.["reason"])).toMatch(/^not JSON/);
  });

  it("accepts draft-07 schemas", () => {
    const v = compileJsonSchema({
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "number",
    });
    expect(jsonSchemaValid({ item: { id: "j" }, output: "3" }, { validate: v }).passed).toBe(true);
  });

  it("rejects a schema that does not compile", () => {
    expect(() => compileJsonSchema({ type: "no-such-type" })).toThrow(EvaluatorConfigError);
  });
});
