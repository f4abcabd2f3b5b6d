// How many items per variant a two-sided test at level α needs to detect a given effect with the
// given power. Both use the normal approximation for two independent groups of equal size, so for
// paired designs (usually positively correlated) they are conservative.
import { normalQuantile } from "./distributions.js";

/** Options shared by the sample-size functions. */
export interface PowerOptions {
  /** Two-sided significance level; default 0.05. */
  alpha?: number;
  /** Probability of detecting the effect when it is real; default 0.8. */
  power?: number;
}

/**
 * Items per variant to detect a change from proportion `baseline` to `baseline + effect`
 * (Fleiss, without continuity correction):
 * n = [z₁₋α/₂·√(2·p̄·q̄) + z₁₋β·√(p₁q₁ + p₂q₂)]² / δ², rounded up. Infinity when effect is 0.
 */
export function sampleSizeTwoProportions(
  baseline: number,
  effect: number,
  options: PowerOptions = {},
): number {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  const p1 = baseline;
  const p2 = baseline + effect;
  if (!(p1 >= 0 && p1 <= 1 && p2 >= 0 && p2 <= 1)) {
    throw new RangeError(
      `sample size: baseline ${baseline} + effect ${effect} must stay within [0, 1]`,
    );
  }
  if (effect === 0) return Infinity;
  const za = normalQuantile(1 - alpha / 2);
  const zb = normalQuantile(power);
  const pbar = (p1 + p2) / 2;
  const root =
    za * Math.sqrt(2 * pbar * (1 - pbar)) + zb * Math.sqrt(p1 * (1 - p1) + p2 * (1 - p2));
  // A t-test needs two values per group, whatever the formula says.
  return Math.max(2, Math.ceil((root * root) / (effect * effect)));
}

/**
 * Items per variant to detect a difference `effect` between two means with common standard
 * deviation `standardDeviation`: n = 2·σ²·(z₁₋α/₂ + z₁₋β)² / δ², rounded up. Infinity when effect
 * is 0.
 */
export function sampleSizeTwoMeans(
  standardDeviation: number,
  effect: number,
  options: PowerOptions = {},
): number {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  if (!(standardDeviation >= 0)) {
    throw new RangeError(`sample size: standard deviation must be ≥ 0, got ${standardDeviation}`);
  }
  if (effect === 0) return Infinity;
  const z = normalQuantile(1 - alpha / 2) + normalQuantile(power);
  return Math.max(
    2,
    Math.ceil((2 * standardDeviation * standardDeviation * z * z) / (effect * effect)),
  );
}
