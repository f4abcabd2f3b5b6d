// Recording a finished run in the tracking systems spec.tracking names (MLflow: one run per
// variant with params, metrics and tags; Langfuse: a trace + generation per model call with usage
// and cost, a score per evaluator, an experiment per variant). This file only tells the run's story
// in provider-neutral terms (backends/tracking/tracking.ts); each provider is a file under
// backends/tracking/, found through its table. All are idempotent, so a retry after a failure or a
// crash records nothing twice.
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { DatasetItem } from "../../backends/datasets/items.js";
import type { LangfuseClientFactory } from "../../backends/tracking/langfuse-run-tracker.js";
import type { MlflowClientFactory } from "../../backends/tracking/mlflow-run-tracker.js";
import { trackersFor } from "../../backends/tracking/registry.js";
import type {
  FinishedRun,
  TrackedCall,
  TrackedRun,
  TrackingLinks,
} from "../../backends/tracking/tracking.js";
import type { KubeClient } from "../../kube/client.js";
import { errorMessage } from "../../kube/errors.js";
import type { KubeObject, StoredObject } from "../../kube/resources.js";
import { revisionAnnotation } from "../../api/well-known.js";
import type { ResultRecord } from "./results.js";
import { itemVariables, renderMessages, type ResolvedVariant } from "./variants.js";

type StoredExperiment = StoredObject<Experiment & KubeObject>;

/** What a finished run is made of, as the reconciler has it. */
interface RunResults {
  experiment: StoredExperiment;
  runId: string;
  resolved: readonly ResolvedVariant[];
  items: readonly DatasetItem[];
  records: readonly ResultRecord[];
  results: NonNullable<ExperimentStatus["results"]>;
  winner: string | null;
  /** Epoch ms. */
  now: number;
}

/** Records the run everywhere spec.tracking asks; returns status.tracking. Throws on failure. */
export async function trackExperiment(
  options: RunResults & {
    client: KubeClient;
    mlflowFor?: MlflowClientFactory;
    langfuseFor?: LangfuseClientFactory;
  },
): Promise<TrackingLinks> {
  const { client, experiment } = options;
  const run = finishedRun(options);
  const trackers = trackersFor(experiment.spec.tracking ?? {}, {
    mlflowFor: options.mlflowFor,
    langfuseFor: options.langfuseFor,
  });
  const tracking: TrackingLinks = {};
  for (const configured of trackers) {
    const tracker = await configured.open({
      client,
      namespace: experiment.metadata.namespace ?? "",
    });
    try {
      Object.assign(tracking, await tracker.record(run));
    } catch (error) {
      throw new Error(`${configured.label}: ${errorMessage(error)}`, { cause: error });
    } finally {
      await tracker.close();
    }
  }
  return tracking;
}

/** The run as every tracker is told it: variants, calls, items, and where the items came from. */
export function finishedRun(run: RunResults): FinishedRun {
  const { experiment, runId } = run;
  const id = `${experiment.metadata.namespace ?? ""}/${experiment.metadata.name}`;
  const fromLangfuse = experiment.spec.dataset?.langfuse?.name;
  return {
    experiment: id,
    runKey: `${experiment.metadata.uid}/${runId}`,
    variants: trackedRuns(experiment, run.resolved, run.results, run.winner),
    calls: trackedCalls(run.resolved, run.items, run.records, {
      experiment: id,
      runId,
      now: run.now,
    }),
    items: run.items,
    ...(fromLangfuse !== undefined ? { langfuseDataset: fromLangfuse } : {}),
  };
}

/** One Langfuse call per answered (or definitively failed) record; interrupted calls have no answer. */
export function trackedCalls(
  resolved: readonly ResolvedVariant[],
  items: readonly DatasetItem[],
  records: readonly ResultRecord[],
  meta: { experiment: string; runId: string; now: number },
): TrackedCall[] {
  const variants = new Map(resolved.map((v) => [v.name, v]));
  const byId = new Map(items.map((i) => [i.id, i]));
  const calls: TrackedCall[] = [];
  for (const record of records) {
    if (record.interrupted) continue;
    const variant = variants.get(record.variant);
    const item = byId.get(record.item);
    if (variant === undefined || item === undefined) continue;
    const vars = itemVariables(variant, item);
    const end = record.at ?? meta.now; // records from before answer times were kept
    const start = end - (record.latencyMs ?? 0);
    calls.push({
      key: record.key,
      variant: record.variant,
      itemId: record.item,
      repetition: record.repetition,
      model: variant.model,
      input: vars.ok ? renderMessages(variant, vars.view) : [],
      output: record.output ?? null,
      ...(record.error !== undefined ? { error: record.error } : {}),
      startTime: new Date(start),
      endTime: new Date(end),
      ...(record.usage ? { usage: record.usage } : {}),
      costUSD: record.costUSD,
      scores: record.scores,
      metadata: {
        experiment: meta.experiment,
        run_id: meta.runId,
        prompt: variant.promptName,
        prompt_version: String(variant.promptVersion),
        prompt_hash: variant.promptHash,
      },
    });
  }
  return calls;
}

/** One MLflow run per variant. */
function trackedRuns(
  experiment: StoredExperiment,
  resolved: readonly ResolvedVariant[],
  results: NonNullable<ExperimentStatus["results"]>,
  winner: string | null,
): TrackedRun[] {
  const revision = experiment.metadata.annotations?.[revisionAnnotation];
  return resolved.map((v) => {
    const result = results.find((r) => r.variant === v.name);
    const metrics: Record<string, number> = { n: result?.n ?? 0 };
    for (const m of result?.metrics ?? []) {
      if (m.mean !== undefined) metrics[`${m.name}.mean`] = m.mean;
      if (m.ciLow !== undefined) metrics[`${m.name}.ci_low`] = m.ciLow;
      if (m.ciHigh !== undefined) metrics[`${m.name}.ci_high`] = m.ciHigh;
      if (m.passRate !== undefined) metrics[`${m.name}.pass_rate`] = m.passRate;
    }
    if (result?.latencyP50Ms !== undefined) metrics["latency_p50_ms"] = result.latencyP50Ms;
    if (result?.latencyP95Ms !== undefined) metrics["latency_p95_ms"] = result.latencyP95Ms;
    if (result?.costUSD !== undefined) metrics["cost_usd"] = result.costUSD;
    return {
      name: v.name,
      params: {
        prompt: v.promptName,
        prompt_version: String(v.promptVersion),
        prompt_hash: v.promptHash,
        model: v.model,
        ...(revision !== undefined ? { git_revision: revision } : {}),
      },
      metrics,
      tags: {
        "llmops.experiment": `${experiment.metadata.namespace ?? ""}/${experiment.metadata.name}`,
        "llmops.variant": v.name,
        "llmops.control": String(v.control),
        "llmops.winner": String(winner === v.name),
      },
    };
  });
}
