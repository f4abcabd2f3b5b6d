import { describe, expect, it } from "vitest";
import type { OpenApiSchema, ValidationRule } from "../schema.js";
import { createCelRuleChecker, toCelValue } from "./cel-rules.js";
import type { Json } from "./structural.js";

function check(rules: ValidationRule[], value: Json, properties: OpenApiSchema["properties"] = {}) {
  const schema: OpenApiSchema = {
    type: "object",
    properties: { spec: { type: "object", properties, "x-kubernetes-validations": rules } },
  };
  return createCelRuleChecker().check({ spec: value }, schema);
}

const numbers: OpenApiSchema["properties"] = {
  count: { type: "integer" },
  ratio: { type: "number" },
  list: { type: "array", items: { type: "integer" } },
  either: { "x-kubernetes-int-or-string": true },
};

describe("toCelValue", () => {
  it("types values by schema as the apiserver does: integer → int, number → double", () => {
    expect(
      toCelValue({ count: 2, ratio: 1, either: 3 }, { type: "object", properties: numbers }),
    ).toEqual({
      count: 2n,
      ratio: 1,
      either: 3n,
    });
  });

  it("shows only name and generateName of the root metadata", () => {
    const root = toCelValue(
      { metadata: { name: "a", labels: { x: "y" } } },
      { type: "object", properties: {} },
      true,
    );
    expect(root).toEqual({ metadata: { name: "a" } });
  });
});

describe("CEL rules", () => {
  it.each<[string, string, Json, boolean]>([
    ["int arithmetic", "self.count + 1 == 3", { count: 2 }, true],
    ["number written as 1 is a double", "self.ratio == 1.0", { ratio: 1 }, true],
    ["sum() of a list", "self.list.sum() == 6", { list: [1, 2, 3] }, true],
    ["isSorted() true", "self.list.isSorted()", { list: [1, 1, 2] }, true],
    ["isSorted() false", "self.list.isSorted()", { list: [2, 1] }, false],
    ["min() and max()", "self.list.min() == 1 && self.list.max() == 3", { list: [3, 1, 2] }, true],
    ["indexOf()", "self.list.indexOf(2) == 1", { list: [1, 2] }, true],
    ["int-or-string as int", "type(self.either) == int && self.either > 2", { either: 3 }, true],
    ["int-or-string as string", "type(self.either) == string", { either: "auto" }, true],
    ["has() on an absent field", "!has(self.count)", {}, true],
    ["strings extension", "'a,b'.split(',').size() == 2", {}, true],
    ["matches()", "'abc'.matches('^a.c$')", {}, true],
  ])("%s", (_name, rule, value, passes) => {
    expect(check([{ rule, message: "no" }], value, numbers)).toHaveLength(passes ? 0 : 1);
  });

  it("reports the rule's message at its fieldPath", () => {
    expect(
      check(
        [{ rule: "self.count > 5", message: "count too small", fieldPath: ".count" }],
        { count: 1 },
        numbers,
      ),
    ).toEqual([
      expect.objectContaining({
        path: ["spec", "count"],
        message: "count too small",
        source: "cel",
      }),
    ]);
  });

  it("uses messageExpression when it yields a string", () => {
    const [problem] = check(
      [{ rule: "self.count > 5", messageExpression: "'got ' + string(self.count)" }],
      { count: 1 },
      numbers,
    );
    expect(problem?.message).toBe("got 1");
  });

  it("counts a runtime error (a missing key) as a failed rule, like the apiserver", () => {
    const [problem] = check([{ rule: "self.count > 5", message: "count too small" }], {}, numbers);
    expect(problem?.message).toMatch(/count too small \(the rule .* failed to evaluate/);
  });

  it("reports a rule that does not parse instead of throwing", () => {
    const [problem] = check([{ rule: "self.(" }], {}, numbers);
    expect(problem?.message).toMatch(/does not compile/);
  });
});
