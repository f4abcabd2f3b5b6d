import { describe, expect, it } from "vitest";
import type { OpenApiSchema } from "../schema.js";
import { compileSchemaCheck, createAjv, toJsonSchema } from "./schema-validator.js";
import type { Json } from "./structural.js";

describe("toJsonSchema", () => {
  it("translates OpenAPI's boolean exclusive bounds", () => {
    expect(
      toJsonSchema({ type: "number", minimum: 0, exclusiveMinimum: true, maximum: 1 }),
    ).toEqual({
      type: "number",
      exclusiveMinimum: 0,
      maximum: 1,
    });
  });

  it("makes int-or-string an integer or a string, and keeps its pattern", () => {
    expect(toJsonSchema({ "x-kubernetes-int-or-string": true, pattern: "^a$" })).toEqual({
      type: ["integer", "string"],
      pattern: "^a$",
    });
  });

  it("drops Kubernetes keywords and formats the apiserver does not check", () => {
    expect(
      toJsonSchema({
        type: "string",
        format: "made-up",
        "x-kubernetes-validations": [{ rule: "true" }],
        default: "a",
      }),
    ).toEqual({ type: "string" });
  });
});

function check(schema: OpenApiSchema, value: Json) {
  const root: OpenApiSchema = { type: "object", properties: { spec: schema } };
  return compileSchemaCheck(createAjv(), root)({ spec: value });
}

describe("schema check", () => {
  it.each<[string, OpenApiSchema, Json, RegExp]>([
    [
      "a quoted number",
      { type: "integer" },
      "200",
      /must be a whole number, not the string "200"; remove the quotes/,
    ],
    ["a bare number where text is wanted", { type: "string" }, 3, /quote it \("3"\)/],
    ["a YAML null", { type: "string" }, null, /nothing after the colon is null/],
    [
      "an enum",
      { type: "string", enum: ["a", "b"] },
      "c",
      /unsupported value "c"; use one of: a, b/,
    ],
    [
      "an exclusive bound",
      { type: "number", minimum: 0, exclusiveMinimum: true },
      0,
      /greater than 0/,
    ],
    [
      "a pattern, with the field's description",
      { type: "string", pattern: "^x$", description: "An x. More." },
      "y",
      /must match \^x\$ \(An x\)/,
    ],
    ["a date-time", { type: "string", format: "date-time" }, "yesterday", /not a valid date-time/],
    ["a nullable field accepts null", { type: "string", nullable: true, enum: ["a"] }, null, /^$/],
  ])("%s", (_name, schema, value, message) => {
    const result = check(schema, value);
    expect(result.problems.map((p) => p.message).join("\n")).toMatch(message);
  });

  it("points a missing required field at its own path", () => {
    const result = check(
      { type: "object", required: ["name"], properties: { name: { type: "string" } } },
      {},
    );
    expect(result.problems).toEqual([
      expect.objectContaining({ path: ["spec", "name"], rule: "required" }),
    ]);
    expect(result.blocking).toBe(false);
  });

  it("marks type and enum errors as blocking (CEL rules are skipped then)", () => {
    expect(check({ type: "integer" }, "x").blocking).toBe(true);
    expect(check({ type: "string", enum: ["a"] }, "x").blocking).toBe(true);
    expect(check({ type: "string", maxLength: 1 }, "xx").blocking).toBe(false);
  });
});
