// Sample-ratio mismatch: do the units each variant was exposed to match the traffic weights? A
// mismatch means the assignment or the logging is broken (units dropped, redirected, filtered by
// variant), and every comparison built on it is suspect, so the decision waits until it clears.
// Pearson's chi-square goodness-of-fit test against the weights, df = (variants with weight) − 1.
// The threshold is strict (default 0.001, the usual industry choice) because the check is repeated
// at every look. Pure.
import { chiSquareSurvival } from "./distributions.js";

export interface SrmInput {
  variant: string;
  /** Units exposed to the variant. */
  observed: number;
  /** Its traffic weight (any positive scale: percentages, fractions). */
  weight: number;
}

export interface SrmResult {
  chiSquare: number;
  df: number;
  pValue: number;
  /** pValue < alpha, or exposures on a variant with weight 0. */
  mismatch: boolean;
  /** Expected units per variant under the weights, in input order. */
  expected: number[];
}

export const defaultSrmAlpha = 0.001;

/** The chi-square SRM check of `variants`' exposures against their weights. */
export function sampleRatioMismatch(
  variants: readonly SrmInput[],
  alpha: number = defaultSrmAlpha,
): SrmResult {
  const total = variants.reduce((sum, v) => sum + v.observed, 0);
  const weightSum = variants.reduce((sum, v) => sum + Math.max(0, v.weight), 0);
  const expected = variants.map((v) => (weightSum > 0 ? (total * v.weight) / weightSum : 0));
  // A unit on a variant that gets no traffic cannot happen when assignment works.
  const impossible = variants.some((v) => v.weight <= 0 && v.observed > 0);
  const weighted = variants.filter((v) => v.weight > 0);
  const df = weighted.length - 1;
  if (total === 0 || df < 1) {
    return {
      chiSquare: 0,
      df: Math.max(0, df),
      pValue: impossible ? 0 : 1,
      mismatch: impossible,
      expected,
    };
  }
  let chiSquare = 0;
  variants.forEach((v, i) => {
    const e = expected[i] ?? 0;
    if (e > 0) chiSquare += ((v.observed - e) * (v.observed - e)) / e;
  });
  const pValue = impossible ? 0 : chiSquareSurvival(chiSquare, df);
  return { chiSquare, df, pValue, mismatch: impossible || pValue < alpha, expected };
}
