import { describe, expect, it } from "vitest";
import {
  appendRecords,
  decodeChunk,
  encodeRecord,
  resultKey,
  type ResultRecord,
} from "./results.js";

const rec = (item: string, output = "x"): ResultRecord => ({
  key: resultKey("a", item, 0),
  variant: "a",
  item,
  repetition: 0,
  output,
  latencyMs: 1,
  costUSD: null,
  calls: 1,
  scores: {},
});

describe("result chunks", () => {
  it("round-trips records", () => {
    const text = [rec("1"), rec("2")].map(encodeRecord).join("");
    expect(decodeChunk(text).map((r) => r.key)).toEqual(["a/1/0", "a/2/0"]);
    expect(decodeChunk("not json\n" + encodeRecord(rec("3")))).toHaveLength(1);
  });
  it("appends to the last chunk and opens a new one past the limit", () => {
    const one = encodeRecord(rec("1", "y".repeat(100)));
    const limit = one.length * 2 + 10;
    const first = appendRecords([], [rec("1", "y".repeat(100))], limit);
    expect(first).toEqual([{ index: 0, text: one }]);
    const next = appendRecords(
      first,
      [rec("2", "y".repeat(100)), rec("3", "y".repeat(100)), rec("4", "y".repeat(100))],
      limit,
    );
    expect(next.map((c) => c.index)).toEqual([0, 1]);
    expect(decodeChunk(next[0]?.text).map((r) => r.item)).toEqual(["1", "2"]);
    expect(decodeChunk(next[1]?.text).map((r) => r.item)).toEqual(["3", "4"]);
  });
});
