// The four distributions the analysis needs, from @stdlib (ports of Boost/Cephes, checked against
// scipy in reference.json) rather than hand-written continued fractions. Upper tails are always
// computed from a lower tail by symmetry, never as `1 - cdf`, so tiny p-values keep their relative
// precision instead of collapsing to 0.
//
// Each is loaded with its first use (they are CommonJS, so a synchronous require): @stdlib's
// packages bring ~2.5 MiB of heap that a controller without Experiments or canary analyses never
// needs.
import { createRequire } from "node:module";
import type binomialCdfType from "@stdlib/stats-base-dists-binomial-cdf";
import type chiSquareCdfType from "@stdlib/stats-base-dists-chisquare-cdf";
import type normalCdfType from "@stdlib/stats-base-dists-normal-cdf";
import type normalQuantileType from "@stdlib/stats-base-dists-normal-quantile";
import type tCdfType from "@stdlib/stats-base-dists-t-cdf";
import type tQuantileType from "@stdlib/stats-base-dists-t-quantile";

const require = createRequire(import.meta.url);

interface Stdlib {
  binomialCdf: typeof binomialCdfType;
  chiSquareCdf: typeof chiSquareCdfType;
  normalCdf: typeof normalCdfType;
  normalQuantile: typeof normalQuantileType;
  tCdf: typeof tCdfType;
  tQuantile: typeof tQuantileType;
}
let loaded: Stdlib | undefined;

function stdlib(): Stdlib {
  loaded ??= {
    binomialCdf: require("@stdlib/stats-base-dists-binomial-cdf") as typeof binomialCdfType,
    chiSquareCdf: require("@stdlib/stats-base-dists-chisquare-cdf") as typeof chiSquareCdfType,
    normalCdf: require("@stdlib/stats-base-dists-normal-cdf") as typeof normalCdfType,
    normalQuantile:
      require("@stdlib/stats-base-dists-normal-quantile") as typeof normalQuantileType,
    tCdf: require("@stdlib/stats-base-dists-t-cdf") as typeof tCdfType,
    tQuantile: require("@stdlib/stats-base-dists-t-quantile") as typeof tQuantileType,
  };
  return loaded;
}

/** P(Z ≤ z) for the standard normal. */
export function normalCdf(z: number): number {
  return stdlib().normalCdf(z, 0, 1);
}

/** The z with P(Z ≤ z) = p for the standard normal. */
export function normalQuantile(p: number): number {
  return stdlib().normalQuantile(p, 0, 1);
}

/** P(T ≤ t) for Student's t with `df` degrees of freedom (df may be fractional, as in Welch). */
export function studentTCdf(t: number, df: number): number {
  return stdlib().tCdf(t, df);
}

/** The t with P(T ≤ t) = p for Student's t with `df` degrees of freedom. */
export function studentTQuantile(p: number, df: number): number {
  return stdlib().tQuantile(p, df);
}

/** P(X² ≤ x) for chi-square with `df` degrees of freedom. */
export function chiSquareCdf(x: number, df: number): number {
  return stdlib().chiSquareCdf(x, df);
}

/** P(X ≥ x) for chi-square; exact via the normal tail when df = 1 (the McNemar case). */
export function chiSquareSurvival(x: number, df: number): number {
  if (x <= 0) return 1;
  if (df === 1) return 2 * normalCdf(-Math.sqrt(x));
  return 1 - chiSquareCdf(x, df);
}

/** P(K ≤ k) for a binomial with `trials` trials and success probability `p`. */
export function binomialCdf(k: number, trials: number, p: number): number {
  return stdlib().binomialCdf(k, trials, p);
}

/** Two-sided p-value of a statistic that is standard normal under the null. */
export function twoSidedNormalP(z: number): number {
  return Math.min(1, 2 * normalCdf(-Math.abs(z)));
}

/** Two-sided p-value of a statistic that is Student t with `df` under the null. */
export function twoSidedTP(t: number, df: number): number {
  return Math.min(1, 2 * studentTCdf(-Math.abs(t), df));
}
