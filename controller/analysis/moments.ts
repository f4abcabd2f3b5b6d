// Sufficient statistics of one metric of one variant: count, mean and the sum of squared
// deviations (Welford's M2). An online experiment keeps only these per variant and metric, never
// the observations themselves, and merges batches of outcomes into them (Chan, Golub & LeVeque's
// pairwise update), which stays accurate where sum and sum-of-squares would cancel. Pure.
import { wilsonInterval, type ConfidenceInterval } from "./descriptive.js";
import { studentTQuantile } from "./distributions.js";

/** n, mean and Σ(x − mean)² of a sample. */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export const emptyMoments: Moments = Object.freeze({ n: 0, mean: 0, m2: 0 });

/** The moments of `values`. */
export function momentsOf(values: readonly number[]): Moments {
  let m: Moments = emptyMoments;
  for (const v of values) m = addValue(m, v);
  return m;
}

/** `m` with one more observation (Welford). */
export function addValue(m: Moments, x: number): Moments {
  const n = m.n + 1;
  const d = x - m.mean;
  const mean = m.mean + d / n;
  return { n, mean, m2: m.m2 + d * (x - mean) };
}

/** The moments of the union of two samples (Chan et al.). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return { ...b };
  if (b.n === 0) return { ...a };
  const n = a.n + b.n;
  const d = b.mean - a.mean;
  return {
    n,
    mean: a.mean + (d * b.n) / n,
    m2: a.m2 + b.m2 + (d * d * a.n * b.n) / n,
  };
}

/** Sample variance (denominator n − 1); NaN below two observations. */
export function momentsVariance(m: Moments): number {
  return m.n < 2 ? Number.NaN : Math.max(0, m.m2) / (m.n - 1);
}

/** Student-t interval of the mean, as `tInterval` gives for the raw values. */
export function momentsTInterval(m: Moments, level = 0.95): ConfidenceInterval {
  if (m.n < 2) return { lower: Number.NaN, upper: Number.NaN, level };
  const half = studentTQuantile(1 - (1 - level) / 2, m.n - 1) * Math.sqrt(momentsVariance(m) / m.n);
  return { lower: m.mean - half, upper: m.mean + half, level };
}

/**
 * Wilson score interval of a proportion whose moments are those of 0/1 values (the mean is the
 * rate), as `wilsonInterval` gives for the counts.
 */
export function momentsWilsonInterval(m: Moments, level = 0.95): ConfidenceInterval {
  return wilsonInterval(Math.round(m.mean * m.n), m.n, level);
}
