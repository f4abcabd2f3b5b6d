// Always-valid inference for online experiments that are watched continuously: the mixture
// sequential probability ratio test (mSPRT) of Johari, Koomen, Pekelis & Walsh ("Peeking at A/B
// tests", KDD 2017; "Always valid inference", Operations Research 2022), in the two-sample normal
// form with plug-in variances. Pure.
//
// For a candidate B against the control A on one metric:
//
//   Δ̂  = x̄_B − x̄_A                              the observed difference
//   V  = s²_A / n_A + s²_B / n_B                  its variance (sample variances, n − 1)
//   τ² = (effectSize · s_pooled)²                  the variance of the normal mixing distribution
//        s²_pooled = ((n_A − 1)s²_A + (n_B − 1)s²_B) / (n_A + n_B − 2)
//   Λ  = √(V / (V + τ²)) · exp( τ² Δ̂² / (2 V (V + τ²)) )
//
// Λ is the likelihood ratio of "Δ ~ N(0, τ²)" against "Δ = 0" for Δ̂ ~ N(Δ, V). Under the null it
// is a (asymptotically, with plug-in variances) non-negative martingale with mean 1, so by Ville's
// inequality P(Λ ever reaches 1/α) ≤ α: rejecting the first time Λ ≥ 1/α keeps the false-positive
// rate at or below α however often the experiment is looked at. The always-valid p-value is the
// running minimum of min(1, 1/Λ), and the confidence sequence at level 1 − α is every Δ₀ whose
// ratio stays below 1/α:
//
//   Δ̂ ± √( V (V + τ²) / τ² · ( 2 log(1/α) + log((V + τ²) / V) ) )
//
// effectSize (in standard deviations of the metric) says which effects the test is tuned to: the
// boundary is tightest around the sample size at which an effect of that size becomes visible.
// Smaller values detect small effects sooner and large ones a little later. 0/1 metrics use the
// same formulas (their sample variance is p̂(1 − p̂)·n/(n − 1)).
import type { ConfidenceInterval } from "./descriptive.js";
import { momentsVariance, type Moments } from "./moments.js";

export interface SequentialOptions {
  /** The false-positive rate the test keeps under continuous monitoring; default 0.05. */
  alpha?: number;
  /** τ in standard deviations of the metric (pooled); default 0.1. */
  effectSize?: number;
}

/** One mSPRT evaluation at the current sample. */
export interface SequentialResult {
  test: "msprt";
  /** candidate mean − control mean. */
  delta: number;
  /** V: the variance of delta. */
  variance: number;
  /** τ²: the variance of the mixing distribution. */
  mixingVariance: number;
  /** log Λ (0 when there is no information yet). */
  logLikelihoodRatio: number;
  /** min(1, 1/Λ) now; the always-valid p-value is its running minimum (alwaysValidPValue). */
  pValue: number;
  /** The confidence sequence for delta at level 1 − α, valid at every look. */
  ci: ConfidenceInterval;
}

export const defaultEffectSize = 0.1;

/**
 * The mSPRT of `candidate` against `control` from their moments. With fewer than two observations
 * in either, or no variance at all, there is no information: Λ = 1, p = 1, the interval unbounded.
 */
export function msprt(
  candidate: Moments,
  control: Moments,
  options: SequentialOptions = {},
): SequentialResult {
  const alpha = options.alpha ?? 0.05;
  const effectSize = options.effectSize ?? defaultEffectSize;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  if (!(effectSize > 0)) throw new RangeError(`effectSize must be positive, got ${effectSize}`);
  const delta = candidate.mean - control.mean;
  const level = 1 - alpha;
  const none = (variance: number, mixingVariance: number): SequentialResult => ({
    test: "msprt",
    delta: candidate.n > 0 && control.n > 0 ? delta : Number.NaN,
    variance,
    mixingVariance,
    logLikelihoodRatio: 0,
    pValue: 1,
    ci: { lower: Number.NEGATIVE_INFINITY, upper: Number.POSITIVE_INFINITY, level },
  });
  if (candidate.n < 2 || control.n < 2) return none(Number.NaN, Number.NaN);
  const varA = momentsVariance(control);
  const varB = momentsVariance(candidate);
  const variance = varA / control.n + varB / candidate.n;
  const pooled =
    ((control.n - 1) * varA + (candidate.n - 1) * varB) / (control.n + candidate.n - 2);
  const mixingVariance = effectSize * effectSize * pooled;
  // Constant samples carry no estimate of the noise: no evidence either way.
  if (!(variance > 0) || !(mixingVariance > 0)) return none(variance, mixingVariance);
  const total = variance + mixingVariance;
  const logLikelihoodRatio =
    0.5 * Math.log(variance / total) + (mixingVariance * delta * delta) / (2 * variance * total);
  const half = Math.sqrt(
    ((variance * total) / mixingVariance) * (2 * Math.log(1 / alpha) + Math.log(total / variance)),
  );
  return {
    test: "msprt",
    delta,
    variance,
    mixingVariance,
    logLikelihoodRatio,
    pValue: Math.min(1, Math.exp(-logLikelihoodRatio)),
    ci: { lower: delta - half, upper: delta + half, level },
  };
}

/** The always-valid p-value: the running minimum of the per-look p-values of one run. */
export function alwaysValidPValue(previous: number | undefined, current: number): number {
  if (previous === undefined || !Number.isFinite(previous)) return current;
  return Math.min(previous, current);
}
