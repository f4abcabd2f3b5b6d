import { describe, expect, it } from "vitest";
import { DatasetError, finalizeItems, inlineItems, parseJsonLines } from "./items.js";

const source = "configmap/qa key dataset.jsonl";

describe("parseJsonLines", () => {
  it("reads items, skips blank lines, defaults ids to the index", () => {
    const text = '{"id":"a","vars":{"q":"1"},"expected":"2"}\n\n{"vars":{"q":"3"}}\n';
    expect(parseJsonLines(text, source)).toEqual([
      { id: "a", vars: { q: "1" }, expected: "2" },
      { id: "1", vars: { q: "3" } },
    ]);
  });
  it.each([
    ['{"vars":{}}\n{"vars":{}}\n{"vars": {', "line 3: not valid JSON"],
    ['{"vars":{}}\n[1,2]', "line 2: an item must be a JSON object"],
    ['{"id":"x"}', 'line 1: the item needs "vars"'],
    ['{"id":{},"vars":{}}', 'line 1: "id" must be a string or a number'],
  ])("%j → %s", (text, message) => {
    expect(() => parseJsonLines(text, source)).toThrow(DatasetError);
    expect(() => parseJsonLines(text, source)).toThrow(`${source} ${message}`);
  });
});

describe("finalizeItems", () => {
  it("applies limit and rejects duplicate ids and empty datasets", () => {
    const items = [
      { id: "a", vars: {} },
      { id: "b", vars: {} },
      { id: "a", vars: {} },
    ];
    expect(finalizeItems(items, source, 2).map((i) => i.id)).toEqual(["a", "b"]);
    expect(() => finalizeItems(items, source)).toThrow(/item id "a" occurs twice/);
    expect(() => finalizeItems([], source)).toThrow(/has no items/);
  });
  it("names inline items by index", () => {
    expect(() =>
      inlineItems({
        inline: { items: [{ vars: {} }, "x" as unknown as { vars: Record<string, unknown> }] },
      }),
    ).toThrow("spec.dataset.inline.items[1]: an item must be a JSON object");
  });
});
