// Registration of the Experiment controller: its options, the shared per-controller state (price
// table, endpoint limits, the dataset cache) and its watches. The reconcile is in reconcile.ts.
import type { Experiment } from "../../api/generated/index.js";
import { ExperimentType, ModelDeploymentType, PromptType } from "../../api/kinds.js";
import { DatasetCache } from "../../backends/datasets/cache.js";
import {
  EndpointConcurrency,
  defaultPriceTable,
  mergePriceTables,
  type ModelPrice,
  type RetryPolicy,
} from "../../backends/llm/index.js";
import type { LangfuseClientFactory } from "../../backends/tracking/langfuse-run-tracker.js";
import type { MlflowClientFactory } from "../../backends/tracking/mlflow-run-tracker.js";
import { OnlineStore } from "../../online/store.js";
import type { PromotionWriter } from "../../promotion/source-promoter.js";
import { objectReconciler } from "../../runtime/object-reconciler.js";
import type { ControllerSetup } from "../../runtime/registry.js";
import type { PriceTableRef } from "./clients.js";
import { experimentReconciler } from "./reconcile.js";

export { ExperimentType };

export interface ExperimentControllerOptions {
  /** Prices merged over the defaults (models the defaults do not know, e.g. a local vLLM). */
  prices?: Readonly<Record<string, ModelPrice>>;
  /**
   * A ConfigMap whose `key` (default prices.yaml) overrides the price table, read on every
   * reconcile so operators can update prices without a restart: `{ <model>: { inputPerMillion,
   * outputPerMillion } }`, a null entry removes a default.
   */
  priceTableConfigMap?: PriceTableRef;
  /** Hub URL for huggingFace datasets that set no endpoint (the HF_ENDPOINT convention). */
  huggingFaceEndpoint?: string;
  /** Writes promotion commits for spec.promotion.policy auto (the controller's git sources). */
  promoter?: PromotionWriter;
  /** Largest dataset file read from a remote source; default 64 MiB. */
  maxDatasetBytes?: number;
  /**
   * Calls per batch as a multiple of spec.concurrency; default 128. A batch also ends after
   * batchSeconds (default 10): results, progress and status are written between batches. Between
   * two batches no call is in flight (saving the results, the status, the next observe: a few
   * hundred ms on a busy apiserver), so batches are sized by time rather than kept small: with 32
   * per slot that pause was a tenth of a run against a fast endpoint (bench:eval-controller).
   */
  batchFactor?: number;
  batchSeconds?: number;
  /** Builds the tracker for spec.tracking.mlflow; tests may pass their own. */
  mlflowFor?: MlflowClientFactory;
  /** Builds the Langfuse tracker for spec.tracking.langfuse; tests may pass their own. */
  langfuseFor?: LangfuseClientFactory;
  /** Options for the model clients (retry policy, timeout) — tests shorten them. */
  clientOptions?: { timeoutMs?: number; retry?: Partial<RetryPolicy> };
  concurrency?: number;
  /** Counts Langfuse outcomes of online Experiments; the HTTP API's store when it runs. */
  onlineStore?: OnlineStore;
  /** How often a running online Experiment is analysed again, in ms; default 10 s. */
  onlineAnalysisIntervalMs?: number;
}

export function experimentController(options: ExperimentControllerOptions = {}): ControllerSetup {
  return (deps) => {
    const reconciler = experimentReconciler({
      prices: mergePriceTables(defaultPriceTable(), options.prices ?? {}),
      ...(options.priceTableConfigMap ? { priceTable: options.priceTableConfigMap } : {}),
      datasets: new DatasetCache(),
      ...(options.huggingFaceEndpoint ? { huggingFaceEndpoint: options.huggingFaceEndpoint } : {}),
      ...(options.maxDatasetBytes ? { maxDatasetBytes: options.maxDatasetBytes } : {}),
      ...(options.promoter ? { promoter: options.promoter } : {}),
      ...(options.mlflowFor ? { mlflowFor: options.mlflowFor } : {}),
      ...(options.langfuseFor ? { langfuseFor: options.langfuseFor } : {}),
      clients: {
        client: deps.client,
        clock: deps.clock,
        // spec.concurrency bounds the calls of one experiment; this only stops one endpoint from
        // being flooded by many experiments at once.
        endpoints: new EndpointConcurrency({ defaultLimit: 256 }),
        ...(options.clientOptions ? { clientOptions: options.clientOptions } : {}),
      },
      // Without the HTTP API's store (tests, embedders), Langfuse outcomes get a store of their own.
      onlineStore:
        options.onlineStore ??
        new OnlineStore({ client: deps.client, clock: deps.clock, logger: deps.logger }),
      ...(options.onlineAnalysisIntervalMs
        ? { onlineAnalysisIntervalMs: options.onlineAnalysisIntervalMs }
        : {}),
      batchFactor: options.batchFactor ?? 128,
      batchSeconds: options.batchSeconds ?? 10,
    });
    return {
      name: "Experiment",
      type: ExperimentType,
      // No watch on the results and journal ConfigMaps: they change with every call batch and the
      // reconciler reads them from the API anyway; a watch would only parse them again.
      owns: [],
      concurrency: options.concurrency ?? 4,
      watches: [
        {
          // A variant's Prompt that appears, is versioned or moves a label brings it back.
          type: PromptType,
          map: (prompt) =>
            deps.cache
              .list<Experiment>(ExperimentType, { namespace: prompt.metadata.namespace ?? "" })
              .filter((e) => e.spec.variants.some((v) => v.prompt.name === prompt.metadata.name))
              .map((e) => `${e.metadata.namespace ?? ""}/${e.metadata.name}`),
        },
        {
          // A ModelDeployment a variant calls becomes ready, or moves its stable or canary revision.
          type: ModelDeploymentType,
          map: (md) =>
            deps.cache
              .list<Experiment>(ExperimentType, { namespace: md.metadata.namespace ?? "" })
              .filter((e) =>
                e.spec.variants.some((v) => v.model?.modelDeployment?.name === md.metadata.name),
              )
              .map((e) => `${e.metadata.namespace ?? ""}/${e.metadata.name}`),
        },
      ],
      reconcile: objectReconciler(deps, reconciler),
    };
  };
}
