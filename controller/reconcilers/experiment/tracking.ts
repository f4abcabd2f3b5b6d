// Recording a finished run in the tracking systems spec.tracking names: MLflow (one run per
// variant: params, metrics, tags) and Langfuse (a trace + generation per model call with usage and
// cost, a score per evaluator, a dataset run per variant). Both are idempotent, so a retry after a
// failure or a crash records nothing twice.
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { LangfuseConnection } from "../../backends/langfuse/connection.js";
import type {
  LangfuseCallTracker,
  TrackedCall,
  TrackingSession,
} from "../../backends/tracking/langfuse.js";
import { MlflowTracker } from "../../backends/tracking/mlflow.js";
import type { ExperimentTracker, TrackedRun } from "../../backends/tracking/tracking.js";
import type { KubeClient } from "../../kube/client.js";
import type { KubeObject, StoredObject } from "../../kube/resources.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { readSecretValue } from "../../kube/secrets.js";
import { revisionAnnotation } from "../../api/well-known.js";
import type { DatasetItem } from "../../backends/datasets/items.js";
import type { ResultRecord } from "./results.js";
import { itemVariables, renderMessages, type ResolvedVariant } from "./variants.js";

/** The Langfuse side of tracking, as the reconciler uses it. */
export type CallTracker = Pick<
  LangfuseCallTracker,
  "ensureDataset" | "recordCalls" | "url" | "shutdown"
>;

type StoredExperiment = StoredObject<Experiment & KubeObject>;

/** Records the run everywhere spec.tracking asks; returns status.tracking. Throws on failure. */
export async function trackExperiment(options: {
  client: KubeClient;
  experiment: StoredExperiment;
  runId: string;
  resolved: readonly ResolvedVariant[];
  items: readonly DatasetItem[];
  records: readonly ResultRecord[];
  results: NonNullable<ExperimentStatus["results"]>;
  winner: string | null;
  /** Epoch ms. */
  now: number;
  mlflowFor?: (options: { trackingURI: string; token: string | null }) => ExperimentTracker;
  langfuseFor?: (connection: LangfuseConnection) => CallTracker;
}): Promise<NonNullable<ExperimentStatus["tracking"]>> {
  const { client, experiment, runId } = options;
  const namespace = experiment.metadata.namespace ?? "";
  const id = `${namespace}/${experiment.metadata.name}`;
  const runKey = `${experiment.metadata.uid}/${runId}`;
  const tracking: NonNullable<ExperimentStatus["tracking"]> = {};

  const mlflow = experiment.spec.tracking?.mlflow;
  if (mlflow) {
    const token = mlflow.tokenSecretRef
      ? await readSecretValue(
          client,
          namespace,
          mlflow.tokenSecretRef,
          "spec.tracking.mlflow.tokenSecretRef",
        )
      : null;
    const tracker = (options.mlflowFor ?? ((o) => new MlflowTracker(o)))({
      trackingURI: mlflow.trackingURI,
      token,
    });
    try {
      const tracked = await tracker.record(
        mlflow.experimentName ?? id,
        runKey,
        trackedRuns(experiment, options.resolved, options.results, options.winner),
      );
      tracking.mlflowRunURLs = tracked.runURLs;
    } catch (error) {
      throw new Error(`MLflow: ${errorText(error)}`, { cause: error });
    }
  }

  const langfuse = experiment.spec.tracking?.langfuse;
  if (langfuse) {
    const connection = await langfuseKeys(client, namespace, langfuse, "spec.tracking.langfuse");
    // The Langfuse/OpenTelemetry stack is imported only when an Experiment asks for it.
    const tracker = options.langfuseFor
      ? options.langfuseFor(connection)
      : new (await import("../../backends/tracking/langfuse.js")).LangfuseCallTracker(connection);
    try {
      const fromLangfuse = experiment.spec.dataset?.langfuse?.name;
      const session: TrackingSession = {
        experiment: id,
        runKey,
        datasetName: fromLangfuse ?? `llmops/${id}`,
      };
      if (fromLangfuse === undefined) {
        await tracker.ensureDataset(
          session.datasetName,
          options.items.map((item) => ({
            id: item.id,
            input: item.vars,
            ...(item.expected !== undefined ? { expectedOutput: item.expected } : {}),
          })),
        );
      }
      await tracker.recordCalls(
        session,
        trackedCalls(options.resolved, options.items, options.records, {
          experiment: id,
          runId,
          now: options.now,
        }),
      );
      tracking.langfuseURL = await tracker.url(session);
    } catch (error) {
      throw new Error(`Langfuse: ${errorText(error)}`, { cause: error });
    } finally {
      await tracker.shutdown();
    }
  }
  return tracking;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
