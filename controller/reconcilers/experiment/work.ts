// The units of work of a run, and what the next batch is: which units remain, what has been
// spent, whether the budget stops the run, and the progress they add up to. Pure.
import type {
  Experiment,
  ExperimentBudget,
  ExperimentStatus,
  ExperimentStatusProgress,
} from "../../api/generated/index.js";
import type { ReconcileStep } from "../../runtime/object-reconciler.js";
import type { DatasetItem } from "../../backends/datasets/items.js";
import { resultKey, type ResultRecord } from "./results.js";

/** One call to make: a variant on an item, one repetition. */
export interface WorkUnit {
  key: string;
  variant: string;
  item: DatasetItem;
  repetition: number;
}

/**
 * Every unit, repetition-major then item then variant, so that a run stopped early (budget) has
 * the same items for every variant, which keeps the comparison paired.
 */
export function workUnits(
  variants: readonly string[],
  items: readonly DatasetItem[],
  repetitions: number,
): WorkUnit[] {
  const units: WorkUnit[] = [];
  for (let repetition = 0; repetition < repetitions; repetition++) {
    for (const item of items) {
      for (const variant of variants) {
        units.push({ key: resultKey(variant, item.id, repetition), variant, item, repetition });
      }
    }
  }
  return units;
}

/** What has been spent, from the recorded results. */
export interface Spent {
  costUSD: number;
  calls: number;
}

export function spentOf(records: Iterable<ResultRecord>): Spent {
  let costUSD = 0;
  let calls = 0;
  for (const r of records) {
    costUSD += r.costUSD ?? 0;
    calls += r.calls;
  }
  return { costUSD, calls };
}

/** Why the budget stops the run, or null while there is room. */
export function budgetExhausted(budget: ExperimentBudget | undefined, spent: Spent): string | null {
  if (budget === undefined) return null;
  if (spent.costUSD >= budget.maxCostUSD) {
    return `spent $${spent.costUSD.toFixed(4)} of the $${String(budget.maxCostUSD)} budget (spec.budget.maxCostUSD)`;
  }
  if (budget.maxCalls !== undefined && spent.calls >= budget.maxCalls) {
    return `made ${String(spent.calls)} of the ${String(budget.maxCalls)} calls allowed (spec.budget.maxCalls)`;
  }
  return null;
}

/** The next batch to run and whether the run is complete or stopped. */
export interface BatchPlan {
  batch: WorkUnit[];
  /** Units not yet recorded (the batch included). */
  remaining: number;
  /** Set when the budget allows no further call. */
  budgetReached: string | null;
}

export function planBatch(options: {
  units: readonly WorkUnit[];
  done: ReadonlySet<string>;
  spent: Spent;
  budget: ExperimentBudget | undefined;
  batchSize: number;
}): BatchPlan {
  const pending = options.units.filter((u) => !options.done.has(u.key));
  const budgetReached = pending.length > 0 ? budgetExhausted(options.budget, options.spent) : null;
  let size = budgetReached ? 0 : Math.min(options.batchSize, pending.length);
  // Never plan more calls than maxCalls still allows; cost is checked again between calls.
  const maxCalls = options.budget?.maxCalls;
  if (maxCalls !== undefined) size = Math.min(size, Math.max(0, maxCalls - options.spent.calls));
  return { batch: pending.slice(0, size), remaining: pending.length, budgetReached };
}

/** Progress for status. */
export function progressOf(
  records: readonly ResultRecord[],
  total: number,
): ExperimentStatusProgress {
  const completed = records.length;
  const failed = records.filter((r) => r.error !== undefined).length;
  const interrupted = records.filter((r) => r.interrupted === true).length;
  const spent = spentOf(records);
  return {
    completed,
    total,
    failed,
    ...(interrupted > 0 ? { interrupted } : {}),
    percent: total === 0 ? 100 : Math.floor((100 * completed) / total),
    costUSD: round(spent.costUSD, 6),
  };
}

/** `value` rounded to `digits` decimals (status figures stay short). */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

type Step = ReconcileStep<ExperimentStatus>;

/** The status after a batch: progress, and whether the calls' failures call for a retry. */
export function afterBatch(options: {
  planned: Step;
  before: readonly ResultRecord[];
  batch: {
    records: readonly ResultRecord[];
    transient: readonly string[];
    fatal: string | null;
  };
  total: number;
  budget: Experiment["spec"]["budget"];
}): Step {
  const { planned, before, batch, total, budget } = options;
  const all = [...before, ...batch.records];
  const progress = progressOf(all, total);
  const status: ExperimentStatus = { ...planned.status, progress };
  const events = [...(planned.events ?? [])];
  const warnAt = budget?.warnAtCostUSD;
  const spentBefore = spentOf(before).costUSD;
  const spentNow = spentOf(all).costUSD;
  if (warnAt !== undefined && spentBefore < warnAt && spentNow >= warnAt) {
    events.push({
      type: "Warning",
      reason: "BudgetWarning",
      action: "Evaluate",
      note: `spent $${spentNow.toFixed(4)}, past spec.budget.warnAtCostUSD ($${String(warnAt)})${budget?.maxCostUSD !== undefined ? `; the run stops at $${String(budget.maxCostUSD)}` : ""}`,
    });
  }
  if (batch.fatal !== null) {
    return {
      status,
      outcome: { state: "Failed", reason: "ModelCallFailed", message: batch.fatal },
      events,
    };
  }
  if (batch.records.length === 0 && batch.transient.length > 0) {
    const message = `${String(batch.transient.length)} calls failed, will retry: ${batch.transient[0] ?? ""}`;
    return { status, outcome: { state: "Failed", reason: "ModelCallFailed", message }, events };
  }
  return {
    status,
    outcome: {
      state: "Progressing",
      reason: "Evaluating",
      message: `${String(progress.completed ?? 0)} of ${String(total)} calls done`,
    },
    events,
    requeueAfter: 1,
  };
}
