import { describe, expect, it } from "vitest";
import { scoredRecord } from "./records.fixture.js";
import { decideWinner } from "../../analysis/index.js";
import type { ExperimentSpec } from "../../api/generated/index.js";
import { analyze, comparisonsOf, primaryMetricOf, variantResults } from "./summary.js";

const record = scoredRecord;

const spec: ExperimentSpec = {
  variants: [
    { name: "base", control: true, prompt: { name: "p" } },
    { name: "cand", prompt: { name: "p" } },
  ],
  evaluators: [{ name: "correct", type: "exactMatch" }],
  analysis: { primaryMetric: "correct", minSamples: 2 },
  dataset: { inline: { items: [] } },
};

describe("primaryMetricOf", () => {
  it.each([
    [{ name: "m", type: "exactMatch" as const }, "proportion"],
    [{ name: "m", type: "llmJudge" as const, llmJudge: { rubric: "r" } }, "mean"],
    [{ name: "m", type: "latency" as const }, "mean"],
    [{ name: "m", type: "latency" as const, latency: { maxMs: 100 } }, "proportion"],
  ])("%o → %s", (evaluator, kind) => {
    expect(primaryMetricOf({ ...spec, evaluators: [evaluator], analysis: undefined })).toEqual({
      name: "m",
      kind,
    });
  });
});

describe("analyze", () => {
  it("pairs variants by item and matches controller/analysis computed directly", () => {
    const ids = Array.from({ length: 20 }, (_, i) => `q${String(i)}`);
    const records = [
      ...ids.map((id, i) => record("base", id, i < 10)),
      ...ids.map((id, i) => record("cand", id, i < 19)),
    ];
    const decision = analyze(spec, records, ["base", "cand"], "base");
    const direct = decideWinner(
      ["base", "cand"].map((name) => ({
        name,
        observations: [...ids].sort().map((id) => {
          const passed = name === "base" ? Number(id.slice(1)) < 10 : Number(id.slice(1)) < 19;
          return {
            key: `${id}#0`,
            score: passed ? 1 : 0,
            passed,
            latencyMs: 10,
            costUSD: 0.01,
          };
        }),
      })),
      { control: "base", primary: { name: "correct", kind: "proportion" }, minimumSamples: 2 },
    );
    expect(decision.winner).toBe("cand");
    expect(decision.comparisons[0]?.result.test).toBe("mcnemar-exact");
    expect(decision.comparisons[0]?.adjustedPValue).toBeCloseTo(
      direct.comparisons[0]?.adjustedPValue ?? -1,
      12,
    );
    expect(comparisonsOf(decision, "correct")).toEqual([
      expect.objectContaining({
        variant: "cand",
        metric: "correct",
        significant: true,
        delta: 0.45,
      }),
    ]);
  });

  it.each([
    ["auto", "mcnemar-exact"],
    ["paired", "mcnemar-exact"],
    ["unpaired", "two-proportion-z"],
  ] as const)("spec.analysis.design %s tests with %s", (design, test) => {
    const ids = Array.from({ length: 20 }, (_, i) => `q${String(i)}`);
    const records = [
      ...ids.map((id, i) => record("base", id, i < 10)),
      ...ids.map((id, i) => record("cand", id, i < 19)),
    ];
    const withDesign = {
      ...spec,
      analysis: { ...spec.analysis, primaryMetric: "correct", design },
    };
    expect(analyze(withDesign, records, ["base", "cand"], "base").comparisons[0]?.result.test).toBe(
      test,
    );
  });
});

describe("variantResults", () => {
  it("records the ModelDeployment revision a variant ran on, and none for an endpoint", () => {
    const records = [record("base", "q0", true), record("cand", "q0", false)];
    const decision = analyze(spec, records, ["base", "cand"], "base");
    const results = variantResults(
      records,
      [
        { name: "base", promptVersion: 1 },
        { name: "cand", promptVersion: 1, revision: "coder-3f9a1c2d4e" },
      ],
      decision,
      spec.evaluators,
    );
    expect(results.map((r) => [r.variant, r.revision])).toEqual([
      ["base", undefined],
      ["cand", "coder-3f9a1c2d4e"],
    ]);
    expect("revision" in (results[0] ?? {})).toBe(false);
  });
});
