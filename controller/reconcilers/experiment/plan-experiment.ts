// What one Experiment reconcile does, decided from the spec, what observe read and the time. Pure.
//
//   online (spec.traffic) → online-plan.ts
//   finished            → promotion only (a Completed run re-runs on a spec change, or when a
//                         variant that follows a canary (role Canary) finds a new one)
//   blocked             → Stalled (only a spec change helps), waiting (DependencyNotReady) or Failed
//   every unit done     → complete: the final analysis (tracking and promotion are act's)
//   budget reached      → Stalled BudgetExceeded, results so far kept
//   not started         → phase Running first (one status write), then batches
//   otherwise           → one batch of calls, then requeue
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import { lookupPrice } from "../../backends/llm/index.js";
import type { StoredObject } from "../../kube/resources.js";
import type { Plan, ReconcileStep } from "../../runtime/object-reconciler.js";
import { decodeJournalWrite, mergeJournal, recoverJournal } from "./journal.js";
import type { BlockedRun, ExperimentActions, ObservedExperiment, ObservedRun } from "./observed.js";
import { decodeChunk, type ResultRecord } from "./results.js";
import { analyze, comparisonsOf, primaryMetricOf, variantResults } from "./summary.js";
import { planOnline } from "./online-plan.js";
import { missingVariables } from "./variants.js";
import { planBatch, progressOf, spentOf, workUnits } from "./work.js";

type ExperimentPlan = Plan<ExperimentStatus, ExperimentActions>;
type Step = ReconcileStep<ExperimentStatus>;

export function planExperiment(input: {
  object: StoredObject<Experiment>;
  observed: ObservedExperiment;
  now: string;
  /** Calls per batch. */
  batchSize: number;
}): ExperimentPlan {
  const { object: experiment, observed, now } = input;
  const previous = experiment.status ?? {};
  switch (observed.kind) {
    case "finished":
      if (previous.phase !== "Completed") return {};
      // The decision follows the winner's Prompt (`llmops promote` landed through git), and a
      // policy-auto commit that failed for a transient reason is tried again.
      return {
        actions: {
          deleteStale: [],
          recovered: [],
          clearJournal: false,
          then: { kind: "promotion" },
        },
        step: {
          status: previous,
          outcome: { state: "Ready", reason: "Completed", message: previous.recommendation ?? "" },
        },
      };
    case "online":
      return planOnline({ object: experiment, observed: observed.online, now });
    case "blocked":
      return { step: blockedStep(previous, observed.blocked) };
    case "run":
      return planRun(experiment, observed.run, now, input.batchSize);
  }
}

/** A Warning for the calls a killed controller left in flight (recorded, never sent again). */
function interruptedEvents(recovered: readonly ResultRecord[]): NonNullable<Step["events"]> {
  const interrupted = recovered.filter((r) => r.interrupted).length;
  if (interrupted === 0) return [];
  return [
    {
      type: "Warning",
      reason: "CallsInterrupted",
      action: "Evaluate",
      note: `${String(interrupted)} calls were in flight when the controller stopped without draining; they are recorded as interrupted and not sent again`,
    },
  ];
}

function blockedStep(previous: ExperimentStatus, blocked: BlockedRun): Step {
  const { reason, message } = blocked;
  switch (blocked.kind) {
    case "stall":
      return { status: previous, outcome: { state: "Stalled", reason, message } };
    case "failed":
      return {
        status: previous,
        outcome: { state: "Failed", reason, message },
        error: blocked.error,
      };
    case "wait":
      // Not Stalled: it clears by itself when the Prompt appears or is versioned (the Prompt watch
      // brings the Experiment back), as Flux reports an unready dependsOn.
      return {
        status: { ...previous, phase: "Pending" },
        outcome: { state: "Progressing", reason: "DependencyNotReady", message },
      };
  }
}

function planRun(
  experiment: StoredObject<Experiment>,
  run: ObservedRun,
  now: string,
  batchSize: number,
): ExperimentPlan {
  const plan = planRunSteps(experiment, run, now, batchSize);
  const events = plan.actions ? interruptedEvents(plan.actions.recovered) : [];
  if (plan.step === undefined || events.length === 0) return plan;
  return { ...plan, step: { ...plan.step, events: [...events, ...(plan.step.events ?? [])] } };
}

function planRunSteps(
  experiment: StoredObject<Experiment>,
  run: ObservedRun,
  now: string,
  batchSize: number,
): ExperimentPlan {
  const spec = experiment.spec;
  const previous = experiment.status ?? {};
  const stall = (reason: string, message: string): ExperimentPlan => ({
    step: { status: previous, outcome: { state: "Stalled", reason, message } },
  });
  const { resolved, items } = run;
  const missing = missingVariables(resolved, items);
  if (missing.length > 0) return stall("InvalidDataset", missing.join("; "));
  if (spec.budget !== undefined) {
    const unpriced = resolved.filter((v) => lookupPrice(run.prices, v.model) === null);
    if (unpriced.length > 0) {
      return stall(
        "UnknownPrice",
        `spec.budget is set but model ${unpriced.map((v) => v.model).join(", ")} has no price, so the budget cannot be enforced; add it to the price table or remove spec.budget`,
      );
    }
  }

  const repetitions = spec.repetitions ?? 1;
  const units = workUnits(
    resolved.map((v) => v.name),
    items,
    repetitions,
  );
  const records = run.stored.chunks.flatMap((c) => decodeChunk(c.text));
  const done = new Set(records.map((r) => r.key));
  // A controller killed mid-batch left a journal: keep what it got back, and mark what was in
  // flight as interrupted so it is never sent (and paid for) twice.
  const left = mergeJournal(
    run.stored.journalTexts.flatMap((text) => decodeJournalWrite(text, run.runId) ?? []),
  );
  const unitsByKey = new Map(units.map((u) => [u.key, u]));
  const recovered = recoverJournal(left, done, (key) => {
    const unit = unitsByKey.get(key);
    return unit && { variant: unit.variant, item: unit.item.id, repetition: unit.repetition };
  });
  records.push(...recovered);
  for (const r of recovered) done.add(r.key);
  const cleanup = {
    deleteStale: run.stored.stale,
    recovered,
    clearJournal: run.stored.journalTexts.length > 0,
  };
  const control = resolved.find((v) => v.control)?.name ?? resolved[0]?.name ?? "";
  const running: ExperimentStatus = {
    ...previous,
    dataset: run.dataset,
    phase: "Running",
    startedAt: previous.startedAt ?? now,
    progress: progressOf(records, units.length),
  };

  const batch = planBatch({ units, done, spent: spentOf(records), budget: spec.budget, batchSize });
  if (batch.remaining === 0) {
    const decision = analyze(
      spec,
      records,
      resolved.map((v) => v.name),
      control,
    );
    const status: ExperimentStatus = {
      ...running,
      phase: "Completed",
      completedAt:
        previous.phase === "Completed" && previous.completedAt ? previous.completedAt : now,
      results: variantResults(records, resolved, decision, spec.evaluators),
      comparisons: comparisonsOf(decision, primaryMetricOf(spec).name),
      recommendation: decision.recommendation,
    };
    if (decision.winner !== null) status.winner = decision.winner;
    else delete status.winner;
    const events: Step["events"] =
      previous.phase === "Completed"
        ? []
        : [
            {
              type: "Normal",
              reason: "Completed",
              action: "Evaluate",
              note: decision.recommendation,
            },
          ];
    return {
      actions: { ...cleanup, then: { kind: "complete", records, winner: decision.winner } },
      step: {
        status,
        outcome: { state: "Ready", reason: "Completed", message: decision.recommendation },
        events,
      },
    };
  }
  if (batch.budgetReached !== null) {
    const decision = analyze(
      spec,
      records,
      resolved.map((v) => v.name),
      control,
    );
    return {
      actions: { ...cleanup, then: { kind: "none" } },
      step: {
        status: {
          ...running,
          results: variantResults(records, resolved, decision, spec.evaluators),
          comparisons: comparisonsOf(decision, primaryMetricOf(spec).name),
          phase: "Failed",
          completedAt: previous.completedAt ?? now,
        },
        outcome: {
          state: "Stalled",
          reason: "BudgetExceeded",
          message: `budget reached: ${batch.budgetReached}; stopped after ${String(records.length)} of ${String(units.length)} calls, results so far kept`,
        },
      },
    };
  }
  const evaluating = {
    state: "Progressing",
    reason: "Evaluating",
  } as const;
  if (previous.phase !== "Running") {
    // Phase Running is written before the first batch (which can take batchSeconds), so users
    // see the run start; the batch follows at once.
    return {
      actions: { ...cleanup, then: { kind: "none" } },
      step: {
        status: running,
        outcome: {
          ...evaluating,
          message: `evaluating ${String(units.length)} calls (${String(items.length)} items × ${String(resolved.length)} variants × ${String(repetitions)} repetitions)`,
        },
        requeueAfter: 1,
      },
    };
  }
  return {
    actions: {
      ...cleanup,
      then: { kind: "batch", units: batch.batch, total: units.length, records },
    },
    step: {
      status: running,
      outcome: {
        ...evaluating,
        message: `${String(running.progress?.completed ?? 0)} of ${String(units.length)} calls done`,
      },
      requeueAfter: 1,
    },
  };
}
