import { describe, expect, it } from "vitest";
import { checkObjectMeta } from "./object-meta.js";
import type { Json } from "./structural.js";

function errors(metadata: Json | undefined, namespaced = true): string[] {
  return checkObjectMeta(metadata, { namespaced })
    .filter((p) => p.severity === "error")
    .map((p) => p.path.join("."));
}

describe("checkObjectMeta", () => {
  it.each<[string, Json | undefined, string[]]>([
    ["a plain name", { name: "support-triage" }, []],
    ["a dotted name", { name: "triage.v2" }, []],
    ["no metadata", undefined, ["metadata"]],
    ["no name", { labels: {} }, ["metadata.name"]],
    ["upper case", { name: "Triage" }, ["metadata.name"]],
    ["underscore", { name: "a_b" }, ["metadata.name"]],
    ["leading dash", { name: "-a" }, ["metadata.name"]],
    ["254 characters", { name: "a".repeat(254) }, ["metadata.name"]],
    ["a namespace that is not a label", { name: "a", namespace: "a.b" }, ["metadata.namespace"]],
    [
      "label keys with a prefix",
      { name: "a", labels: { "app.kubernetes.io/name": "x", team: "" } },
      [],
    ],
    [
      "a label key with two slashes",
      { name: "a", labels: { "a/b/c": "x" } },
      ["metadata.labels.a/b/c"],
    ],
    [
      "a label value with a space",
      { name: "a", labels: { team: "a b" } },
      ["metadata.labels.team"],
    ],
    [
      "a label value of 64 characters",
      { name: "a", labels: { team: "x".repeat(64) } },
      ["metadata.labels.team"],
    ],
    ["a number as a label value", { name: "a", labels: { v: 2 } }, ["metadata.labels.v"]],
    [
      "annotations may hold any text",
      { name: "a", annotations: { "example.com/note": "a b: c" } },
      [],
    ],
    ["an unknown metadata field", { name: "a", label: {} }, ["metadata.label"]],
    [
      "a finalizer that is not a qualified name",
      { name: "a", finalizers: ["a b"] },
      ["metadata.finalizers.0"],
    ],
  ])("%s", (_name, metadata, want) => {
    expect(errors(metadata)).toEqual(want);
  });

  it("rejects a namespace on a cluster-scoped kind", () => {
    expect(errors({ name: "a", namespace: "b" }, false)).toEqual(["metadata.namespace"]);
  });

  it("warns about fields the server owns", () => {
    const problems = checkObjectMeta(
      { name: "a", resourceVersion: "12", uid: "x" },
      { namespaced: true },
    );
    expect(problems.map((p) => `${p.severity} ${p.path.join(".")}`)).toEqual([
      "warning metadata.resourceVersion",
      "warning metadata.uid",
    ]);
  });
});
