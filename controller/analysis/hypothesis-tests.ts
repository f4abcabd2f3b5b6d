// Two-sample tests of a candidate against the control. Every function takes the candidate first
// and reports `delta = candidate − control`, so a positive delta means the candidate scored higher.
// All tests are two-sided; p-values come from lower tails (see distributions.ts).
import { mean, sampleVariance, wilsonInterval, type ConfidenceInterval } from "./descriptive.js";
import {
  binomialCdf,
  chiSquareSurvival,
  normalQuantile,
  studentTQuantile,
  twoSidedNormalP,
  twoSidedTP,
} from "./distributions.js";

/** Which test produced a comparison; printed in status so a reader can reproduce it. */
export type TestName =
  "paired-t" | "welch-t" | "mcnemar-exact" | "mcnemar-chi2-cc" | "two-proportion-z";

/** The outcome of one candidate-vs-control test. */
export interface TestResult {
  test: TestName;
  /** t, z or χ²; for exact McNemar the smaller discordant count. NaN or ±Infinity when degenerate. */
  statistic: number;
  /** Degrees of freedom for t and χ² tests. */
  df?: number;
  pValue: number;
  /** candidate − control (difference of means or of proportions). */
  delta: number;
  /** Two-sided confidence interval for `delta`. */
  ci: ConfidenceInterval;
}

function half(level: number): number {
  return 1 - (1 - level) / 2;
}

/**
 * p-value and statistic when the standard error is zero: identical constant samples carry no
 * evidence of a difference (p = 1), a constant non-zero shift is as certain as it gets (p = 0).
 * scipy returns NaN here; a status needs a number.
 */
function degenerate(delta: number): { statistic: number; pValue: number } {
  if (delta === 0) return { statistic: Number.NaN, pValue: 1 };
  return { statistic: delta > 0 ? Infinity : -Infinity, pValue: 0 };
}

/**
 * Paired t-test on per-unit differences (scipy `ttest_rel(candidate, control)`); the CI is the t
 * interval of the mean difference. Inputs are aligned: index i of both arrays is the same unit.
 */
export function pairedTTest(
  candidate: readonly number[],
  control: readonly number[],
  options: { level?: number } = {},
): TestResult {
  const level = options.level ?? 0.95;
  if (candidate.length !== control.length) {
    throw new RangeError(
      `pairedTTest needs aligned samples, got ${candidate.length} and ${control.length} values`,
    );
  }
  const n = candidate.length;
  const diffs = candidate.map((c, i) => c - (control[i] ?? Number.NaN));
  const delta = mean(diffs);
  const df = n - 1;
  const se = Math.sqrt(sampleVariance(diffs) / n);
  const tq = studentTQuantile(half(level), df);
  const ci = { lower: delta - tq * se, upper: delta + tq * se, level };
  if (se === 0) return { test: "paired-t", df, delta, ci, ...degenerate(delta) };
  const statistic = delta / se;
  return { test: "paired-t", statistic, df, pValue: twoSidedTP(statistic, df), delta, ci };
}

/** Welch's unequal-variance t-test (scipy `ttest_ind(candidate, control, equal_var=False)`). */
export function welchTTest(
  candidate: readonly number[],
  control: readonly number[],
  options: { level?: number } = {},
): TestResult {
  const level = options.level ?? 0.95;
  const n1 = candidate.length;
  const n2 = control.length;
  const a = sampleVariance(candidate) / n1;
  const b = sampleVariance(control) / n2;
  const delta = mean(candidate) - mean(control);
  const se = Math.sqrt(a + b);
  // Welch–Satterthwaite; when both variances are zero df is undefined, and unused.
  const df = (a + b) ** 2 / ((a * a) / (n1 - 1) + (b * b) / (n2 - 1));
  if (se === 0) {
    return {
      test: "welch-t",
      df: n1 + n2 - 2,
      delta,
      ci: { lower: delta, upper: delta, level },
      ...degenerate(delta),
    };
  }
  const tq = studentTQuantile(half(level), df);
  const statistic = delta / se;
  return {
    test: "welch-t",
    statistic,
    df,
    pValue: twoSidedTP(statistic, df),
    delta,
    ci: { lower: delta - tq * se, upper: delta + tq * se, level },
  };
}

/**
 * Two-proportion z-test with the pooled standard error (equal to the uncorrected 2×2 χ² test,
 * scipy `chi2_contingency(..., correction=False)`). The CI for the difference is Newcombe's hybrid
 * score interval (built from the two Wilson intervals), which stays sensible at 0% and 100%.
 */
export function twoProportionZTest(
  candidate: { passed: number; n: number },
  control: { passed: number; n: number },
  options: { level?: number } = {},
): TestResult {
  const level = options.level ?? 0.95;
  const p1 = candidate.passed / candidate.n;
  const p2 = control.passed / control.n;
  const delta = p1 - p2;
  const pooled = (candidate.passed + control.passed) / (candidate.n + control.n);
  const se0 = Math.sqrt(pooled * (1 - pooled) * (1 / candidate.n + 1 / control.n));
  const w1 = wilsonInterval(candidate.passed, candidate.n, level);
  const w2 = wilsonInterval(control.passed, control.n, level);
  const ci = {
    lower: delta - Math.sqrt((p1 - w1.lower) ** 2 + (w2.upper - p2) ** 2),
    upper: delta + Math.sqrt((w1.upper - p1) ** 2 + (p2 - w2.lower) ** 2),
    level,
  };
  if (se0 === 0) return { test: "two-proportion-z", delta, ci, ...degenerate(delta) };
  const statistic = delta / se0;
  return { test: "two-proportion-z", statistic, pValue: twoSidedNormalP(statistic), delta, ci };
}

/**
 * Below this many discordant pairs McNemar uses the exact binomial test; from here on the χ² test
 * with continuity correction (the rule statsmodels' documentation gives: b + c < 25 → exact).
 */
export const MCNEMAR_EXACT_BELOW = 25;

/**
 * McNemar's test for paired pass/fail outcomes. Only discordant pairs matter: b = control passed
 * and candidate failed, c = candidate passed and control failed. With b + c < 25 the p-value is the
 * exact two-sided binomial min(1, 2·P(K ≤ min(b, c))) with K ~ Bin(b + c, ½); otherwise
 * χ² = (|b − c| − 1)² / (b + c) on 1 df. The CI for the difference in pass rates, (c − b)/n, is
 * the Wald interval for paired proportions.
 */
export function mcnemarTest(
  candidate: readonly boolean[],
  control: readonly boolean[],
  options: { level?: number } = {},
): TestResult {
  const level = options.level ?? 0.95;
  if (candidate.length !== control.length) {
    throw new RangeError(
      `mcnemarTest needs aligned samples, got ${candidate.length} and ${control.length} outcomes`,
    );
  }
  const n = candidate.length;
  let b = 0;
  let c = 0;
  candidate.forEach((cand, i) => {
    const ctrl = control[i] ?? false;
    if (ctrl && !cand) b++;
    if (cand && !ctrl) c++;
  });
  return mcnemarFromCounts({ b, c, n }, { level });
}

/** McNemar from discordant counts; see `mcnemarTest`. */
export function mcnemarFromCounts(
  counts: { b: number; c: number; n: number },
  options: { level?: number } = {},
): TestResult {
  const level = options.level ?? 0.95;
  const { b, c, n } = counts;
  const discordant = b + c;
  const delta = (c - b) / n;
  const se = Math.sqrt(discordant - (c - b) ** 2 / n) / n;
  const z = normalQuantile(half(level));
  const ci = { lower: delta - z * se, upper: delta + z * se, level };
  if (discordant === 0) {
    return { test: "mcnemar-exact", statistic: 0, pValue: 1, delta, ci };
  }
  if (discordant < MCNEMAR_EXACT_BELOW) {
    const k = Math.min(b, c);
    const pValue = Math.min(1, 2 * binomialCdf(k, discordant, 0.5));
    return { test: "mcnemar-exact", statistic: k, pValue, delta, ci };
  }
  const statistic = (Math.abs(b - c) - 1) ** 2 / discordant;
  return {
    test: "mcnemar-chi2-cc",
    statistic,
    df: 1,
    pValue: chiSquareSurvival(statistic, 1),
    delta,
    ci,
  };
}

/**
 * Holm–Bonferroni step-down adjusted p-values (statsmodels `multipletests(method="holm")`):
 * sort ascending, multiply the i-th smallest (0-based) by m − i, carry the running maximum, cap at 1.
 * A hypothesis is rejected at level α exactly when its adjusted p ≤ α. Order is preserved.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const adjusted = new Array<number>(m).fill(Number.NaN);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, p * (m - rank)));
    adjusted[i] = running;
  });
  return adjusted;
}
