// The Experiment reconciler (offline evaluation): observe (reads only) → plan (pure) → act → status.
//
// One reconcile runs one batch of calls and then requeues, so progress is written per batch (not
// per item), a graceful shutdown only waits for one batch, and a spec change is seen between
// batches. Results of a batch are written to owned ConfigMaps before status: a restarted controller
// reads them back and never sends an already-scored item to the model again. Results belong to a
// run id (a hash of everything that decides what is sent and how it is scored); a changed spec
// starts a new run and drops the old run's results.
import { randomBytes } from "node:crypto";
import {
  llmopsKinds,
  type Experiment,
  type ExperimentStatus,
  type Prompt,
} from "../../api/generated/index.js";
import {
  EndpointConcurrency,
  createOpenAiChatClient,
  defaultPriceTable,
  mergePriceTables,
  type ChatModelClient,
  type ModelPrice,
  type PriceTable,
  type RetryPolicy,
  lookupPrice,
  parsePriceTable,
  PriceTableError,
} from "../../backends/llm/index.js";
import type { ExperimentTracker } from "../../backends/tracking/mlflow.js";
import type { CallTracker } from "../../backends/tracking/langfuse-run-tracker.js";
import type { LangfuseConnection } from "../../backends/langfuse/connection.js";
import { langfuseKeys } from "../../kube/langfuse-keys.js";
import { trackExperiment } from "./tracking.js";
import { EvaluatorConfigError } from "../../evaluators/index.js";
import { TerminalError, TransientError, errorMessage } from "../../kube/errors.js";
import { withControllerReference } from "../../kube/owner-references.js";
import {
  ConfigMapType,
  type KubeObject,
  type ResourceType,
  type StoredObject,
} from "../../kube/resources.js";
import { MissingSecretError, readSecretValue } from "../../kube/secrets.js";
import { conditionTime, type ReconcileOutcome } from "../../runtime/conditions.js";
import { contentHash } from "../../runtime/hash.js";
import type {
  ReconcileContext,
  ReconcileRequest,
  ReconcileResult,
} from "../../runtime/reconciler.js";
import type { ControllerDeps, ControllerSetup } from "../../runtime/registry.js";
import { PromptType } from "../prompt/reconciler.js";
import {
  DatasetError,
  configMapSource,
  finalizeItems,
  inlineItems,
  parseJsonLines,
  type DatasetItem,
} from "../../backends/datasets/items.js";
import { buildEvaluators } from "./evaluators.js";
import {
  analyze,
  comparisonsOf,
  planBatch,
  primaryMetricOf,
  progressOf,
  spentOf,
  variantResults,
  workUnits,
} from "./plan.js";
import {
  appendRecords,
  chunkKey,
  chunkName,
  decodeChunk,
  type Chunk,
  type ResultRecord,
} from "./results.js";
import {
  CallJournal,
  decodeJournalWrite,
  journalDataKey,
  journalLabel,
  journalObjectName,
  mergeJournal,
  recoverJournal,
  type JournalWrite,
} from "./journal.js";
import { runBatch, type RunnableVariant } from "./runner.js";
import {
  missingVariables,
  pinnedVersion,
  resolveVariant,
  type ResolvedVariant,
} from "./variants.js";
import { readPromptSnapshot } from "../../prompts/snapshots.js";
import type { PromotionWriter } from "../../promotion/source-promoter.js";
import { promotionStep } from "./promotion.js";
import { writeStatus as writeKstatus } from "../../runtime/status.js";

export const ExperimentType: ResourceType = llmopsKinds.Experiment;

/** Labels and annotations on the results ConfigMaps. */
export const experimentLabel = "llmops.dev/experiment";
export const runIdAnnotation = "llmops.dev/run-id";

export interface ExperimentControllerOptions {
  /** Prices merged over the defaults (models the defaults do not know, e.g. a local vLLM). */
  prices?: Readonly<Record<string, ModelPrice>>;
  /**
   * A ConfigMap whose `key` (default prices.yaml) overrides the price table, read on every
   * reconcile so operators can update prices without a restart: `{ <model>: { inputPerMillion,
   * outputPerMillion } }`, a null entry removes a default.
   */
  priceTableConfigMap?: { namespace: string; name: string; key?: string };
  /** Hub URL for huggingFace datasets that set no endpoint (the HF_ENDPOINT convention). */
  huggingFaceEndpoint?: string;
  /** Writes promotion commits for spec.promotion.policy auto (the controller's git sources). */
  promoter?: PromotionWriter;
  /** Largest dataset file read from a remote source; default 64 MiB. */
  maxDatasetBytes?: number;
  /**
   * Calls per batch as a multiple of spec.concurrency; default 32. A batch also ends after
   * batchSeconds (default 10): results, progress and status are written between batches.
   */
  batchFactor?: number;
  batchSeconds?: number;
  /** Builds the tracker for spec.tracking.mlflow; tests may pass their own. */
  mlflowFor?: (options: { trackingURI: string; token: string | null }) => ExperimentTracker;
  /** Builds the Langfuse tracker for spec.tracking.langfuse; tests may pass their own. */
  langfuseFor?: (connection: LangfuseConnection) => CallTracker;
  /** Options for the model clients (retry policy, timeout) — tests shorten them. */
  clientOptions?: { timeoutMs?: number; retry?: Partial<RetryPolicy> };
  concurrency?: number;
}

export function experimentController(options: ExperimentControllerOptions = {}): ControllerSetup {
  return (deps) => {
    const prices = mergePriceTables(defaultPriceTable(), options.prices ?? {});
    // spec.concurrency bounds the calls of one experiment; this only stops one endpoint from
    // being flooded by many experiments at once.
    const endpoints = new EndpointConcurrency({ defaultLimit: 256 });
    const datasets: ExperimentDeps["datasets"] = new Map();
    return {
      name: "Experiment",
      type: ExperimentType,
      // No watch on the results and journal ConfigMaps: they change with every call batch and the
      // reconciler reads them from the API anyway; a watch would only parse them again.
      owns: [],
      concurrency: options.concurrency ?? 4,
      watches: [
        {
          type: PromptType,
          map: (prompt) =>
            deps.cache
              .list<Experiment & KubeObject>(ExperimentType, {
                namespace: prompt.metadata.namespace ?? "",
              })
              .filter((e) => e.spec.variants.some((v) => v.prompt.name === prompt.metadata.name))
              .map((e) => `${e.metadata.namespace ?? ""}/${e.metadata.name}`),
        },
      ],
      reconcile: (request, context) =>
        reconcileExperiment({ deps, options, prices, endpoints, datasets }, request, context),
    };
  };
}

interface ExperimentDeps {
  deps: ControllerDeps;
  options: ExperimentControllerOptions;
  prices: PriceTable;
  endpoints: EndpointConcurrency;
  /**
   * Remote datasets (Hub, Langfuse) by Experiment uid, read once per run rather than once per
   * batch: `key` names what was read (a Hub commit, a Langfuse dataset for one generation).
   */
  datasets: Map<string, { key: string; loaded: LoadedDataset }>;
}

type StoredExperiment = StoredObject<Experiment & KubeObject>;

async function reconcileExperiment(
  base: ExperimentDeps,
  request: ReconcileRequest,
  context: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const { deps } = base;
  const experiment = deps.cache.get<Experiment & KubeObject>(ExperimentType, request);
  if (!experiment) return undefined; // gone; its results ConfigMaps follow by garbage collection
  const finished =
    experiment.status?.observedGeneration === experiment.metadata.generation &&
    (experiment.status?.phase === "Completed" || experiment.status?.phase === "Failed");
  if (finished) base.datasets.delete(experiment.metadata.uid);
  if (experiment.spec.suspend) {
    context.log.debug("suspended");
    return undefined;
  }
  const previous = experiment.status ?? {};
  const now = conditionTime(deps.clock.now());
  const writeStatus = (outcome: ReconcileOutcome, next: ExperimentStatus) =>
    writeKstatus({
      client: deps.client,
      type: ExperimentType,
      object: experiment,
      outcome,
      next,
      now,
    });
  // A finished run stays finished: a Prompt that moves on later does not silently re-run (and
  // re-spend) it. Changing the Experiment's spec (a new generation) starts a new run.
  if (finished) {
    if (previous.phase === "Completed") {
      // The decision follows the winner's Prompt (e.g. `llmops promote` landed through git), and
      // a policy-auto commit that failed for a transient reason is tried again.
      const promotion = await promotionStep({
        deps,
        promoter: base.options.promoter,
        experiment,
        status: previous,
        signal: context.signal,
      });
      const next: ExperimentStatus = { ...previous };
      if (promotion.promotion) next.promotion = promotion.promotion;
      else delete next.promotion;
      await writeStatus(
        { state: "Ready", reason: "Completed", message: previous.recommendation ?? "" },
        next,
      );
      if (promotion.retry) throw promotion.retry;
    }
    return undefined;
  }
  const stall = async (reason: string, message: string, phase?: ExperimentStatus["phase"]) => {
    await writeStatus(
      { state: "Stalled", reason, message },
      { ...previous, ...(phase ? { phase } : {}) },
    );
    void deps.events.record(experiment, {
      type: "Warning",
      reason,
      action: "Reconcile",
      note: message,
    });
    return new TerminalError(message, { reason });
  };

  let x: ExperimentDeps;
  try {
    x = { ...base, prices: await currentPrices(base) };
  } catch (error) {
    if (!(error instanceof PriceTableError)) throw error;
    const message = `the controller's price table is invalid, so costs and budgets cannot be computed: ${error.message}; fix the ConfigMap`;
    await writeStatus({ state: "Failed", reason: "InvalidPriceTable", message }, previous);
    throw new TransientError(message, { cause: error });
  }

  const spec = experiment.spec;
  if (spec.dataset === undefined) {
    throw await stall(
      "OnlineNotSupported",
      "spec.traffic (online A/B) is not handled by this controller version; set spec.dataset for an offline evaluation",
    );
  }

  // Observe: Prompts (cache), dataset, results so far (API, not the cache: the cache may lag our
  // own writes, and reading a stale result set would pay for an item twice).
  const resolved: ResolvedVariant[] = [];
  for (const [i, variant] of spec.variants.entries()) {
    const prompt = deps.cache.get<Prompt & KubeObject>(PromptType, {
      namespace: request.namespace,
      name: variant.prompt.name,
    });
    const pinned = pinnedVersion(variant, i, prompt);
    const snapshot =
      pinned.ok && !pinned.live
        ? await readPromptSnapshot(
            deps.client,
            request.namespace,
            variant.prompt.name,
            pinned.version,
          )
        : undefined;
    const resolution = resolveVariant(variant, i, prompt, snapshot);
    if (!resolution.ok) {
      const { kind, reason, message } = resolution.problem;
      if (kind === "stall") throw await stall(reason, message);
      await writeStatus(
        { state: "Progressing", reason, message },
        { ...previous, phase: "Pending" },
      );
      return undefined; // the Prompt watch brings us back
    }
    resolved.push(resolution.variant);
  }
  const control = resolved.find((v) => v.control)?.name ?? resolved[0]?.name ?? "";

  let items: DatasetItem[];
  let datasetStatus: LoadedDataset["source"];
  try {
    ({ items, source: datasetStatus } = await loadDataset(x, experiment));
  } catch (error) {
    if (error instanceof DatasetError) throw await stall("InvalidDataset", error.message);
    if (error instanceof MissingSecretError) throw await stall("DatasetNotFound", error.message);
    throw error;
  }
  const missing = missingVariables(resolved, items);
  if (missing.length > 0) throw await stall("InvalidDataset", missing.join("; "));
  if (spec.budget !== undefined) {
    const unpriced = resolved.filter((v) => lookupPrice(x.prices, v.model) === null);
    if (unpriced.length > 0) {
      throw await stall(
        "UnknownPrice",
        `spec.budget is set but model ${unpriced.map((v) => v.model).join(", ")} has no price, so the budget cannot be enforced; add it to the price table or remove spec.budget`,
      );
    }
  }

  const runId = contentHash({
    variants: resolved.map((v) => ({ ...v, endpoint: v.endpoint.baseURL })),
    items,
    repetitions: spec.repetitions ?? 1,
    evaluators: spec.evaluators,
  }).slice(0, 16);
  const { chunks, journalTexts } = await loadChunks(deps, experiment, runId);
  const records = chunks.flatMap((c) => decodeChunk(c.text));
  const variantNames = resolved.map((v) => v.name);
  const units = workUnits(variantNames, items, spec.repetitions ?? 1);
  const done = new Set(records.map((r) => r.key));
  const clearJournal = () =>
    deps.client.deleteCollection(ConfigMapType, {
      namespace: request.namespace,
      labelSelector: `${journalLabel}=${request.name}`,
    });
  const writeJournal = (write: JournalWrite) => createJournalObject(deps, experiment, write);
  const left = mergeJournal(journalTexts.flatMap((text) => decodeJournalWrite(text, runId) ?? []));
  if (left.claims.length > 0 || left.records.length > 0) {
    // The previous controller was killed mid-batch: keep what it got back, and mark what was in
    // flight as interrupted so it is never sent (and paid for) twice.
    const unitsByKey = new Map(units.map((u) => [u.key, u]));
    const recovered = recoverJournal(left, done, (key) => {
      const unit = unitsByKey.get(key);
      return unit && { variant: unit.variant, item: unit.item.id, repetition: unit.repetition };
    });
    if (recovered.length > 0) {
      await saveRecords(deps, experiment, runId, chunks, recovered);
      records.push(...recovered);
      for (const r of recovered) done.add(r.key);
      const interrupted = recovered.filter((r) => r.interrupted).length;
      if (interrupted > 0) {
        context.log.warn({ interrupted }, "calls were in flight when the controller was killed");
        void deps.events.record(experiment, {
          type: "Warning",
          reason: "CallsInterrupted",
          action: "Evaluate",
          note: `${String(interrupted)} calls were in flight when the controller stopped without draining; they are recorded as interrupted and not sent again`,
        });
      }
    }
  }
  // Settled (or from another run): the next batch starts a fresh journal.
  if (journalTexts.length > 0) await clearJournal();
  const running: ExperimentStatus = {
    ...previous,
    dataset: datasetStatus,
    phase: "Running",
    startedAt: previous.startedAt ?? now,
    progress: progressOf(records, units.length),
  };

  // Plan.
  const plan = planBatch({
    units,
    done,
    spent: spentOf(records),
    budget: spec.budget,
    batchSize: Math.max(1, (spec.concurrency ?? 4) * (x.options.batchFactor ?? 32)),
  });
  if (plan.remaining === 0) {
    return complete(x, experiment, {
      resolved,
      control,
      records,
      items,
      total: units.length,
      runId,
      now,
      signal: context.signal,
    });
  }
  if (plan.budgetReached !== null) {
    const message = `budget reached: ${plan.budgetReached}; stopped after ${String(records.length)} of ${String(units.length)} calls, results so far kept`;
    await writeStatus(
      { state: "Stalled", reason: "BudgetExceeded", message },
      {
        ...running,
        ...partialResults(experiment, resolved, control, records),
        phase: "Failed",
        completedAt: previous.completedAt ?? now,
      },
    );
    void deps.events.record(experiment, {
      type: "Warning",
      reason: "BudgetExceeded",
      action: "Evaluate",
      note: message,
    });
    throw new TerminalError(message, { reason: "BudgetExceeded" });
  }

  // Act: one batch.
  let runnable: Map<string, RunnableVariant>;
  try {
    runnable = await buildRunnable(x, experiment, resolved);
  } catch (error) {
    if (error instanceof EvaluatorConfigError) throw await stall("InvalidEvaluator", error.message);
    if (error instanceof MissingSecretError) {
      await writeStatus(
        { state: "Failed", reason: "SecretNotFound", message: error.message },
        running,
      );
      throw new TransientError(error.message, { cause: error });
    }
    throw error;
  }
  if (previous.phase !== "Running") {
    await writeStatus(
      {
        state: "Progressing",
        reason: "Evaluating",
        message: `evaluating ${String(units.length)} calls (${String(items.length)} items × ${String(resolved.length)} variants × ${String(spec.repetitions ?? 1)} repetitions)`,
      },
      running,
    );
  }
  const journal = new CallJournal(runId, randomBytes(3).toString("hex"), writeJournal);
  const outcome = await runBatch({
    units: plan.batch,
    variants: runnable,
    concurrency: spec.concurrency ?? 4,
    budget: spec.budget,
    spent: spentOf(records),
    signal: context.signal,
    ...(context.stopping ? { stopping: context.stopping } : {}),
    journal,
    now: () => deps.clock.now(),
    deadline: deps.clock.now() + (x.options.batchSeconds ?? 10) * 1000,
  });
  if (outcome.records.length > 0) {
    await saveRecords(deps, experiment, runId, chunks, outcome.records);
  }
  // The results are in the chunks now: the journal goes, unless calls aborted at a hard stop left
  // claims in it (the next batch records those as interrupted).
  const open = await journal.saved();
  if (journal.writes > 0 && open === 0) await clearJournal();
  const all = [...records, ...outcome.records];
  const progress = progressOf(all, units.length);
  const warnAt = spec.budget?.warnAtCostUSD;
  if (warnAt !== undefined && spentOf(records).costUSD < warnAt && spentOf(all).costUSD >= warnAt) {
    void deps.events.record(experiment, {
      type: "Warning",
      reason: "BudgetWarning",
      action: "Evaluate",
      note: `spent $${spentOf(all).costUSD.toFixed(4)}, past spec.budget.warnAtCostUSD ($${String(warnAt)})${spec.budget?.maxCostUSD !== undefined ? `; the run stops at $${String(spec.budget.maxCostUSD)}` : ""}`,
    });
  }
  const next: ExperimentStatus = { ...running, progress };
  if (outcome.fatal !== null) {
    await writeStatus({ state: "Failed", reason: "ModelCallFailed", message: outcome.fatal }, next);
    throw new TransientError(outcome.fatal);
  }
  if (outcome.records.length === 0 && outcome.transient.length > 0) {
    const message = `${String(outcome.transient.length)} calls failed, will retry: ${outcome.transient[0] ?? ""}`;
    await writeStatus({ state: "Failed", reason: "ModelCallFailed", message }, next);
    throw new TransientError(message);
  }
  await writeStatus(
    {
      state: "Progressing",
      reason: "Evaluating",
      message: `${String(progress.completed ?? 0)} of ${String(units.length)} calls done`,
    },
    next,
  );
  return { requeueAfter: 1 };
}

/** The price table for this reconcile: defaults, the options' prices, then the ConfigMap's. */
async function currentPrices(x: ExperimentDeps): Promise<PriceTable> {
  const ref = x.options.priceTableConfigMap;
  if (ref === undefined) return x.prices;
  const configMap = await x.deps.client.tryGet<KubeObject & { data?: Record<string, string> }>(
    ConfigMapType,
    { namespace: ref.namespace, name: ref.name },
  );
  const key = ref.key ?? "prices.yaml";
  const text = configMap?.data?.[key];
  if (text === undefined) return x.prices; // not created yet: the built-in prices apply
  return mergePriceTables(
    x.prices,
    parsePriceTable(text, `configmap/${ref.namespace}/${ref.name} key ${key}`),
  );
}

/** Items, and where they came from (status.dataset). */
interface LoadedDataset {
  items: DatasetItem[];
  source: NonNullable<ExperimentStatus["dataset"]>;
}

async function loadDataset(
  x: ExperimentDeps,
  experiment: StoredExperiment,
): Promise<LoadedDataset> {
  const { deps } = x;
  const dataset = experiment.spec.dataset ?? {};
  const namespace = experiment.metadata.namespace ?? "";
  const generation = experiment.metadata.generation ?? 0;
  if (dataset.inline) {
    const items = finalizeItems(inlineItems(dataset), "spec.dataset.inline", dataset.limit);
    return { items, source: { source: "spec.dataset.inline", generation, items: items.length } };
  }
  if (dataset.configMap) {
    const key = dataset.configMap.key ?? "dataset.jsonl";
    const source = configMapSource(dataset.configMap.name, key);
    const cm = await deps.client.tryGet<KubeObject & { data?: Record<string, string> }>(
      ConfigMapType,
      { namespace, name: dataset.configMap.name },
    );
    if (cm === undefined) {
      throw new DatasetError(`${source}: ConfigMap ${dataset.configMap.name} does not exist`);
    }
    const text = cm.data?.[key];
    if (text === undefined) {
      throw new DatasetError(
        `${source}: the ConfigMap has no key ${key} (keys: ${Object.keys(cm.data ?? {}).join(", ")})`,
      );
    }
    const items = finalizeItems(parseJsonLines(text, source), source, dataset.limit);
    return { items, source: { source, generation, items: items.length } };
  }
  if (dataset.huggingFace) return loadHubDataset(x, experiment, dataset.huggingFace);
  if (dataset.langfuse) return loadLangfuseItems(x, experiment, dataset.langfuse);
  throw new DatasetError("spec.dataset: set one of inline, configMap, huggingFace or langfuse");
}

/** A remote dataset from the per-run cache, or `load` it (and keep it) when `key` changed. */
async function cachedDataset(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  key: string | undefined,
  load: () => Promise<{ key: string; loaded: LoadedDataset }>,
): Promise<LoadedDataset> {
  const hit = x.datasets.get(experiment.metadata.uid);
  if (key !== undefined && hit?.key === key) return hit.loaded;
  const fresh = await load();
  x.datasets.set(experiment.metadata.uid, fresh);
  return fresh.loaded;
}

async function loadHubDataset(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  hf: NonNullable<NonNullable<Experiment["spec"]["dataset"]>["huggingFace"]>,
): Promise<LoadedDataset> {
  const generation = experiment.metadata.generation ?? 0;
  const limit = experiment.spec.dataset?.limit;
  const where = `hf://datasets/${hf.repo}/${hf.file}`;
  // The revision is resolved once per generation: a branch that moves mid-run must not change the
  // items (and so the run id) of a run that has already paid for calls. A commit's file never
  // changes, so once pinned it is downloaded once per run, not once per batch.
  const pinned = experiment.status?.dataset;
  const pinnedCommit =
    pinned?.generation === generation && pinned.source === where ? pinned.revision : undefined;
  return cachedDataset(x, experiment, pinnedCommit && `${where}@${pinnedCommit}`, async () => {
    const token = hf.tokenSecretRef
      ? await readSecretValue(
          x.deps.client,
          experiment.metadata.namespace ?? "",
          hf.tokenSecretRef,
          "spec.dataset.huggingFace.tokenSecretRef",
        )
      : null;
    // Imported on first use: most controllers never read the Hub, and it costs memory.
    const hub = await import("../../backends/hub/huggingface.js");
    let file;
    try {
      file = await hub.fetchHubDatasetFile({
        endpoint: hf.endpoint ?? x.options.huggingFaceEndpoint ?? "https://huggingface.co",
        repo: hf.repo,
        file: hf.file,
        revision: pinnedCommit ?? hf.revision ?? "main",
        token,
        maxBytes: x.options.maxDatasetBytes ?? 64 * 1024 * 1024,
      });
    } catch (error) {
      if (error instanceof hub.HubUnavailableError) {
        throw new TransientError(`reading ${where}: ${error.message}`, { cause: error });
      }
      if (error instanceof hub.HubError) {
        throw new DatasetError(`spec.dataset.huggingFace: ${error.message}`, { cause: error });
      }
      throw error;
    }
    const source = `${where}@${file.commit.slice(0, 12)}`;
    const items = finalizeItems(parseJsonLines(file.text, source), source, limit);
    return {
      key: `${where}@${file.commit}`,
      loaded: {
        items,
        source: { source: where, revision: file.commit, generation, items: items.length },
      },
    };
  });
}

async function loadLangfuseItems(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  lf: NonNullable<NonNullable<Experiment["spec"]["dataset"]>["langfuse"]>,
): Promise<LoadedDataset> {
  const generation = experiment.metadata.generation ?? 0;
  const source = `langfuse dataset ${lf.name}`;
  // Read once per generation in this process: items added in Langfuse mid-run do not change the
  // run (and its results) under it.
  const key = `${lf.baseURL ?? ""}/${lf.name}#${String(generation)}`;
  return cachedDataset(x, experiment, key, async () => {
    const connection = await langfuseKeys(
      x.deps.client,
      experiment.metadata.namespace ?? "",
      lf,
      "spec.dataset.langfuse",
    );
    const langfuse = await import("../../backends/datasets/langfuse-dataset.js");
    let loaded;
    try {
      loaded = await langfuse.loadLangfuseDataset({ ...connection, name: lf.name });
    } catch (error) {
      if (error instanceof langfuse.LangfuseRequestError && !error.retryable) {
        throw new DatasetError(`spec.dataset.langfuse: ${error.message}`, { cause: error });
      }
      throw new TransientError(`reading Langfuse dataset ${lf.name}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    const items = finalizeItems(
      loaded.items.map((item) => ({
        id: item.id,
        // An object input is the variables; anything else is one variable named input.
        vars:
          typeof item.input === "object" && item.input !== null && !Array.isArray(item.input)
            ? (item.input as Record<string, unknown>)
            : { input: item.input },
        ...(item.expectedOutput !== undefined && item.expectedOutput !== null
          ? { expected: item.expectedOutput }
          : {}),
      })),
      source,
      experiment.spec.dataset?.limit,
    );
    return { key, loaded: { items, source: { source, generation, items: items.length } } };
  });
}

async function createJournalObject(
  deps: ControllerDeps,
  experiment: StoredExperiment,
  write: JournalWrite,
): Promise<void> {
  const name = experiment.metadata.name;
  const configMap: KubeObject = withControllerReference(
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: journalObjectName(name, write),
        namespace: experiment.metadata.namespace ?? "",
        labels: {
          "app.kubernetes.io/managed-by": "llmops",
          [experimentLabel]: name,
          [journalLabel]: name,
        },
        annotations: { [runIdAnnotation]: write.runId },
      },
      data: { [journalDataKey]: JSON.stringify(write) },
    },
    experiment,
  );
  await deps.client.create(ConfigMapType, configMap);
}

async function loadChunks(
  deps: ControllerDeps,
  experiment: StoredExperiment,
  runId: string,
): Promise<{ chunks: Chunk[]; journalTexts: string[] }> {
  const namespace = experiment.metadata.namespace ?? "";
  const list = await deps.client.list<KubeObject & { data?: Record<string, string> }>(
    ConfigMapType,
    {
      namespace,
      labelSelector: `${experimentLabel}=${experiment.metadata.name}`,
    },
  );
  const chunks: Chunk[] = [];
  const journalTexts: string[] = [];
  for (const cm of list.items) {
    const owned = cm.metadata.ownerReferences?.some((o) => o.uid === experiment.metadata.uid);
    if (!owned) continue;
    if (cm.metadata.annotations?.[runIdAnnotation] !== runId) {
      // A previous run (the spec changed): its results do not apply to this one.
      await deps.client.delete(ConfigMapType, { namespace, name: cm.metadata.name });
      continue;
    }
    if (cm.metadata.labels?.[journalLabel] !== undefined) {
      journalTexts.push(cm.data?.[journalDataKey] ?? "");
      continue;
    }
    const index = Number(cm.metadata.annotations[`llmops.dev/chunk`] ?? "-1");
    if (Number.isInteger(index) && index >= 0)
      chunks.push({ index, text: cm.data?.[chunkKey] ?? "" });
  }
  return { chunks: chunks.sort((a, b) => a.index - b.index), journalTexts };
}

async function saveRecords(
  deps: ControllerDeps,
  experiment: StoredExperiment,
  runId: string,
  chunks: Chunk[],
  records: readonly ResultRecord[],
): Promise<void> {
  const name = experiment.metadata.name;
  for (const chunk of appendRecords(chunks, records)) {
    const configMap: KubeObject = withControllerReference(
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: {
          name: chunkName(name, chunk.index),
          namespace: experiment.metadata.namespace ?? "",
          labels: { "app.kubernetes.io/managed-by": "llmops", [experimentLabel]: name },
          annotations: { [runIdAnnotation]: runId, "llmops.dev/chunk": String(chunk.index) },
        },
        data: { [chunkKey]: chunk.text },
      },
      experiment,
    );
    await deps.client.apply(ConfigMapType, configMap, { force: true });
    const existing = chunks.find((c) => c.index === chunk.index);
    if (existing) existing.text = chunk.text;
    else chunks.push(chunk);
  }
}

async function endpointClient(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  endpoint: { baseURL: string; apiKeySecretRef?: { name: string; key: string } },
  field: string,
): Promise<ChatModelClient> {
  const apiKey = endpoint.apiKeySecretRef
    ? await readSecretValue(
        x.deps.client,
        experiment.metadata.namespace ?? "",
        endpoint.apiKeySecretRef,
        `${field}.apiKeySecretRef`,
      )
    : null;
  return createOpenAiChatClient({
    baseURL: endpoint.baseURL,
    apiKey,
    prices: x.prices,
    concurrency: x.endpoints,
    clock: x.deps.clock,
    ...(x.options.clientOptions?.timeoutMs !== undefined
      ? { timeoutMs: x.options.clientOptions.timeoutMs }
      : {}),
    ...(x.options.clientOptions?.retry ? { retry: x.options.clientOptions.retry } : {}),
  });
}

async function buildRunnable(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  resolved: readonly ResolvedVariant[],
): Promise<Map<string, RunnableVariant>> {
  const namespace = experiment.metadata.namespace ?? "";
  const out = new Map<string, RunnableVariant>();
  for (const variant of resolved) {
    const client = await endpointClient(
      x,
      experiment,
      variant.endpoint,
      `Prompt ${variant.promptName} spec.model.endpoint`,
    );
    const judgeClients = new Map<string, ChatModelClient>();
    const webhookSecrets = new Map<string, string>();
    for (const e of experiment.spec.evaluators) {
      if (e.type === "llmJudge") {
        const endpoint = e.llmJudge?.model?.endpoint;
        judgeClients.set(
          e.name,
          endpoint
            ? await endpointClient(
                x,
                experiment,
                endpoint,
                `spec.evaluators[${e.name}].llmJudge.model.endpoint`,
              )
            : client,
        );
      }
      if (e.type === "webhook" && e.webhook?.secretRef) {
        webhookSecrets.set(
          e.name,
          await readSecretValue(
            x.deps.client,
            namespace,
            e.webhook.secretRef,
            `spec.evaluators[${e.name}].webhook.secretRef`,
          ),
        );
      }
    }
    const evaluators = buildEvaluators(experiment.spec.evaluators, variant, (e) => ({
      clock: x.deps.clock,
      ...(judgeClients.has(e.name) ? { judgeClient: judgeClients.get(e.name) } : {}),
      ...(webhookSecrets.has(e.name) ? { webhookSecret: webhookSecrets.get(e.name) } : {}),
    }));
    out.set(variant.name, { resolved: variant, client, evaluators });
  }
  return out;
}

function partialResults(
  experiment: StoredExperiment,
  resolved: readonly ResolvedVariant[],
  control: string,
  records: readonly ResultRecord[],
): Pick<ExperimentStatus, "results" | "comparisons"> {
  const names = resolved.map((v) => v.name);
  const decision = analyze(experiment.spec, records, names, control);
  return {
    results: variantResults(records, resolved, decision, experiment.spec.evaluators),
    comparisons: comparisonsOf(decision, primaryMetricOf(experiment.spec).name),
  };
}

/** The finished run: analysis, tracking, promotion, and the final status. */
async function complete(
  x: ExperimentDeps,
  experiment: StoredExperiment,
  run: {
    resolved: readonly ResolvedVariant[];
    control: string;
    records: readonly ResultRecord[];
    items: readonly DatasetItem[];
    total: number;
    runId: string;
    now: string;
    signal: AbortSignal;
  },
): Promise<ReconcileResult | undefined> {
  const { resolved, control, records, total, runId, now } = run;
  const { deps } = x;
  x.datasets.delete(experiment.metadata.uid);
  const previous = experiment.status ?? {};
  const spec = experiment.spec;
  const names = resolved.map((v) => v.name);
  const decision = analyze(spec, records, names, control);
  const results = variantResults(records, resolved, decision, spec.evaluators);
  const next: ExperimentStatus = {
    ...previous,
    phase: "Completed",
    startedAt: previous.startedAt ?? now,
    completedAt:
      previous.phase === "Completed" && previous.completedAt ? previous.completedAt : now,
    progress: progressOf(records, total),
    results,
    comparisons: comparisonsOf(decision, primaryMetricOf(spec).name),
    recommendation: decision.recommendation,
  };
  if (decision.winner !== null) next.winner = decision.winner;
  else delete next.winner;

  if (spec.tracking) {
    try {
      next.tracking = {
        ...next.tracking,
        ...(await trackExperiment({
          client: deps.client,
          experiment,
          runId,
          resolved,
          items: run.items,
          records,
          results,
          winner: decision.winner,
          now: deps.clock.now(),
          ...(x.options.mlflowFor ? { mlflowFor: x.options.mlflowFor } : {}),
          ...(x.options.langfuseFor ? { langfuseFor: x.options.langfuseFor } : {}),
        })),
      };
    } catch (error) {
      const message = `results are complete but recording them failed: ${errorMessage(error)}`;
      await writeKstatus({
        client: deps.client,
        type: ExperimentType,
        object: experiment,
        outcome: { state: "Failed", reason: "TrackingFailed", message },
        next: { ...next, phase: "Analyzing" },
        now,
      });
      throw new TransientError(message, { cause: error });
    }
  }

  const promotion = await promotionStep({
    deps,
    promoter: x.options.promoter,
    experiment,
    status: next,
    signal: run.signal,
  });
  if (promotion.promotion) next.promotion = promotion.promotion;
  else delete next.promotion;

  const changed = await writeKstatus({
    client: deps.client,
    type: ExperimentType,
    object: experiment,
    outcome: { state: "Ready", reason: "Completed", message: decision.recommendation },
    next,
    now,
  });
  if (promotion.retry) throw promotion.retry;
  if (changed && previous.phase !== "Completed") {
    void deps.events.record(experiment, {
      type: "Normal",
      reason: "Completed",
      action: "Evaluate",
      note: decision.recommendation,
    });
  }
  return undefined;
}
