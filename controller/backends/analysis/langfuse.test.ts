import { describe, expect, it } from "vitest";
import {
  canaryObservationsFilter,
  chunked,
  newestScores,
  scoreMean,
  scoreWindow,
  type ListedScore,
} from "./langfuse.js";
import type { Measurement } from "./provider.js";

describe("scoreMean", () => {
  const rows: { name: string; scores: ListedScore[]; want: Measurement | RegExp }[] = [
    {
      name: "numeric scores",
      scores: [
        { dataType: "NUMERIC", value: 4 },
        { dataType: "NUMERIC", value: 5 },
        { dataType: "NUMERIC", value: 3 },
      ],
      want: { ok: true, value: 4 },
    },
    {
      name: "boolean scores are 0/1",
      scores: [
        { dataType: "BOOLEAN", value: 1 },
        { dataType: "BOOLEAN", value: 0 },
        { dataType: "BOOLEAN", value: 1 },
        { dataType: "BOOLEAN", value: 1 },
      ],
      want: { ok: true, value: 0.75 },
    },
    {
      name: "boolean scores as v3 lists them (true/false)",
      scores: [
        { dataType: "BOOLEAN", value: true },
        { dataType: "BOOLEAN", value: false },
        { dataType: "BOOLEAN", value: true },
        { dataType: "BOOLEAN", value: true },
      ],
      want: { ok: true, value: 0.75 },
    },
    {
      name: "a boolean value on a categorical score is left out",
      scores: [
        { dataType: "NUMERIC", value: 1 },
        { dataType: "CATEGORICAL", value: true },
      ],
      want: { ok: true, value: 1 },
    },
    {
      name: "categorical and text scores are left out",
      scores: [
        { dataType: "NUMERIC", value: 2 },
        { dataType: "CATEGORICAL", value: "good" },
        { dataType: "TEXT", value: "fine" },
      ],
      want: { ok: true, value: 2 },
    },
    {
      name: "a score without a dataType counts as numeric",
      scores: [{ value: 0.5 }],
      want: { ok: true, value: 0.5 },
    },
    { name: "no scores", scores: [], want: /^no scores named q/ },
    {
      name: "only categorical scores",
      scores: [
        { dataType: "CATEGORICAL", value: "good" },
        { dataType: "TEXT", value: "x" },
      ],
      want: /^no numeric scores named q.* \(only CATEGORICAL, TEXT, which have no mean\)/,
    },
  ];
  it.each(rows)("$name", ({ scores, want }) => {
    const got = scoreMean(scores, "named q on traces tagged r");
    if (want instanceof RegExp) {
      expect(got.ok).toBe(false);
      expect(got.ok ? "" : got.error).toMatch(want);
    } else {
      expect(got).toEqual(want);
    }
  });
});

describe("scoreWindow", () => {
  const now = Date.parse("2026-12-01T10:00:00.000Z");
  it.each([
    { window: "5m", from: "2026-12-01T09:55:00.000Z" },
    { window: "1h30m", from: "2026-12-01T08:30:00.000Z" },
    { window: "500ms", from: "2026-12-01T09:59:59.500Z" },
  ])("$window", ({ window, from }) => {
    expect(scoreWindow(now, window)).toEqual({ from, to: "2026-12-01T10:00:00.000Z" });
  });
});

describe("canaryObservationsFilter", () => {
  it("traces tagged with the revision that started in [from, to)", () => {
    const filter = canaryObservationsFilter(
      "coder-7b-3f9a1c2d4e",
      "2026-12-01T09:50:00.000Z",
      "2026-12-01T10:00:00.000Z",
    );
    expect(JSON.parse(filter)).toEqual([
      {
        type: "arrayOptions",
        column: "traceTags",
        operator: "any of",
        value: ["coder-7b-3f9a1c2d4e"],
      },
      { type: "datetime", column: "startTime", operator: ">=", value: "2026-12-01T09:50:00.000Z" },
      { type: "datetime", column: "startTime", operator: "<", value: "2026-12-01T10:00:00.000Z" },
    ]);
  });
});

describe("chunked", () => {
  it.each([
    { items: [], size: 2, want: [] },
    { items: [1, 2, 3], size: 2, want: [[1, 2], [3]] },
    { items: [1, 2], size: 2, want: [[1, 2]] },
    { items: [1, 2, 3], size: 100, want: [[1, 2, 3]] },
  ])("$items by $size", ({ items, size, want }) => {
    expect(chunked(items, size)).toEqual(want);
  });
});

describe("newestScores", () => {
  const at = (id: string, timestamp: string) => ({ id, timestamp });
  it.each([
    {
      name: "newest first, across batches",
      scores: [
        at("a", "2026-12-01T10:00:01Z"),
        at("b", "2026-12-01T10:00:03Z"),
        at("c", "2026-12-01T10:00:02Z"),
      ],
      max: 10,
      want: ["b", "c", "a"],
    },
    {
      name: "at most max",
      scores: [
        at("a", "2026-12-01T10:00:01Z"),
        at("b", "2026-12-01T10:00:03Z"),
        at("c", "2026-12-01T10:00:02Z"),
      ],
      max: 2,
      want: ["b", "c"],
    },
    { name: "none", scores: [], max: 2, want: [] },
  ])("$name", ({ scores, max, want }) => {
    expect(newestScores(scores, max).map((s) => s.id)).toEqual(want);
  });
});
