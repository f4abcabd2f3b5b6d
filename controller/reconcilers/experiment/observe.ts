// What an Experiment reconcile reads before it plans: the price table, each variant's Prompt (the
// cache) and pinned version (its snapshot), the dataset (once per run for remote sources), and the
// results stored so far for this run. Reads only; known problems come back as a BlockedRun for
// the plan to judge.
import type { Experiment, ModelDeployment, Prompt } from "../../api/generated/index.js";
import { ModelDeploymentType, PromptType } from "../../api/kinds.js";
import type { DatasetCache } from "../../backends/datasets/cache.js";
import { DatasetError } from "../../backends/datasets/items.js";
import { datasetSourceFor } from "../../backends/datasets/registry.js";
import { PriceTableError, type PriceTable } from "../../backends/llm/index.js";
import { errorMessage } from "../../kube/errors.js";
import type { StoredObject } from "../../kube/resources.js";
import { MissingSecretError } from "../../kube/secrets.js";
import { readPromptSnapshot } from "../../prompts/snapshots.js";
import type { ObjectContext } from "../../runtime/object-reconciler.js";
import { currentPrices, type PriceTableRef } from "./clients.js";
import { observeOnline } from "./online.js";
import { isFinished, runIdOf, type ObservedExperiment, type ObservedRun } from "./observed.js";
import { ResultsStore } from "./results-store.js";
import { canaryMoved, pinnedVersion, resolveVariant, type ResolvedVariant } from "./variants.js";

/** The controller's settings observe reads with. */
export interface ObserveSettings {
  prices: PriceTable;
  priceTable?: PriceTableRef;
  datasets: DatasetCache;
  huggingFaceEndpoint?: string;
  maxDatasetBytes?: number;
}

export async function observeExperiment(
  settings: ObserveSettings,
  experiment: StoredObject<Experiment>,
  context: ObjectContext,
): Promise<ObservedExperiment> {
  const { deps } = context;
  const namespace = experiment.metadata.namespace ?? "";
  const deploymentOf = (name: string) =>
    deps.cache.get<ModelDeployment>(ModelDeploymentType, { namespace, name });
  // A finished run stays finished, unless a variant follows a canary that has moved on since.
  if (isFinished(experiment) && !canaryMoved(experiment, deploymentOf)) {
    // An in-process cache, not the cluster: a finished run needs its items no more.
    settings.datasets.forget(experiment.metadata.uid);
    return { kind: "finished" };
  }
  const dataset = experiment.spec.dataset;
  if (dataset === undefined) return observeOnline(experiment, context);

  let prices: PriceTable;
  try {
    prices = await currentPrices(deps.client, settings.prices, settings.priceTable);
  } catch (error) {
    if (!(error instanceof PriceTableError)) throw error;
    const message = `the controller's price table is invalid, so costs and budgets cannot be computed: ${error.message}; fix the ConfigMap`;
    return {
      kind: "blocked",
      blocked: { kind: "failed", reason: "InvalidPriceTable", message, error },
    };
  }

  const resolved: ResolvedVariant[] = [];
  for (const [i, variant] of experiment.spec.variants.entries()) {
    const prompt = deps.cache.get<Prompt>(PromptType, { namespace, name: variant.prompt.name });
    const pinned = pinnedVersion(variant, i, prompt);
    const snapshot =
      pinned.ok && !pinned.live
        ? await readPromptSnapshot(deps.client, namespace, variant.prompt.name, pinned.version)
        : undefined;
    const served = variant.model?.modelDeployment;
    const deployment = served ? deploymentOf(served.name) : undefined;
    const resolution = resolveVariant(variant, i, prompt, snapshot, deployment);
    if (!resolution.ok) return { kind: "blocked", blocked: resolution.problem };
    resolved.push(resolution.variant);
  }

  let loaded;
  try {
    loaded = await settings.datasets.load(experiment.metadata.uid, datasetSourceFor(dataset), {
      client: deps.client,
      namespace,
      generation: experiment.metadata.generation ?? 0,
      ...(experiment.status?.dataset ? { pinned: experiment.status.dataset } : {}),
      ...(settings.huggingFaceEndpoint
        ? { huggingFaceEndpoint: settings.huggingFaceEndpoint }
        : {}),
      ...(settings.maxDatasetBytes ? { maxBytes: settings.maxDatasetBytes } : {}),
      signal: context.signal,
    });
  } catch (error) {
    const reason =
      error instanceof DatasetError
        ? "InvalidDataset"
        : error instanceof MissingSecretError
          ? "DatasetNotFound"
          : undefined;
    if (reason === undefined) throw error;
    return { kind: "blocked", blocked: { kind: "stall", reason, message: errorMessage(error) } };
  }

  const runId = runIdOf(experiment, resolved, loaded.items);
  const stored = await new ResultsStore({ client: deps.client, experiment, runId }).load();
  const run: ObservedRun = {
    prices,
    resolved,
    items: loaded.items,
    dataset: loaded.source,
    runId,
    stored,
  };
  return { kind: "run", run };
}
