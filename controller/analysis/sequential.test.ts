import { describe, expect, it } from "vitest";
import { twoSidedNormalP } from "./distributions.js";
import {
  addValue,
  emptyMoments,
  mergeMoments,
  momentsOf,
  momentsVariance,
  type Moments,
} from "./moments.js";
import { alwaysValidPValue, msprt } from "./sequential.js";
import { sampleVariance } from "./descriptive.js";

/** mulberry32: a small seeded generator, so every simulation is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): () => number {
  return () => {
    const u = Math.max(random(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

/**
 * The mixture likelihood ratio by numerical integration, written from its definition rather than
 * from the closed form: ∫ [N(Δ̂; θ, V) / N(Δ̂; θ₀, V)] N(θ − θ₀; 0, τ²) dθ (Simpson's rule).
 */
function integratedRatio(delta: number, variance: number, tau2: number, theta0 = 0): number {
  const tau = Math.sqrt(tau2);
  const steps = 20_000;
  const lo = theta0 - 12 * tau;
  const hi = theta0 + 12 * tau;
  const h = (hi - lo) / steps;
  const density = (x: number, m: number, v: number): number =>
    Math.exp(-((x - m) * (x - m)) / (2 * v)) / Math.sqrt(2 * Math.PI * v);
  let sum = 0;
  for (let i = 0; i <= steps; i++) {
    const theta = lo + i * h;
    const f =
      (density(delta, theta, variance) / density(delta, theta0, variance)) *
      density(theta, theta0, tau2);
    sum += f * (i === 0 || i === steps ? 1 : i % 2 === 1 ? 4 : 2);
  }
  return (sum * h) / 3;
}

const moments = (values: number[]): Moments => momentsOf(values);

describe("moments", () => {
  it("merging batches gives the moments of the whole sample", () => {
    const random = rng(7);
    const values = Array.from({ length: 1000 }, () => 1e6 + random() * 10);
    const whole = momentsOf(values);
    const merged = [0, 100, 350, 351, 999, 1000]
      .slice(1)
      .reduce<Moments>(
        (acc, end, i, ends) =>
          mergeMoments(acc, momentsOf(values.slice(i === 0 ? 0 : ends[i - 1], end))),
        emptyMoments,
      );
    expect(merged.n).toBe(1000);
    expect(merged.mean).toBeCloseTo(whole.mean, 9);
    expect(momentsVariance(merged)).toBeCloseTo(sampleVariance(values), 6);
    expect(momentsVariance(addValue(emptyMoments, 3))).toBeNaN();
  });
});

describe("msprt", () => {
  const cases = [
    {
      name: "small positive effect",
      a: [0, 1, 0, 0, 1, 0, 1, 0, 0, 0],
      b: [1, 1, 0, 1, 1, 0, 1, 1, 0, 1],
    },
    {
      name: "continuous, unequal n",
      a: [2.1, 3.4, 2.2, 2.9, 3.1, 2.5],
      b: [3.3, 4.1, 3.9, 2.8, 3.7, 4.4, 3.0, 3.8],
    },
    { name: "no difference", a: [1, 2, 3, 4, 5], b: [5, 4, 3, 2, 1] },
  ];
  for (const c of cases) {
    for (const effectSize of [0.1, 0.5, 2]) {
      it(`Λ matches the integrated mixture (${c.name}, effectSize ${String(effectSize)})`, () => {
        const r = msprt(moments(c.b), moments(c.a), { effectSize, alpha: 0.05 });
        const ratio = integratedRatio(r.delta, r.variance, r.mixingVariance);
        expect(Math.exp(r.logLikelihoodRatio)).toBeCloseTo(ratio, 6);
        expect(r.pValue).toBeCloseTo(Math.min(1, 1 / ratio), 6);
        // At either end of the confidence sequence the ratio against that value is exactly 1/α.
        expect(integratedRatio(r.delta, r.variance, r.mixingVariance, r.ci.upper)).toBeCloseTo(
          20,
          3,
        );
        expect(integratedRatio(r.delta, r.variance, r.mixingVariance, r.ci.lower)).toBeCloseTo(
          20,
          3,
        );
      });
    }
  }

  it("uses the sample variances and the pooled SD as documented", () => {
    const a = [1, 2, 3, 4];
    const b = [2, 4, 6, 8, 10];
    const r = msprt(moments(b), moments(a), { effectSize: 0.3 });
    const va = sampleVariance(a);
    const vb = sampleVariance(b);
    expect(r.delta).toBeCloseTo(6 - 2.5, 12);
    expect(r.variance).toBeCloseTo(va / 4 + vb / 5, 12);
    expect(r.mixingVariance).toBeCloseTo(0.09 * ((3 * va + 4 * vb) / 7), 12);
  });

  it("has no information below two observations or without variance", () => {
    expect(msprt(moments([1]), moments([0, 1])).pValue).toBe(1);
    const constant = msprt(moments([1, 1, 1]), moments([0, 0, 0]));
    expect(constant.pValue).toBe(1);
    expect(constant.ci.upper).toBe(Number.POSITIVE_INFINITY);
  });

  it("rejects bad options with the field", () => {
    expect(() => msprt(moments([1, 2]), moments([1, 2]), { alpha: 0 })).toThrow(/alpha/);
    expect(() => msprt(moments([1, 2]), moments([1, 2]), { effectSize: 0 })).toThrow(/effectSize/);
  });

  it("keeps the running minimum as the always-valid p-value", () => {
    expect(alwaysValidPValue(undefined, 0.4)).toBe(0.4);
    expect(alwaysValidPValue(0.2, 0.4)).toBe(0.2);
    expect(alwaysValidPValue(0.2, 0.1)).toBe(0.1);
  });
});

/**
 * One simulated experiment watched after every `look` new observations per arm, from `min` per
 * arm up to `max`: stops at the first look where the test rejects. Returns whether it rejected,
 * when, and the confidence sequence at that look.
 */
function simulate(options: {
  control: () => number;
  candidate: () => number;
  look: number;
  min: number;
  max: number;
  alpha: number;
  test: "msprt" | "naive-z";
}): { rejected: boolean; n: number; ci?: { lower: number; upper: number } } {
  let a: Moments = emptyMoments;
  let b: Moments = emptyMoments;
  let p: number | undefined;
  while (a.n < options.max) {
    for (let i = 0; i < options.look; i++) {
      a = addValue(a, options.control());
      b = addValue(b, options.candidate());
    }
    if (a.n < options.min) continue;
    if (options.test === "naive-z") {
      // The fixed-horizon test, wrongly re-run at every look.
      const se = Math.sqrt(momentsVariance(a) / a.n + momentsVariance(b) / b.n);
      if (se > 0 && twoSidedNormalP((b.mean - a.mean) / se) <= options.alpha)
        return { rejected: true, n: a.n };
      continue;
    }
    const r = msprt(b, a, { alpha: options.alpha, effectSize: 0.1 });
    p = alwaysValidPValue(p, r.pValue);
    if (p <= options.alpha) return { rejected: true, n: a.n, ci: r.ci };
  }
  return { rejected: false, n: a.n };
}

describe("msprt under continuous monitoring (simulation)", () => {
  const alpha = 0.05;
  const runs = 1000;

  it(`keeps the false-positive rate at or below α over ${String(runs)} A/A experiments (conversion 20%)`, () => {
    const random = rng(20240601);
    const bernoulli = (p: number) => () => (random() < p ? 1 : 0);
    let rejected = 0;
    let naive = 0;
    for (let i = 0; i < runs; i++) {
      const look = { look: 50, min: 100, max: 5000, alpha };
      if (
        simulate({ ...look, control: bernoulli(0.2), candidate: bernoulli(0.2), test: "msprt" })
          .rejected
      )
        rejected++;
      if (
        simulate({ ...look, control: bernoulli(0.2), candidate: bernoulli(0.2), test: "naive-z" })
          .rejected
      )
        naive++;
    }
    // Peeking at a fixed-horizon test inflates the error several-fold; the mSPRT does not.
    expect(naive / runs).toBeGreaterThan(2 * alpha);
    expect(rejected / runs).toBeLessThanOrEqual(alpha);
  });

  it(`keeps the false-positive rate at or below α over ${String(runs)} A/A experiments (normal scores)`, () => {
    const random = rng(99);
    const normal = gaussian(random);
    const score = () => 3 + 1.5 * normal();
    let rejected = 0;
    for (let i = 0; i < runs; i++) {
      if (
        simulate({
          control: score,
          candidate: score,
          look: 20,
          min: 30,
          max: 4000,
          alpha,
          test: "msprt",
        }).rejected
      )
        rejected++;
    }
    expect(rejected / runs).toBeLessThanOrEqual(alpha);
  });

  it("detects a known effect (10% → 13% conversion) and its confidence sequence covers it", () => {
    const random = rng(4242);
    const bernoulli = (p: number) => () => (random() < p ? 1 : 0);
    const trials = 300;
    let detected = 0;
    let covered = 0;
    let wrongSign = 0;
    const stops: number[] = [];
    for (let i = 0; i < trials; i++) {
      const r = simulate({
        control: bernoulli(0.1),
        candidate: bernoulli(0.13),
        look: 100,
        min: 100,
        max: 20_000,
        alpha,
        test: "msprt",
      });
      if (!r.rejected || r.ci === undefined) continue;
      detected++;
      stops.push(r.n);
      if (r.ci.lower <= 0.03 && 0.03 <= r.ci.upper) covered++;
      if (r.ci.upper < 0) wrongSign++;
    }
    expect(detected / trials).toBeGreaterThanOrEqual(0.9);
    expect(covered / detected).toBeGreaterThanOrEqual(1 - alpha);
    expect(wrongSign).toBe(0);
    stops.sort((x, y) => x - y);
    // Sequential tests stop early when the effect is clear: the median stop is well inside the cap.
    expect(stops[Math.floor(stops.length / 2)]).toBeLessThan(10_000);
  });
});
