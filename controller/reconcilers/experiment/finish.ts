// Finishing a run: record it in the tracking systems spec.tracking names, then decide (and for
// policy auto, commit) the promotion. Both are idempotent, so a retry after a failure or a crash
// records and commits nothing twice.
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { LangfuseClientFactory } from "../../backends/tracking/langfuse-run-tracker.js";
import type { MlflowClientFactory } from "../../backends/tracking/mlflow-run-tracker.js";
import { errorMessage } from "../../kube/errors.js";
import type { StoredObject } from "../../kube/resources.js";
import type { PromotionWriter } from "../../promotion/source-promoter.js";
import type { ObjectContext, ReconcileStep } from "../../runtime/object-reconciler.js";
import type { ObservedRun } from "./observed.js";
import { promotionStep } from "./promotion.js";
import type { ResultRecord } from "./results.js";
import { trackExperiment } from "./tracking.js";

type Step = ReconcileStep<ExperimentStatus>;

export interface FinishSettings {
  /** Writes promotion commits for spec.promotion.policy auto (the controller's git sources). */
  promoter?: PromotionWriter;
  mlflowFor?: MlflowClientFactory;
  langfuseFor?: LangfuseClientFactory;
}

/** Tracking for a run that just completed, then its promotion. */
export async function completeRun(
  settings: FinishSettings,
  planned: Step,
  run: ObservedRun,
  done: { records: readonly ResultRecord[]; winner: string | null },
  context: ObjectContext & { object: StoredObject<Experiment> },
): Promise<Step> {
  const { deps, object: experiment } = context;
  const status = planned.status;
  if (experiment.spec.tracking) {
    try {
      const tracking = await trackExperiment({
        client: deps.client,
        experiment,
        runId: run.runId,
        resolved: run.resolved,
        items: run.items,
        records: done.records,
        results: status.results ?? [],
        winner: done.winner,
        now: deps.clock.now(),
        ...(settings.mlflowFor ? { mlflowFor: settings.mlflowFor } : {}),
        ...(settings.langfuseFor ? { langfuseFor: settings.langfuseFor } : {}),
      });
      status.tracking = { ...status.tracking, ...tracking };
    } catch (error) {
      const message = `results are complete but recording them failed: ${errorMessage(error)}`;
      return {
        status: { ...status, phase: "Analyzing" },
        outcome: { state: "Failed", reason: "TrackingFailed", message },
        error,
      };
    }
  }
  return promote(settings, { ...planned, status }, context);
}

/** status.promotion from the winner; a commit that failed for a transient reason is retried. */
export async function promote(
  settings: FinishSettings,
  planned: Step,
  context: ObjectContext & { object: StoredObject<Experiment> },
): Promise<Step> {
  const promotion = await promotionStep({
    deps: context.deps,
    promoter: settings.promoter,
    experiment: context.object,
    status: planned.status,
    signal: context.signal,
  });
  const status: ExperimentStatus = { ...planned.status };
  if (promotion.promotion) status.promotion = promotion.promotion;
  else delete status.promotion;
  if (promotion.retry === undefined) return { ...planned, status };
  // Ready stays as it is (the results are final); the queue retries the commit with backoff.
  return { ...planned, status, retry: promotion.retry };
}
