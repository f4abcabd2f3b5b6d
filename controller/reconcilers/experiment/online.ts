// The reads and writes of an online A/B Experiment (spec.traffic); the decisions are in
// online-plan.ts. Observe resolves each variant to the Prompt version it serves and reads the
// run's counts from its head ConfigMap (the HTTP API's assignments and outcomes put them there);
// act deletes what earlier runs left and counts outcomes read from Langfuse.
import type { Experiment, Prompt } from "../../api/generated/index.js";
import { PromptType } from "../../api/kinds.js";
import type { StoredObject } from "../../kube/resources.js";
import { errorMessage } from "../../kube/errors.js";
import { readLangfuseOutcomes } from "../../online/langfuse-outcomes.js";
import { isBinaryMetric } from "../../online/metrics.js";
import { pruneRuns, readRunState, type OnlineStore } from "../../online/store.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import { contentHash } from "../../runtime/hash.js";
import type { ObservedExperiment } from "./observed.js";
import type { ObservedOnline, OnlineVariant } from "./online-plan.js";
import { pinnedVersion } from "./variants.js";

/** The controller's settings for online Experiments. */
export interface OnlineSettings {
  /** Where Langfuse outcomes are counted; the HTTP API's store when it runs in this process. */
  onlineStore?: OnlineStore;
  /** How often a running online Experiment is analysed again, in ms; default 10 s. */
  onlineAnalysisIntervalMs?: number;
}

/** The hash of what decides which unit sees what: a change starts a new run. */
export function onlineRunId(
  experiment: Experiment & { metadata: { uid: string } },
  variants: readonly OnlineVariant[],
): string {
  const traffic = experiment.spec.traffic;
  return contentHash({
    uid: experiment.metadata.uid,
    salt: traffic?.salt ?? "",
    weights: traffic?.weights ?? [],
    variants,
    metrics: experiment.spec.evaluators.map((e) => ({ name: e.name, type: e.type })),
  })
    .replace(/^sha256:/, "")
    .slice(0, 16);
}

export async function observeOnline(
  experiment: StoredObject<Experiment>,
  context: ObjectContext,
): Promise<ObservedExperiment> {
  const { deps } = context;
  const namespace = experiment.metadata.namespace ?? "";
  const variants: OnlineVariant[] = [];
  for (const [i, variant] of experiment.spec.variants.entries()) {
    const prompt = deps.cache.get<Prompt>(PromptType, { namespace, name: variant.prompt.name });
    const pinned = pinnedVersion(variant, i, prompt);
    if (!pinned.ok) return { kind: "blocked", blocked: pinned.problem };
    variants.push({
      name: variant.name,
      control: variant.control === true,
      prompt: variant.prompt.name,
      promptVersion: pinned.version,
      ...(variant.model?.name !== undefined ? { model: variant.model.name } : {}),
    });
  }
  const runId = onlineRunId(experiment, variants);
  const previous = experiment.status?.online;
  const startedAt =
    previous?.runId === runId && previous.startedAt !== undefined
      ? previous.startedAt
      : context.now;
  const state = await readRunState(deps.client, namespace, experiment.metadata.name, {
    signal: context.signal,
  });
  const online: ObservedOnline = { variants, runId, startedAt, state };
  const langfuse = experiment.spec.traffic?.langfuse;
  if (langfuse !== undefined) {
    try {
      online.langfuse = await readLangfuseOutcomes({
        client: deps.client,
        namespace,
        experiment: experiment.metadata.name,
        uid: experiment.metadata.uid,
        salt: experiment.spec.traffic?.salt ?? "",
        weights: experiment.spec.traffic?.weights ?? [],
        spec: langfuse,
        variants: variants.map((v) => v.name),
        metrics: new Map(experiment.spec.evaluators.map((e) => [e.name, isBinaryMetric(e)])),
        runStartedAt: startedAt,
        cursor: state?.runId === runId ? state.langfuseCursor : undefined,
        now: deps.clock.now(),
        signal: context.signal,
      });
    } catch (error) {
      if (context.signal.aborted) throw error;
      // The outcomes reported through the API go on being analysed; status says what is missing.
      online.langfuseError = errorMessage(error);
    }
  }
  return { kind: "online", online };
}

/** Deletes what earlier runs kept (a new run) and counts the outcomes read from Langfuse. */
export async function actOnline(
  settings: OnlineSettings,
  then: { prune: boolean; report: boolean },
  observed: ObservedOnline,
  context: ObjectContext & { object: StoredObject<Experiment> },
): Promise<void> {
  const { deps, object: experiment } = context;
  if (then.prune) {
    const pruned = await pruneRuns({
      client: deps.client,
      experiment,
      runId: observed.runId,
      now: deps.clock.now(),
    });
    if (pruned.length > 0)
      context.log.info({ pruned }, "deleted the counts of earlier online runs");
  }
  const langfuse = observed.langfuse;
  if (then.report && langfuse !== undefined && settings.onlineStore !== undefined) {
    await settings.onlineStore.report(
      { experiment, runId: observed.runId, startedAt: observed.startedAt },
      langfuse.events,
      { langfuseCursor: langfuse.cursor },
    );
  }
}
