import { describe, expect, it } from "vitest";
import { parseManifestSource } from "./yaml-source.js";

function only(text: string): unknown {
  const parsed = parseManifestSource("x.yaml", text);
  expect(parsed.errors.filter((e) => e.severity === "error")).toEqual([]);
  expect(parsed.objects).toHaveLength(1);
  return parsed.objects[0]?.value;
}

describe("parseManifestSource reads YAML as kubectl does", () => {
  it.each([
    ["yes", true],
    ["on", true],
    ["n", false],
    ["Off", false],
    ["0777", 511],
    ["0x1F", 31],
    ["1_000", 1000],
    ["1.0", 1],
    ["2001-12-14", "2001-12-14"],
    ["1:20", "1:20"],
    ["~", null],
    ['"yes"', "yes"],
  ])("%s → %j", (scalar, value) => {
    expect(only(`v: ${scalar}\n`)).toEqual({ v: value });
  });

  it("keeps the last of a key written twice, with a warning at the first", () => {
    const parsed = parseManifestSource("x.yaml", "a: 1\nb: 2\na: 3\n");
    expect(parsed.objects[0]?.value).toEqual({ a: 3, b: 2 });
    expect(parsed.errors).toEqual([
      expect.objectContaining({ severity: "warning", position: { line: 1, col: 1 } }),
    ]);
  });

  it("skips empty documents and expands v1 Lists", () => {
    const parsed = parseManifestSource(
      "x.yaml",
      "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n  - {kind: A}\n  - kind: B\n---\n",
    );
    expect(parsed.objects.map((o) => o.value)).toEqual([{ kind: "A" }, { kind: "B" }]);
    expect(parsed.objects.map((o) => o.basePath)).toEqual([
      ["items", 0],
      ["items", 1],
    ]);
    expect(parsed.objects[1]?.position).toEqual({ line: 8, col: 5 });
  });

  it("reports malformed YAML once per document, and .inf/.nan, which JSON cannot hold", () => {
    const parsed = parseManifestSource("x.yaml", "a: [1, 2\nb: {c\n---\nx: .inf\n---\nok: 1\n");
    expect(parsed.errors.map((e) => e.message.slice(0, 20))).toEqual([
      "malformed YAML: Flow",
      "the document holds .",
    ]);
    expect(parsed.objects.map((o) => o.value)).toEqual([{ ok: 1 }]);
  });

  it.each([
    {
      name: "a double-quoted value",
      text: 'apiVersion: v1\nkind: Prompt\nmetadata:\n  name: "abc\n  namespace: x\n',
      want: { line: 4, col: 9 },
      quote: '"',
    },
    { name: "at the very end, no newline", text: 'a: "abc', want: { line: 1, col: 4 }, quote: '"' },
    {
      name: "a single-quoted value",
      text: "a: 'abc\nb: c\n",
      want: { line: 1, col: 4 },
      quote: "'",
    },
    {
      name: "after closed quotes, in a later document",
      text: '---\nx: 1\n---\na: "ok"\nb: "bad\nc: d\n',
      want: { line: 5, col: 4 },
      quote: '"',
    },
    { name: "a list item", text: 'a:\n  - "x\n  - y\n', want: { line: 2, col: 5 }, quote: '"' },
    { name: "a key", text: '"key: 1\n', want: { line: 1, col: 1 }, quote: '"' },
  ])("points at the quote that is never closed: $name", ({ text, want, quote }) => {
    const parsed = parseManifestSource("x.yaml", text);
    expect(parsed.errors).toEqual([
      {
        file: "x.yaml",
        position: want,
        message: `malformed YAML: the ${quote} opened here is never closed; add the closing ${quote}`,
        severity: "error",
      },
    ]);
    // The position is on a line the file has.
    expect(want.line).toBeLessThanOrEqual(text.split("\n").length);
  });

  it("locates keys, list items, merged keys, and the parent of a missing field", () => {
    const text = [
      "apiVersion: v1", // 1
      "base: &b", // 2
      "  inherited: 1", // 3
      "spec:", // 4
      "  list:", // 5
      "    - name: a", // 6
      "    - name: b", // 7
      "      value: |", // 8
      "        text", // 9
      "  merged:", // 10
      "    <<: *b", // 11
      "    own: 2", // 12
    ].join("\n");
    const object = parseManifestSource("x.yaml", text).objects[0];
    expect(object?.locate([])).toEqual({ line: 1, col: 1 });
    expect(object?.locate(["spec", "list", 1])).toEqual({ line: 7, col: 7 });
    expect(object?.locate(["spec", "list", 1, "value"])).toEqual({ line: 8, col: 7 });
    expect(object?.locate(["spec", "list", 1, "missing"])).toEqual({ line: 7, col: 7 });
    expect(object?.locate(["spec", "list", 5])).toEqual({ line: 5, col: 3 });
    expect(object?.locate(["spec", "merged", "own"])).toEqual({ line: 12, col: 5 });
    expect(object?.locate(["spec", "merged", "inherited"])).toEqual({ line: 11, col: 5 });
  });
});
