import { describe, expect, it } from "vitest";
import {
  mean,
  percentile,
  sampleStandardDeviation,
  summarizeProportion,
  tInterval,
  wilsonInterval,
} from "./descriptive.js";
import { expectClose, loadReference } from "../../test/fixtures/stats/reference.js";

const ref = loadReference();

describe("descriptive statistics against numpy/scipy", () => {
  it.each(ref.samples)("$name: mean, sd (ddof=1), t intervals", (c) => {
    expectClose(mean(c.values), c.mean, "mean");
    expectClose(sampleStandardDeviation(c.values), c.sd, "sd");
    const ci95 = tInterval(c.values, 0.95);
    expectClose(ci95.lower, c.tInterval95[0], "t95 lower");
    expectClose(ci95.upper, c.tInterval95[1], "t95 upper");
    const ci90 = tInterval(c.values, 0.9);
    expectClose(ci90.lower, c.tInterval90[0], "t90 lower");
    expectClose(ci90.upper, c.tInterval90[1], "t90 upper");
  });

  it.each(ref.samples)("$name: numpy.percentile (linear)", (c) => {
    for (const [q, want] of Object.entries(c.percentiles)) {
      expectClose(percentile(c.values, Number(q)), want, `p${q}`);
    }
  });

  it.each(ref.wilson)("Wilson interval for $k/$n", ({ k, n, ci95, ci90 }) => {
    const w95 = wilsonInterval(k, n, 0.95);
    expectClose(w95.lower, ci95[0], "lower 95");
    expectClose(w95.upper, ci95[1], "upper 95");
    const w90 = wilsonInterval(k, n, 0.9);
    expectClose(w90.lower, ci90[0], "lower 90");
    expectClose(w90.upper, ci90[1], "upper 90");
  });
});

describe("descriptive edge cases", () => {
  const table = [
    { name: "empty mean", got: mean([]), want: Number.NaN },
    { name: "sd of one value", got: sampleStandardDeviation([3]), want: Number.NaN },
    { name: "sd of constants", got: sampleStandardDeviation([2, 2, 2]), want: 0 },
    { name: "percentile of one value", got: percentile([7], 95), want: 7 },
    { name: "percentile of empty", got: percentile([], 50), want: Number.NaN },
    { name: "p0 is the minimum", got: percentile([5, 1, 3], 0), want: 1 },
    { name: "p100 is the maximum", got: percentile([5, 1, 3], 100), want: 5 },
  ];
  it.each(table)("$name", ({ got, want }) => {
    expect(got).toStrictEqual(want);
  });

  it("rejects a percentile outside [0, 100]", () => {
    expect(() => percentile([1, 2], 101)).toThrow(RangeError);
  });

  it("does not reorder its input", () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toStrictEqual([3, 1, 2]);
  });

  it("summarizes pass/fail outcomes", () => {
    const s = summarizeProportion([true, true, false, true]);
    expect(s).toMatchObject({ n: 4, passed: 3, rate: 0.75 });
    expect(s.ci.lower).toBeLessThan(0.75);
    expect(s.ci.upper).toBeGreaterThan(0.75);
  });

  it("gives no interval for zero trials", () => {
    expect(Number.isNaN(wilsonInterval(0, 0).lower)).toBe(true);
  });
});
