import { describe, expect, it } from "vitest";
import { scoredRecord } from "./records.fixture.js";
import { budgetExhausted, planBatch, progressOf, spentOf, workUnits } from "./work.js";

const items = [0, 1, 2].map((i) => ({ id: `q${String(i)}`, vars: { q: String(i) } }));

const record = scoredRecord;

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
