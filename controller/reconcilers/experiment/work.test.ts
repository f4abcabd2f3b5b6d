import { describe, expect, it } from "vitest";
import { decideWinner } from "../../analysis/index.js";
import type { ExperimentSpec } from "../../api/generated/index.js";
import {
  analyze,
  budgetExhausted,
  comparisonsOf,
  planBatch,
  primaryMetricOf,
  progressOf,
  spentOf,
  workUnits,
} from "./plan.js";
import type { ResultRecord } from "./results.js";

const items = [0, 1, 2].map((i) => ({ id: `q${String(i)}`, vars: { q: String(i) } }));

function record(variant: string, item: string, passed: boolean, cost = 0.01): ResultRecord {
  return {
    key: `${variant}/${item}/0`,
    variant,
    item,
    repetition: 0,
    latencyMs: 10,
    costUSD: cost,
    calls: 1,
    scores: { correct: { score: passed ? 1 : 0, passed } },
  };
}

const spec: ExperimentSpec = {
  variants: [
    { name: "base", control: true, prompt: { name: "p" } },
    { name: "cand", prompt: { name: "p" } },
  ],
  evaluators: [{ name: "correct", type: "exactMatch" }],
  analysis: { primaryMetric: "correct", minSamples: 2 },
  dataset: { inline: { items: [] } },
};

describe("workUnits", () => {
  it("orders repetition, then item, then variant, so a stopped run stays paired", () => {
    expect(workUnits(["a", "b"], items.slice(0, 2), 2).map((u) => u.key)).toEqual([
      "a/q0/0",
      "b/q0/0",
      "a/q1/0",
      "b/q1/0",
      "a/q0/1",
      "b/q0/1",
      "a/q1/1",
      "b/q1/1",
    ]);
  });
});

describe("planBatch", () => {
  const units = workUnits(["a", "b"], items, 1);
  const rows: {
    name: string;
    done: string[];
    spent: { costUSD: number; calls: number };
    budget?: { maxCostUSD: number; maxCalls?: number };
    batchSize: number;
    want: { batch: string[]; remaining: number; budget: boolean };
  }[] = [
    {
      name: "nothing done: the first batch",
      done: [],
      spent: { costUSD: 0, calls: 0 },
      batchSize: 2,
      want: { batch: ["a/q0/0", "b/q0/0"], remaining: 6, budget: false },
    },
    {
      name: "done units are never planned again",
      done: ["a/q0/0", "b/q0/0", "b/q1/0"],
      spent: { costUSD: 0, calls: 3 },
      batchSize: 10,
      want: { batch: ["a/q1/0", "a/q2/0", "b/q2/0"], remaining: 3, budget: false },
    },
    {
      name: "all done: nothing left",
      done: units.map((u) => u.key),
      spent: { costUSD: 1, calls: 6 },
      budget: { maxCostUSD: 0.5 },
      batchSize: 10,
      want: { batch: [], remaining: 0, budget: false },
    },
    {
      name: "cost budget reached: stop",
      done: ["a/q0/0"],
      spent: { costUSD: 0.5, calls: 1 },
      budget: { maxCostUSD: 0.5 },
      batchSize: 10,
      want: { batch: [], remaining: 5, budget: true },
    },
    {
      name: "maxCalls caps the batch",
      done: ["a/q0/0"],
      spent: { costUSD: 0, calls: 1 },
      budget: { maxCostUSD: 10, maxCalls: 3 },
      batchSize: 10,
      want: { batch: ["b/q0/0", "a/q1/0"], remaining: 5, budget: false },
    },
  ];
  it.each(rows)("$name", ({ done, spent, budget, batchSize, want }) => {
    const plan = planBatch({ units, done: new Set(done), spent, budget, batchSize });
    expect(plan.batch.map((u) => u.key)).toEqual(want.batch);
    expect(plan.remaining).toBe(want.remaining);
    expect(plan.budgetReached !== null).toBe(want.budget);
  });
});

describe("budgetExhausted", () => {
  it("names the limit that was hit", () => {
    expect(budgetExhausted({ maxCostUSD: 1 }, { costUSD: 1.2, calls: 3 })).toMatch(
      /spent \$1\.2000 of the \$1 budget \(spec\.budget\.maxCostUSD\)/,
    );
    expect(budgetExhausted({ maxCostUSD: 1, maxCalls: 3 }, { costUSD: 0, calls: 3 })).toMatch(
      /spec\.budget\.maxCalls/,
    );
    expect(budgetExhausted(undefined, { costUSD: 99, calls: 99 })).toBeNull();
  });
});

describe("progress and spending", () => {
  it("counts completed, failed and cost", () => {
    const records = [
      record("a", "q0", true),
      { ...record("a", "q1", false), error: "http 400", calls: 0, costUSD: null },
    ];
    expect(progressOf(records, 4)).toEqual({
      completed: 2,
      total: 4,
      failed: 1,
      percent: 50,
      costUSD: 0.01,
    });
    expect(spentOf(records)).toEqual({ costUSD: 0.01, calls: 1 });
  });
});

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
