import { describe, expect, it } from "vitest";
import { scoredRecord } from "./records.fixture.js";
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import { defaultPriceTable, mergePriceTables } from "../../backends/llm/index.js";
import type { StoredObject } from "../../kube/resources.js";
import type { ObservedExperiment, ObservedRun } from "./observed.js";
import { planExperiment } from "./plan-experiment.js";
import { afterBatch } from "./work.js";
import { encodeRecord, resultKey, type ResultRecord } from "./results.js";
import type { ResolvedVariant } from "./variants.js";

const now = "2026-12-01T10:00:00Z";

function experiment(
  options: {
    status?: ExperimentStatus;
    budget?: Experiment["spec"]["budget"];
    generation?: number;
  } = {},
): StoredObject<Experiment> {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Experiment",
    metadata: {
      name: "qa",
      namespace: "team-a",
      uid: "u1",
      resourceVersion: "1",
      generation: options.generation ?? 1,
    },
    spec: {
      variants: [
        { name: "base", control: true, prompt: { name: "qa", version: 1 } },
        { name: "cand", prompt: { name: "qa", version: 2 } },
      ],
      dataset: { inline: { items: [] } },
      evaluators: [{ name: "correct", type: "exactMatch" }],
      analysis: { primaryMetric: "correct", minSamples: 2 },
      ...(options.budget ? { budget: options.budget } : {}),
    },
    ...(options.status ? { status: options.status } : {}),
  };
}

const variant = (name: string, control: boolean, model = "gpt-4o-mini"): ResolvedVariant => ({
  name,
  control,
  promptName: "qa",
  promptVersion: control ? 1 : 2,
  promptHash: `h-${name}`,
  template: { text: "{{q}}" },
  variables: [{ name: "q", required: true }],
  model,
  endpoint: { baseURL: "http://llm/v1" },
});

const items = [0, 1, 2].map((i) => ({
  id: `q${String(i)}`,
  vars: { q: String(i) },
  expected: "x",
}));

const record = scoredRecord;

function run(
  records: ResultRecord[],
  options: { journal?: string[]; stale?: string[]; resolved?: ResolvedVariant[] } = {},
): ObservedExperiment {
  const observed: ObservedRun = {
    prices: mergePriceTables(defaultPriceTable(), {}),
    resolved: options.resolved ?? [variant("base", true), variant("cand", false)],
    items,
    dataset: { source: "spec.dataset.inline", generation: 1, items: items.length },
    runId: "run-1",
    stored: {
      chunks: [{ index: 0, text: records.map(encodeRecord).join("") }],
      journalTexts: options.journal ?? [],
      stale: options.stale ?? [],
    },
  };
  return { kind: "run", run: observed };
}

const all = ["q0", "q1", "q2"].flatMap((id) => [
  record("base", id, false),
  record("cand", id, true),
]);
const running: ExperimentStatus = { phase: "Running", startedAt: "2026-12-01T09:00:00Z" };

describe("planExperiment", () => {
  const rows: {
    name: string;
    experiment: StoredObject<Experiment>;
    observed: ObservedExperiment;
    want: {
      state?: string;
      reason?: string;
      phase?: string;
      then?: string;
      batch?: number;
      message?: RegExp;
    };
  }[] = [
    {
      name: "online A/B (spec.traffic): collecting outcomes (online-plan.test.ts has the rest)",
      experiment: experiment(),
      observed: {
        kind: "online",
        online: {
          variants: [
            { name: "base", control: true, prompt: "qa", promptVersion: 1 },
            { name: "cand", control: false, prompt: "qa", promptVersion: 2 },
          ],
          runId: "r1",
          startedAt: now,
          state: undefined,
        },
      },
      want: { state: "Progressing", reason: "Collecting", phase: "Running", then: "online" },
    },
    {
      name: "a Prompt that does not exist yet: waiting (Reconciling, not Stalled)",
      experiment: experiment(),
      observed: {
        kind: "blocked",
        blocked: { kind: "wait", reason: "PromptNotFound", message: "Prompt qa does not exist" },
      },
      want: { state: "Progressing", reason: "DependencyNotReady", phase: "Pending" },
    },
    {
      name: "a version that is not in the history: Stalled",
      experiment: experiment(),
      observed: {
        kind: "blocked",
        blocked: { kind: "stall", reason: "PromptVersionUnavailable", message: "no version 7" },
      },
      want: { state: "Stalled", reason: "PromptVersionUnavailable" },
    },
    {
      name: "an invalid price table: Failed (retried)",
      experiment: experiment(),
      observed: {
        kind: "blocked",
        blocked: { kind: "failed", reason: "InvalidPriceTable", message: "bad" },
      },
      want: { state: "Failed", reason: "InvalidPriceTable" },
    },
    {
      name: "a budget on a model without a price: Stalled",
      experiment: experiment({ budget: { maxCostUSD: 1 } }),
      observed: run([], {
        resolved: [variant("base", true, "my-local-model"), variant("cand", false)],
      }),
      want: { state: "Stalled", reason: "UnknownPrice", message: /my-local-model has no price/ },
    },
    {
      name: "not started: phase Running is written first, no call yet",
      experiment: experiment(),
      observed: run([]),
      want: { state: "Progressing", reason: "Evaluating", phase: "Running", then: "none" },
    },
    {
      name: "running: the next batch of the units left",
      experiment: experiment({ status: running }),
      observed: run(all.slice(0, 2)),
      want: { state: "Progressing", reason: "Evaluating", then: "batch", batch: 4 },
    },
    {
      name: "budget spent: Stalled BudgetExceeded, phase Failed, results so far kept",
      experiment: experiment({ status: running, budget: { maxCostUSD: 0.02 } }),
      observed: run(all.slice(0, 2)),
      want: {
        state: "Stalled",
        reason: "BudgetExceeded",
        phase: "Failed",
        then: "none",
        message: /stopped after 2 of 6 calls/,
      },
    },
    {
      name: "every unit done: Completed with the analysis",
      experiment: experiment({ status: running }),
      observed: run(all),
      want: { state: "Ready", reason: "Completed", phase: "Completed", then: "complete" },
    },
    {
      name: "finished and Completed: only the promotion is looked at again",
      experiment: experiment({
        status: { phase: "Completed", observedGeneration: 1, recommendation: "keep base" },
      }),
      observed: { kind: "finished" },
      want: { state: "Ready", reason: "Completed", then: "promotion" },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const plan = planExperiment({
        object: row.experiment,
        observed: row.observed,
        now,
        batchSize: 128,
      });
      expect(plan.step?.outcome).toMatchObject({ state: row.want.state, reason: row.want.reason });
      if (row.want.message) expect(plan.step?.outcome.message).toMatch(row.want.message);
      if (row.want.phase) expect(plan.step?.status.phase).toBe(row.want.phase);
      expect(plan.actions?.then.kind).toBe(row.want.then);
      if (row.want.batch !== undefined) {
        const then = plan.actions?.then;
        expect(then?.kind === "batch" ? then.units.length : -1).toBe(row.want.batch);
      }
    });
  }

  it("a finished Failed run does nothing and writes nothing", () => {
    const plan = planExperiment({
      object: experiment({ status: { phase: "Failed", observedGeneration: 1 } }),
      observed: { kind: "finished" },
      now,
      batchSize: 128,
    });
    expect(plan).toEqual({});
  });

  it("a killed controller's claims become interrupted records, saved once, with a Warning", () => {
    const journal = JSON.stringify({
      runId: "run-1",
      batch: "b1",
      seq: 0,
      claims: [resultKey("base", "q1", 0)],
      records: [record("cand", "q0", true)],
    });
    const plan = planExperiment({
      object: experiment({ status: running }),
      observed: run([record("base", "q0", false)], { journal: [journal], stale: ["qa-results-9"] }),
      now,
      batchSize: 128,
    });
    expect(plan.actions?.recovered.map((r) => [r.key, r.interrupted === true])).toEqual([
      ["cand/q0/0", false],
      ["base/q1/0", true],
    ]);
    expect(plan.actions?.clearJournal).toBe(true);
    expect(plan.actions?.deleteStale).toEqual(["qa-results-9"]);
    expect(plan.step?.events?.map((e) => e.reason)).toEqual(["CallsInterrupted"]);
    // Three of six units are settled; the batch holds only the other three.
    const then = plan.actions?.then;
    expect(then?.kind === "batch" ? then.units.map((u) => u.key) : []).toEqual([
      "cand/q1/0",
      "base/q2/0",
      "cand/q2/0",
    ]);
  });

  it("the batch size bounds the calls of one reconcile", () => {
    const plan = planExperiment({
      object: experiment({ status: running }),
      observed: run([]),
      now,
      batchSize: 2,
    });
    const then = plan.actions?.then;
    expect(then?.kind === "batch" ? then.units.length : 0).toBe(2);
  });
});

describe("afterBatch", () => {
  const planned = {
    status: { ...running, progress: { completed: 0, total: 6 } },
    outcome: { state: "Progressing", reason: "Evaluating", message: "" } as const,
  };
  it.each([
    [
      "results: progress, requeue for the next batch",
      { records: all.slice(0, 2), transient: [], fatal: null },
      { state: "Progressing", message: "2 of 6 calls done" },
    ],
    [
      "a fatal failure: Failed, retried",
      { records: [], transient: [], fatal: "401 from the endpoint" },
      { state: "Failed", reason: "ModelCallFailed", message: "401 from the endpoint" },
    ],
    [
      "only transient failures: Failed, retried",
      { records: [], transient: ["503", "503"], fatal: null },
      { state: "Failed", reason: "ModelCallFailed", message: "2 calls failed, will retry: 503" },
    ],
  ])("%s", (_name, batch, want) => {
    const step = afterBatch({ planned, before: [], batch, total: 6, budget: undefined });
    expect(step.outcome).toMatchObject(want);
  });

  it("warns once when spending crosses warnAtCostUSD", () => {
    const step = afterBatch({
      planned,
      before: [record("base", "q0", true, 0.04)],
      batch: { records: [record("cand", "q0", true, 0.02)], transient: [], fatal: null },
      total: 6,
      budget: { maxCostUSD: 0.1, warnAtCostUSD: 0.05 },
    });
    expect(step.events?.map((e) => e.reason)).toEqual(["BudgetWarning"]);
    expect(step.status.progress).toMatchObject({ completed: 2, total: 6 });
    const later = afterBatch({
      planned,
      before: [record("base", "q0", true, 0.06)],
      batch: { records: [record("cand", "q0", true, 0.02)], transient: [], fatal: null },
      total: 6,
      budget: { maxCostUSD: 0.1, warnAtCostUSD: 0.05 },
    });
    expect(later.events).toEqual([]);
  });
});
