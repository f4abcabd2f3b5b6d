import { describe, expect, it } from "vitest";
import { decideWinner, formatDelta, formatPValue, type AnalysisConfig } from "./decide.js";
import type { Observation, VariantObservations } from "./observations.js";
import { expectClose, loadReference } from "../../test/fixtures/stats/reference.js";

const ref = loadReference().experiments;

function row(key: string, passed: boolean, extra: Partial<Observation> = {}): Observation {
  return { key, score: passed ? 1 : 0, passed, latencyMs: 100, costUSD: 0.001, ...extra };
}

/** `n` units where the first `passes` pass; keys item-0 … item-(n−1). */
function variant(name: string, n: number, passes: number, extra: Partial<Observation> = {}) {
  return {
    name,
    observations: Array.from({ length: n }, (_, i) => row(`item-${i}`, i < passes, extra)),
  };
}

const correctness: AnalysisConfig = {
  control: "control",
  primary: { name: "correctness", kind: "proportion" },
};

describe("decideWinner on the scipy reference experiment (paired, 3 variants)", () => {
  const { variants, summaries, comparisons } = ref.paired;
  const decision = decideWinner(variants, {
    ...correctness,
    minimumSamples: 30,
    guardrails: [
      { metric: "costMean", relativeMargin: 0.15 },
      { metric: "latencyP95", relativeMargin: 0.2 },
    ],
  });

  it.each(Object.entries(summaries))("summarizes %s like numpy/scipy", (name, want) => {
    const s = decision.variants.find((v) => v.name === name);
    expect(s?.passRate?.rate).toBeCloseTo(want.passRate, 12);
    expectClose(s?.passRate?.ci.lower ?? Number.NaN, want.wilson95[0], "wilson lower");
    expectClose(s?.passRate?.ci.upper ?? Number.NaN, want.wilson95[1], "wilson upper");
    expectClose(s?.latency?.p50 ?? Number.NaN, want.latencyP50, "p50");
    expectClose(s?.latency?.p95 ?? Number.NaN, want.latencyP95, "p95");
    expectClose(s?.cost?.total ?? Number.NaN, want.costTotal, "cost total");
    expectClose(s?.cost?.mean ?? Number.NaN, want.costMean, "cost mean");
  });

  it.each(Object.entries(comparisons))(
    "compares %s with McNemar + Holm like statsmodels",
    (name, want) => {
      const c = decision.comparisons.find((x) => x.variant === name);
      expect(c?.paired).toBe(true);
      expectClose(c?.result.pValue ?? Number.NaN, want.pValue, "p");
      expectClose(c?.adjustedPValue ?? Number.NaN, want.adjustedPValue, "Holm p");
      expectClose(c?.result.delta ?? Number.NaN, want.delta, "delta");
      const cost = c?.guardrails.find((g) => g.metric === "costMean");
      expect(cost?.method).toBe("paired-t-confidence-bound");
      expectClose(cost?.bound ?? Number.NaN, want.costUpperBound90, "cost bound");
    },
  );

  it("names the better variant and says why", () => {
    expect(decision.decision).toBe("candidate-wins");
    expect(decision.winner).toBe("better");
    expect(decision.recommendation).toBe(
      "better beats control on correctness by +11.3 pts, p < 0.001 (Holm-adjusted), guardrails hold",
    );
  });
});

describe("decideWinner on an unpaired continuous metric (Welch)", () => {
  const u = ref.unpairedMeans;
  const toRows = (prefix: string, xs: number[]): Observation[] =>
    xs.map((score, i) => ({
      key: `${prefix}-${i}`,
      score,
      passed: null,
      latencyMs: null,
      costUSD: null,
    }));
  const decision = decideWinner(
    [
      { name: "control", observations: toRows("c", u.control) },
      { name: "candidate", observations: toRows("t", u.candidate) },
    ],
    { control: "control", primary: { name: "helpfulness", kind: "mean" } },
  );

  it("uses Welch's test and matches scipy", () => {
    const c = decision.comparisons[0];
    expect(c?.paired).toBe(false);
    expect(c?.result.test).toBe("welch-t");
    expectClose(c?.result.pValue ?? Number.NaN, u.pValue, "p");
    expectClose(c?.result.statistic ?? Number.NaN, u.statistic, "t");
    expectClose(c?.result.df ?? Number.NaN, u.df, "df");
    expectClose(c?.adjustedPValue ?? Number.NaN, u.pValue, "single candidate: no adjustment");
  });
});

describe("decideWinner decisions", () => {
  const table: {
    name: string;
    variants: VariantObservations[];
    config: AnalysisConfig;
    want: { decision: string; winner: string | null; recommendation: string | RegExp };
  }[] = [
    {
      name: "no difference: says how many items would be needed",
      variants: [variant("control", 40, 28), variant("candidate", 40, 29)],
      config: { ...correctness, minimumDetectableEffect: 0.1 },
      want: {
        decision: "no-significant-difference",
        winner: null,
        recommendation:
          "no significant difference with n = 40 (best: candidate +2.5 pts, p = 1); need ≈ 294 items per variant to detect +10.0 pts",
      },
    },
    {
      name: "too few samples: no verdict even if the difference is large",
      variants: [variant("control", 10, 1), variant("candidate", 10, 10)],
      config: { ...correctness, minimumSamples: 30 },
      want: {
        decision: "insufficient-data",
        winner: null,
        recommendation:
          "not enough data yet: n = 10, at least 30 per variant are needed before deciding",
      },
    },
    {
      name: "control wins when every candidate is significantly worse",
      variants: [variant("control", 60, 55), variant("worse", 60, 20)],
      config: correctness,
      want: {
        decision: "control-wins",
        winner: "control",
        recommendation:
          "control beats every candidate on correctness (worse −58.3 pts, p < 0.001); keep control",
      },
    },
    {
      name: "a guardrail failure blocks the winner",
      variants: [
        variant("control", 60, 20, { latencyMs: 100 }),
        variant("slow", 60, 55, { latencyMs: 300 }),
      ],
      config: { ...correctness, guardrails: [{ metric: "latencyP95", relativeMargin: 0.1 }] },
      want: {
        decision: "guardrail-failed",
        winner: null,
        recommendation:
          "slow beats control on correctness by +58.3 pts, p < 0.001, but fails a guardrail: latencyP95 300 ms vs 100 ms exceeds the margin of 10 ms; keep control",
      },
    },
    {
      name: "the larger significant improvement wins among candidates",
      variants: [variant("control", 80, 20), variant("good", 80, 50), variant("best", 80, 70)],
      config: correctness,
      want: {
        decision: "candidate-wins",
        winner: "best",
        recommendation:
          /^best beats control on correctness by \+62\.5 pts, p < 0\.001 \(Holm-adjusted\), no guardrails configured$/,
      },
    },
    {
      name: "disjoint keys (online A/B) use the two-proportion z-test",
      variants: [
        variant("control", 100, 50),
        {
          name: "candidate",
          observations: variant("x", 100, 70).observations.map((o) => ({
            ...o,
            key: `u-${o.key}`,
          })),
        },
      ],
      config: correctness,
      want: {
        decision: "candidate-wins",
        winner: "candidate",
        recommendation: /by \+20\.0 pts, p = 0\.004/,
      },
    },
  ];

  it.each(table)("$name", ({ variants, config, want }) => {
    const d = decideWinner(variants, config);
    expect(d.decision).toBe(want.decision);
    expect(d.winner).toBe(want.winner);
    if (typeof want.recommendation === "string") expect(d.recommendation).toBe(want.recommendation);
    else expect(d.recommendation).toMatch(want.recommendation);
  });

  it("excludes unscored rows (judge failures) instead of counting them as zero", () => {
    const control = variant("control", 30, 15);
    const candidate = variant("candidate", 30, 15);
    const withFailures = {
      ...candidate,
      observations: candidate.observations.map((o, i) =>
        i >= 15 ? { ...o, score: null, passed: null } : o,
      ),
    };
    const d = decideWinner([control, withFailures], correctness);
    const s = d.variants.find((v) => v.name === "candidate");
    expect(s).toMatchObject({ units: 30, unscored: 15 });
    expect(s?.passRate?.rate).toBe(1);
    expect(d.comparisons[0]?.n).toBe(15);
  });

  it("names a missing control", () => {
    expect(() => decideWinner([variant("a", 5, 2)], correctness)).toThrow(
      /analysis.control names variant "control"/,
    );
  });
});

describe("formatting", () => {
  it.each([
    [0.0004, "< 0.001"],
    [0.003, "= 0.003"],
    [0.0496, "= 0.05"],
    [0.41, "= 0.41"],
    [1, "= 1"],
  ])("p %s → %s", (p, want) => {
    expect(formatPValue(p)).toBe(want);
  });

  it.each([
    [0.081, "proportion", "+8.1 pts"],
    [-0.05, "proportion", "−5.0 pts"],
    [0, "proportion", "±0.0 pts"],
    [0.12345, "mean", "+0.123"],
  ] as const)("delta %s (%s) → %s", (delta, kind, want) => {
    expect(formatDelta(delta, kind)).toBe(want);
  });
});
