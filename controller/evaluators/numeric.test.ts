import { describe, expect, it } from "vitest";
import { extractNumber, numericTolerance } from "./numeric.js";
import { latencyWithin, costWithin } from "./thresholds.js";

describe("extractNumber", () => {
  it.each([
    { text: "42", how: "strict", want: 42 },
    { text: " -3.5 ", how: "strict", want: -3.5 },
    { text: "42 apples", how: "strict", want: null },
    { text: "The answer is 1,234.5.", how: "last", want: 1234.5 },
    { text: "From 3 to 7", how: "first", want: 3 },
    { text: "From 3 to 7", how: "last", want: 7 },
    { text: "2.5e-3", how: "last", want: 0.0025 },
    { text: "no digits", how: "last", want: null },
    { text: "", how: "strict", want: null },
  ] as const)("$how($text) → $want", ({ text, how, want }) => {
    expect(extractNumber(text, how)).toBe(want);
  });
});

describe("numericTolerance", () => {
  const item = (expected: unknown) => ({ id: "n", expected });
  it.each([
    { output: "The answer is 100", expected: "100", options: {}, want: true },
    { output: "100.4", expected: 100, options: { absoluteTolerance: 0.5 }, want: true },
    { output: "101", expected: 100, options: { absoluteTolerance: 0.5 }, want: false },
    { output: "101", expected: 100, options: { relativeTolerance: 0.01 }, want: true },
    { output: "102", expected: 100, options: { relativeTolerance: 0.01 }, want: false },
    {
      output: "99.6",
      expected: 100,
      options: { absoluteTolerance: 0.1, relativeTolerance: 0.005 },
      want: true,
    },
    { output: "nothing", expected: 100, options: {}, want: false },
  ])("$output vs $expected with $options", ({ output, expected, options, want }) => {
    expect(numericTolerance({ item: item(expected), output }, options).passed).toBe(want);
  });

  it("cannot score an item without a numeric answer", () => {
    expect(numericTolerance({ item: item("many"), output: "3" }).error).toMatch(
      /no numeric expected answer/,
    );
  });
});

describe("latency and cost thresholds", () => {
  const item = { id: "t" };
  it("passes within the limit", () => {
    expect(latencyWithin({ item, output: "x", latencyMs: 800 }, { maxMs: 1000 }).passed).toBe(true);
    expect(latencyWithin({ item, output: "x", latencyMs: 1200 }, { maxMs: 1000 }).passed).toBe(
      false,
    );
    expect(costWithin({ item, output: "x", costUSD: 0.002 }, { maxUSD: 0.001 }).passed).toBe(false);
  });
  it("treats an unknown cost as undecided, not as free", () => {
    const r = costWithin({ item, output: "x", costUSD: null }, { maxUSD: 1 });
    expect(r).toMatchObject({ score: null, passed: null });
    expect(r.error).toMatch(/no price/);
  });
});
