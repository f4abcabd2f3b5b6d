// Experiment tracking: where finished experiment runs are recorded for people to browse. Every
// tracker is told the same provider-neutral story of a run (FinishedRun) and answers with its part
// of status.tracking. A new provider is a new file implementing RunTracker, plus one row in the
// table of registry.ts.
import type { ExperimentStatus, ExperimentTracking } from "../../api/generated/index.js";
import type { KubeClient } from "../../kube/client.js";
import type { DatasetItem } from "../datasets/items.js";

/** One variant's run: its parameters, metrics and tags. */
export interface TrackedRun {
  /** Run name, the variant's name. */
  name: string;
  params: Record<string, string>;
  metrics: Record<string, number>;
  tags: Record<string, string>;
}

/** One model call of an experiment run, as it is recorded. */
export interface TrackedCall {
  /** Idempotency key of the call within the run, e.g. `control/item-7/0`. */
  key: string;
  variant: string;
  /** The dataset item's id (a Langfuse item id when the dataset came from Langfuse). */
  itemId: string;
  repetition: number;
  model: string;
  /** The rendered chat messages sent to the model. */
  input: { role: string; content: string }[];
  output: string | null;
  error?: string;
  startTime: Date;
  endTime: Date;
  usage?: { inputTokens: number; outputTokens: number };
  costUSD: number | null;
  /** By evaluator name; a null score (evaluator failed or not applicable) is not recorded as a score. */
  scores: Record<string, { score: number | null; passed: boolean | null; error?: string }>;
  /** Prompt name, prompt version, content hash, experiment, run id… (trace and generation metadata). */
  metadata: Record<string, string>;
}

/** A finished experiment run, described without reference to any tracking system. */
export interface FinishedRun {
  /** `namespace/name` of the Experiment. */
  experiment: string;
  /** Stable id of this run (Experiment uid + run id): what makes recording it idempotent. */
  runKey: string;
  /** One per variant, in spec order. */
  variants: readonly TrackedRun[];
  /** Every call that got an answer or failed for good (interrupted calls have none). */
  calls: readonly TrackedCall[];
  /** The dataset the calls ran on. */
  items: readonly DatasetItem[];
  /** The Langfuse dataset the items came from (spec.dataset.langfuse.name); unset otherwise. */
  langfuseDataset?: string;
}

/** What a tracker adds to status.tracking (e.g. `{ mlflowRunURLs }`, `{ langfuseURL }`). */
export type TrackingLinks = NonNullable<ExperimentStatus["tracking"]>;

/** A tracking backend, opened for one finished run. */
export interface RunTracker {
  /** Records `run`; idempotent by run.runKey: a retry after a failure or a crash adds nothing twice. */
  record(run: FinishedRun): Promise<TrackingLinks>;
  /** Flushes and releases what the tracker holds; called once after record, failed or not. */
  close(): Promise<void>;
}

/** What opening a tracker may use: the Experiment's namespace, for its Secrets. */
export interface TrackerContext {
  client: KubeClient;
  namespace: string;
}

/** The spec.tracking fields, one per provider. */
export type TrackingField = keyof ExperimentTracking;

/** How one spec.tracking field becomes a tracker. */
export interface TrackerProvider<F extends TrackingField> {
  /** How failures of this tracker are prefixed, e.g. `MLflow`. */
  label: string;
  /** Builds the tracker `spec` asks for, reading its Secrets (MissingSecretError if one is missing). */
  open(spec: NonNullable<ExperimentTracking[F]>, context: TrackerContext): Promise<RunTracker>;
}
