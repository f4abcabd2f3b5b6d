import { describe, expect, it } from "vitest";
import {
  holmAdjust,
  mcnemarFromCounts,
  mcnemarTest,
  pairedTTest,
  twoProportionZTest,
  welchTTest,
} from "./hypothesis-tests.js";
import { expectClose, loadReference } from "../../test/fixtures/stats/reference.js";

const ref = loadReference();

describe("tests against scipy/statsmodels", () => {
  it.each(ref.pairedT)("paired t ($name) = scipy ttest_rel", (c) => {
    const r = pairedTTest(c.candidate, c.control);
    expect(r.test).toBe("paired-t");
    expectClose(r.statistic, c.statistic, "t");
    expect(r.df).toBe(c.df);
    expectClose(r.pValue, c.pValue, "p");
    expectClose(r.delta, c.delta, "delta");
    expectClose(r.ci.lower, c.ci95[0], "ci lower");
    expectClose(r.ci.upper, c.ci95[1], "ci upper");
  });

  it.each(ref.welch)("Welch t ($name) = scipy ttest_ind(equal_var=False)", (c) => {
    const r = welchTTest(c.candidate, c.control);
    expect(r.test).toBe("welch-t");
    expectClose(r.statistic, c.statistic, "t");
    expectClose(r.df ?? Number.NaN, c.df, "df");
    expectClose(r.pValue, c.pValue, "p");
    expectClose(r.delta, c.delta, "delta");
    expectClose(r.ci.lower, c.ci95[0], "ci lower");
    expectClose(r.ci.upper, c.ci95[1], "ci upper");
    if (c.ci90) {
      const r90 = welchTTest(c.candidate, c.control, { level: 0.9 });
      expectClose(r90.ci.lower, c.ci90[0], "ci90 lower");
      expectClose(r90.ci.upper, c.ci90[1], "ci90 upper");
    }
  });

  it.each(ref.twoProportions)(
    "two-proportion z $candidate.passed/$candidate.n vs $control.passed/$control.n = chi2_contingency, Newcombe CI",
    (c) => {
      const r = twoProportionZTest(c.candidate, c.control);
      expectClose(r.statistic, c.statistic, "z");
      expectClose(r.pValue, c.pValue, "p");
      expectClose(r.delta, c.delta, "delta");
      expectClose(r.ci.lower, c.ci95[0], "ci lower");
      expectClose(r.ci.upper, c.ci95[1], "ci upper");
    },
  );

  it.each(ref.mcnemar)("McNemar b=$b c=$c n=$n uses $test", (c) => {
    const r = mcnemarFromCounts({ b: c.b, c: c.c, n: c.n });
    expect(r.test).toBe(c.test);
    expectClose(r.statistic, c.statistic, "statistic");
    expectClose(r.pValue, c.pValue, "p");
    expectClose(r.delta, c.delta, "delta");
    expectClose(r.ci.lower, c.ci95[0], "ci lower");
    expectClose(r.ci.upper, c.ci95[1], "ci upper");
  });

  it.each(ref.holm)("Holm $pValues = statsmodels multipletests", (c) => {
    const adjusted = holmAdjust(c.pValues);
    adjusted.forEach((a, i) => {
      expectClose(a, c.adjusted[i] ?? Number.NaN, `adjusted[${i}]`);
      expect(a <= 0.05).toBe(c.reject[i]);
    });
  });
});

describe("test edge cases", () => {
  it("counts discordant pairs from outcomes", () => {
    const candidate = [true, true, false, true, false];
    const control = [true, false, true, false, false];
    // b = control-only passes (index 2), c = candidate-only passes (1, 3).
    expect(mcnemarTest(candidate, control)).toMatchObject({ test: "mcnemar-exact", statistic: 1 });
    expect(mcnemarTest(candidate, control).delta).toBeCloseTo(0.2, 12);
  });

  it("switches to the chi-square rule at 25 discordant pairs", () => {
    expect(mcnemarFromCounts({ b: 10, c: 14, n: 50 }).test).toBe("mcnemar-exact");
    expect(mcnemarFromCounts({ b: 10, c: 15, n: 50 }).test).toBe("mcnemar-chi2-cc");
  });

  it("treats identical constant samples as no evidence", () => {
    expect(pairedTTest([1, 1, 1], [1, 1, 1]).pValue).toBe(1);
    expect(welchTTest([2, 2], [2, 2]).pValue).toBe(1);
    expect(twoProportionZTest({ passed: 5, n: 5 }, { passed: 5, n: 5 }).pValue).toBe(1);
  });

  it("treats a constant non-zero shift as certain", () => {
    const r = pairedTTest([2, 3, 4], [1, 2, 3]);
    expect(r).toMatchObject({ pValue: 0, statistic: Infinity, delta: 1 });
  });

  it("rejects misaligned paired samples", () => {
    expect(() => pairedTTest([1, 2], [1])).toThrow(RangeError);
    expect(() => mcnemarTest([true], [true, false])).toThrow(RangeError);
  });

  it("keeps the order of Holm-adjusted p-values and caps them at 1", () => {
    expect(holmAdjust([0.9, 0.5])).toStrictEqual([1, 1]);
    expect(holmAdjust([])).toStrictEqual([]);
  });
});
