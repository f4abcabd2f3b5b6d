import { describe, expect, it } from "vitest";
import { canonicalJson, contentHash } from "./hash.js";

describe("canonicalJson", () => {
  const rows = [
    { name: "sorts keys", value: { b: 1, a: 2 }, want: '{"a":2,"b":1}' },
    {
      name: "sorts nested keys",
      value: { z: { y: 1, x: [{ d: 1, c: 2 }] } },
      want: '{"z":{"x":[{"c":2,"d":1}],"y":1}}',
    },
    { name: "drops undefined members", value: { a: undefined, b: null }, want: '{"b":null}' },
    { name: "keeps array order", value: [3, 1, 2], want: "[3,1,2]" },
    { name: "scalars", value: "x", want: '"x"' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(canonicalJson(row.value)).toBe(row.want);
    });
  }
});

describe("contentHash", () => {
  it("ignores key order and differs on content", () => {
    expect(contentHash({ a: 1, b: 2 })).toBe(contentHash({ b: 2, a: 1 }));
    expect(contentHash({ a: 1 })).not.toBe(contentHash({ a: 2 }));
    expect(contentHash({ a: 1 })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});
