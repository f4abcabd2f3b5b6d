import { describe, expect, it } from "vitest";
import { loadCrds } from "../api/crds.js";
import { createObjectValidator } from "../api/validation/object-validator.js";
import { comparable, fieldChanges } from "./field-diff.js";
import { isManifestPath, loadRevision } from "./revision.js";

describe("isManifestPath", () => {
  it.each([
    ["specs/prompts/a.yaml", ["specs/"], true],
    ["specs/a.yml", ["specs"], true],
    ["specs/a.json", ["./specs/"], true],
    ["specs/README.md", ["specs/"], false],
    ["other/a.yaml", ["specs/"], false],
    ["specsx/a.yaml", ["specs"], false],
    ["specs/.hidden/a.yaml", ["specs/"], false],
    ["specs/node_modules/a.yaml", ["specs/"], false],
    ["a.yaml", ["."], true],
    ["team/specs/a.yaml", ["specs/", "team/"], true],
  ])("%s under %j → %s", (file, paths, want) => {
    expect(isManifestPath(file, paths)).toBe(want);
  });
});

const prompt = (name: string, extra = "") => `apiVersion: llmops.dev/v1alpha1
kind: Prompt
metadata:
  name: ${name}
spec:
  template:
    text: "Hello {{who}}"
  variables:
    - name: who
  model:
    name: gpt-4o-mini${extra}
`;

describe("loadRevision", () => {
  it("annotates objects, defaults the namespace and skips other APIs", async () => {
    const validator = createObjectValidator(await loadCrds());
    const loaded = loadRevision(
      [
        { file: "specs/a.yaml", text: prompt("a") },
        { file: "specs/cm.yaml", text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n" },
      ],
      validator,
      { source: "main", revision: "abc", defaultNamespace: "team" },
    );
    expect(loaded.errors).toEqual([]);
    expect(loaded.objects).toHaveLength(1);
    expect(loaded.objects[0]?.object.metadata).toMatchObject({
      name: "a",
      namespace: "team",
      labels: { "llmops.dev/source": "main" },
      annotations: {
        "llmops.dev/source": "main",
        "llmops.dev/revision": "abc",
        "llmops.dev/path": "specs/a.yaml",
      },
    });
    expect(loaded.skipped).toEqual([
      { file: "specs/cm.yaml", line: 1, kind: "ConfigMap", name: "x" },
    ]);
  });
  it("returns no objects at all when any file is invalid", async () => {
    const validator = createObjectValidator(await loadCrds());
    const loaded = loadRevision(
      [
        { file: "specs/a.yaml", text: prompt("a") },
        { file: "specs/b.yaml", text: prompt("b", "\n    temperature: hot") },
      ],
      validator,
      { source: "main", revision: "abc", defaultNamespace: "team" },
    );
    expect(loaded.objects).toEqual([]);
    expect(loaded.errors[0]).toMatchObject({ file: "specs/b.yaml", line: 12 });
  });
  it("the content hash ignores gitsync's own annotations", async () => {
    const validator = createObjectValidator(await loadCrds());
    const at = (revision: string) =>
      loadRevision([{ file: "specs/a.yaml", text: prompt("a") }], validator, {
        source: "main",
        revision,
        defaultNamespace: "team",
      }).objects[0]?.hash;
    expect(at("one")).toBe(at("two"));
  });
});

describe("fieldChanges and comparable", () => {
  it.each([
    [{ a: 1 }, { a: 1 }, []],
    [{ a: 1 }, { a: 2 }, [{ path: "a", op: "change", from: 1, to: 2 }]],
    [{ a: { b: [1] } }, { a: { b: [1, 2] } }, [{ path: "a.b[1]", op: "add", to: 2 }]],
    [{ a: 1, b: 2 }, { a: 1 }, [{ path: "b", op: "remove", from: 2 }]],
  ])("%j → %j", (before, after, want) => {
    expect(fieldChanges(before, after)).toEqual(want);
  });
  it("ignores server bookkeeping, status and per-commit annotations", () => {
    const live = {
      metadata: {
        name: "a",
        resourceVersion: "1",
        managedFields: [],
        annotations: { "llmops.dev/revision": "old", "llmops.dev/path": "a.yaml", team: "x" },
      },
      spec: { v: 1 },
      status: { version: 3 },
    };
    const dry = {
      metadata: {
        name: "a",
        resourceVersion: "2",
        annotations: { "llmops.dev/revision": "new", "llmops.dev/path": "b.yaml", team: "x" },
      },
      spec: { v: 1 },
    };
    expect(fieldChanges(comparable(live), comparable(dry))).toEqual([]);
  });
});
