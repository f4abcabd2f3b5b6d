import { describe, expect, it } from "vitest";
import { formatFieldPath, parseRuleFieldPath } from "./field-path.js";

describe("field paths", () => {
  it.each<[(string | number)[], string]>([
    [[], ""],
    [["spec", "variants", 1, "name"], "spec.variants[1].name"],
    [["metadata", "labels", "app.kubernetes.io/name"], "metadata.labels[app.kubernetes.io/name]"],
    [["spec", "x-y"], "spec.x-y"],
  ])("formats %j as %s", (path, text) => {
    expect(formatFieldPath(path)).toBe(text);
  });

  it.each<[string, (string | number)[]]>([
    [".spec.foo", ["spec", "foo"]],
    [".foo['a.b']", ["foo", "a.b"]],
    [".list[2].name", ["list", 2, "name"]],
  ])("parses the rule fieldPath %s", (text, path) => {
    expect(parseRuleFieldPath(text)).toEqual(path);
  });
});
