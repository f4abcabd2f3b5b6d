// What observe hands to the plan, and what the plan asks act to do: the types between the
// Experiment reconciler's steps, and the pure facts observe needs (run identity, finished).
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { DatasetItem } from "../../backends/datasets/items.js";
import type { PriceTable } from "../../backends/llm/index.js";
import { contentHash } from "../../runtime/hash.js";
import type { ResultRecord } from "./results.js";
import type { StoredResults } from "./results-store.js";
import type { ObservedOnline } from "./online-plan.js";
import type { ResolvedVariant } from "./variants.js";
import type { WorkUnit } from "./work.js";

/** Why observe could not gather a run: waits clear by themselves, stalls need a spec change. */
export interface BlockedRun {
  kind: "wait" | "stall" | "failed";
  reason: string;
  message: string;
  error?: unknown;
}

/** Everything a run needs, as observe read it. */
export interface ObservedRun {
  prices: PriceTable;
  resolved: ResolvedVariant[];
  items: DatasetItem[];
  dataset: NonNullable<ExperimentStatus["dataset"]>;
  runId: string;
  stored: StoredResults;
}

export type ObservedExperiment =
  | { kind: "finished" }
  | { kind: "online"; online: ObservedOnline }
  | { kind: "blocked"; blocked: BlockedRun }
  | { kind: "run"; run: ObservedRun };

/** The writes of one reconcile, in order. */
export interface ExperimentActions {
  /** Results and journal objects of earlier runs. */
  deleteStale: string[];
  /** What a killed controller's journal left: results, and interrupted claims. */
  recovered: ResultRecord[];
  /** The journal is settled (or from another run): the next batch starts a fresh one. */
  clearJournal: boolean;
  then:
    | { kind: "none" }
    | { kind: "batch"; units: WorkUnit[]; total: number; records: ResultRecord[] }
    | { kind: "complete"; records: ResultRecord[]; winner: string | null }
    | { kind: "promotion" }
    /** An online run: delete earlier runs' objects (a new run), count Langfuse's outcomes. */
    | { kind: "online"; prune: boolean; report: boolean };
}

/** The hash of everything that decides what is sent and how it is scored. */
export function runIdOf(
  experiment: Experiment,
  resolved: readonly ResolvedVariant[],
  items: readonly DatasetItem[],
): string {
  return contentHash({
    // The revision is left out (its endpoint differs anyway), so run ids stay those of earlier
    // controllers.
    variants: resolved.map(({ revision: _revision, ...v }) => ({
      ...v,
      endpoint: v.endpoint.baseURL,
    })),
    items,
    repetitions: experiment.spec.repetitions ?? 1,
    evaluators: experiment.spec.evaluators,
  }).slice(0, 16);
}

/** Whether the current generation's run is over (Completed or Failed). */
export function isFinished(experiment: Experiment): boolean {
  const status = experiment.status;
  return (
    status?.observedGeneration === experiment.metadata.generation &&
    (status?.phase === "Completed" || status?.phase === "Failed")
  );
}
