// The Experiment reconcile (offline evaluation), on the shared skeleton: observe (observe.ts) →
// plan (plan-experiment.ts, pure) → act: tidy up after earlier runs and killed controllers, then
// run one batch of calls, or finish the run (finish.ts).
//
// One reconcile runs one batch and requeues, so progress is written per batch (not per item), a
// graceful shutdown waits for one batch only, and a spec change or a deletion is seen between
// batches. A batch's results are written to owned ConfigMaps before status: a restarted
// controller reads them back and never sends an already-scored item to the model again.
import { randomBytes } from "node:crypto";
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import { ExperimentType } from "../../api/kinds.js";
import type { DatasetCache } from "../../backends/datasets/cache.js";
import { EvaluatorConfigError } from "../../evaluators/index.js";
import type { StoredObject } from "../../kube/resources.js";
import { MissingSecretError } from "../../kube/secrets.js";
import type {
  ObjectContext,
  ObjectReconciler,
  ReconcileStep,
} from "../../runtime/object-reconciler.js";
import { runnableVariants, type ClientSettings } from "./clients.js";
import { completeRun, promote, type FinishSettings } from "./finish.js";
import { CallJournal } from "./journal.js";
import { observeExperiment, type ObserveSettings } from "./observe.js";
import { actOnline, type OnlineSettings } from "./online.js";
import type { ExperimentActions, ObservedExperiment, ObservedRun } from "./observed.js";
import { planExperiment } from "./plan-experiment.js";
import { afterBatch, spentOf } from "./work.js";
import { ResultsStore } from "./results-store.js";
import { runBatch } from "./runner.js";

/** The controller's settings for every Experiment it reconciles. */
export interface ExperimentSettings extends ObserveSettings, FinishSettings, OnlineSettings {
  datasets: DatasetCache;
  clients: Omit<ClientSettings, "prices">;
  /** Calls per batch as a multiple of spec.concurrency. */
  batchFactor: number;
  /** A batch also ends after this long. */
  batchSeconds: number;
}

type Step = ReconcileStep<ExperimentStatus>;

/** How often a running online Experiment is analysed again when the controller sets nothing. */
const defaultOnlineAnalysisIntervalMs = 10_000;
type ActContext = ObjectContext & {
  object: StoredObject<Experiment>;
  observed: ObservedExperiment;
};

export function experimentReconciler(
  settings: ExperimentSettings,
): ObjectReconciler<Experiment, ExperimentStatus, ObservedExperiment, ExperimentActions> {
  return {
    type: ExperimentType,
    observe: (experiment, context) => observeExperiment(settings, experiment, context),
    plan: (input) =>
      planExperiment({
        ...input,
        batchSize: Math.max(1, (input.object.spec.concurrency ?? 4) * settings.batchFactor),
      }),
    act: (actions, planned, context) => act(settings, actions, planned, context),
  };
}

async function act(
  settings: ExperimentSettings,
  actions: ExperimentActions,
  planned: Step,
  context: ActContext,
): Promise<Step> {
  const { then } = actions;
  if (then.kind === "promotion") return promote(settings, planned, context);
  if (then.kind === "online") {
    if (context.observed.kind === "online") {
      await actOnline(settings, then, context.observed.online, context);
    }
    return {
      ...planned,
      requeueAfter: settings.onlineAnalysisIntervalMs ?? defaultOnlineAnalysisIntervalMs,
    };
  }
  if (context.observed.kind !== "run") return planned;
  const run = context.observed.run;
  const store = new ResultsStore({
    client: context.deps.client,
    experiment: context.object,
    runId: run.runId,
    chunks: run.stored.chunks,
  });
  // The objects of earlier runs go; what a killed controller's journal held is saved, so the
  // journal can go too (the next batch starts a fresh one).
  await store.deleteStale(actions.deleteStale);
  await store.save(actions.recovered);
  if (actions.clearJournal) await store.clearJournal();
  switch (then.kind) {
    case "none":
      return planned;
    case "complete":
      settings.datasets.forget(context.object.metadata.uid);
      return completeRun(settings, planned, run, then, context);
    case "batch":
      return runOneBatch(settings, run, store, then, planned, context);
  }
}

async function runOneBatch(
  settings: ExperimentSettings,
  run: ObservedRun,
  store: ResultsStore,
  batch: Extract<ExperimentActions["then"], { kind: "batch" }>,
  planned: Step,
  context: ActContext,
): Promise<Step> {
  const { object: experiment, deps } = context;
  const spec = experiment.spec;
  let variants;
  try {
    variants = await runnableVariants(
      { ...settings.clients, prices: run.prices },
      experiment,
      run.resolved,
    );
  } catch (error) {
    if (error instanceof EvaluatorConfigError) {
      const outcome = {
        state: "Stalled",
        reason: "InvalidEvaluator",
        message: error.message,
      } as const;
      return { status: experiment.status ?? {}, outcome };
    }
    if (error instanceof MissingSecretError) {
      const outcome = {
        state: "Failed",
        reason: "SecretNotFound",
        message: error.message,
      } as const;
      return { status: planned.status, outcome, error };
    }
    throw error;
  }
  // Two journal writes at a time: a claim does not wait for the write in progress to finish.
  const journal = new CallJournal(
    run.runId,
    randomBytes(3).toString("hex"),
    (write) => store.writeJournal(write),
    { maxConcurrentWrites: 2, clock: deps.clock },
  );
  const outcome = await runBatch({
    units: batch.units,
    variants,
    concurrency: spec.concurrency ?? 4,
    budget: spec.budget,
    spent: spentOf(batch.records),
    signal: context.signal,
    ...(context.stopping ? { stopping: context.stopping } : {}),
    journal,
    now: () => deps.clock.now(),
    deadline: deps.clock.now() + settings.batchSeconds * 1000,
  });
  await store.save(outcome.records);
  // The results are in the chunks now: the journal goes, unless calls aborted at a hard stop left
  // claims in it (the next batch records those as interrupted).
  const open = await journal.saved();
  if (journal.writes > 0 && open === 0) await store.clearJournal();
  return afterBatch({
    planned,
    before: batch.records,
    batch: outcome,
    total: batch.total,
    budget: spec.budget,
  });
}
