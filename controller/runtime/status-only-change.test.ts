import { describe, expect, it } from "vitest";
import type { StoredObject } from "../kube/resources.js";
import { statusOnlyChange } from "./manager.js";

const base: StoredObject = {
  apiVersion: "llmops.dev/v1alpha1",
  kind: "Prompt",
  metadata: {
    name: "p",
    namespace: "ns",
    uid: "u",
    resourceVersion: "1",
    generation: 3,
    labels: { a: "1" },
    annotations: { "llmops.dev/revision": "abc" },
    finalizers: ["f"],
  },
  status: { version: 1 },
};

describe("statusOnlyChange", () => {
  const change = (patch: (o: StoredObject) => void): StoredObject => {
    const copy = structuredClone(base);
    copy.metadata.resourceVersion = "2";
    patch(copy);
    return copy;
  };
  it.each([
    ["status only", (o: StoredObject) => (o.status = { version: 2 }), true],
    ["a new generation (spec change)", (o: StoredObject) => (o.metadata.generation = 4), false],
    ["a label", (o: StoredObject) => (o.metadata.labels = { a: "2" }), false],
    [
      "an annotation (e.g. a new git revision)",
      (o: StoredObject) => (o.metadata.annotations = { "llmops.dev/revision": "def" }),
      false,
    ],
    ["finalizers", (o: StoredObject) => (o.metadata.finalizers = []), false],
    [
      "deletion",
      (o: StoredObject) => (o.metadata.deletionTimestamp = "2026-11-22T00:00:00Z"),
      false,
    ],
  ])("%s → %s", (_name, patch, want) => {
    expect(statusOnlyChange(base, change(patch))).toBe(want);
  });
  it("kinds without a generation always count as changed", () => {
    const cm = structuredClone(base);
    delete cm.metadata.generation;
    expect(statusOnlyChange(cm, structuredClone(cm))).toBe(false);
  });
});
