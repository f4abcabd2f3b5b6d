// Descriptive statistics for one variant. Pure: numbers in, numbers out.
import { normalQuantile, studentTQuantile } from "./distributions.js";

/** A two-sided confidence interval. */
export interface ConfidenceInterval {
  lower: number;
  upper: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
}

/** Arithmetic mean; NaN for an empty sample. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (denominator n − 1, numpy's `ddof=1`); NaN below two values. */
export function sampleStandardDeviation(values: readonly number[]): number {
  return Math.sqrt(sampleVariance(values));
}

/** Sample variance (denominator n − 1); two-pass, so large offsets do not cancel. */
export function sampleVariance(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return Number.NaN;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return ss / (n - 1);
}

/**
 * The q-th percentile (0–100) with linear interpolation between closest ranks — numpy's default
 * (`method="linear"`, Hyndman & Fan type 7): rank h = (n − 1)·q/100, value x⌊h⌋ + (h − ⌊h⌋)(x⌊h⌋₊₁ − x⌊h⌋).
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile q must be in [0, 100], got ${q}`);
  const sorted = [...values].sort((a, b) => a - b);
  const h = ((sorted.length - 1) * q) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  // numpy's lerp form; exact at the ends and monotone in h.
  return a + (h - lo) * (b - a);
}

/** Student-t interval for a mean: mean ± t(1 − α/2, n − 1)·s/√n. NaN bounds below two values. */
export function tInterval(values: readonly number[], level = 0.95): ConfidenceInterval {
  const n = values.length;
  const m = mean(values);
  if (n < 2) return { lower: Number.NaN, upper: Number.NaN, level };
  const half =
    studentTQuantile(1 - (1 - level) / 2, n - 1) * (sampleStandardDeviation(values) / Math.sqrt(n));
  return { lower: m - half, upper: m + half, level };
}

/**
 * Wilson score interval for a proportion (no continuity correction; scipy's
 * `binomtest(k, n).proportion_ci(method="wilson")`). Stays inside [0, 1] and behaves at 0/n and n/n,
 * unlike the Wald interval.
 */
export function wilsonInterval(
  successes: number,
  trials: number,
  level = 0.95,
): ConfidenceInterval {
  if (trials <= 0) return { lower: Number.NaN, upper: Number.NaN, level };
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = successes / trials;
  const z2 = z * z;
  const denom = 1 + z2 / trials;
  const center = p + z2 / (2 * trials);
  const half = z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return {
    lower: Math.max(0, (center - half) / denom),
    upper: Math.min(1, (center + half) / denom),
    level,
  };
}

/** Summary of a continuous sample: n, mean, sample standard deviation and a t interval. */
export interface MeanSummary {
  n: number;
  mean: number;
  standardDeviation: number;
  ci: ConfidenceInterval;
}

/** n, mean, sample standard deviation and the Student-t interval of `values`. */
export function summarizeMean(values: readonly number[], level = 0.95): MeanSummary {
  return {
    n: values.length,
    mean: mean(values),
    standardDeviation: sampleStandardDeviation(values),
    ci: tInterval(values, level),
  };
}

/** Summary of pass/fail outcomes: n, passes, rate, Bernoulli sample standard deviation, Wilson CI. */
export interface ProportionSummary {
  n: number;
  passed: number;
  rate: number;
  standardDeviation: number;
  ci: ConfidenceInterval;
}

/** Pass count, rate and Wilson interval of boolean outcomes. */
export function summarizeProportion(outcomes: readonly boolean[], level = 0.95): ProportionSummary {
  const n = outcomes.length;
  const passed = outcomes.filter(Boolean).length;
  return {
    n,
    passed,
    rate: n === 0 ? Number.NaN : passed / n,
    standardDeviation: sampleStandardDeviation(outcomes.map((o) => (o ? 1 : 0))),
    ci: wilsonInterval(passed, n, level),
  };
}
