// Run identity and the trainer's config, both pure. A run is what decides the trained model: the
// base model and data resolved to commits (or content hashes), the method, hyperparameters, LoRA
// and resources. Its id names everything the run creates, so a restarted controller, a second
// replica or a re-apply finds the run instead of starting another.
import { createHash } from "node:crypto";
import type { TrainingJob } from "../../api/generated/index.js";
import { canonicalJson } from "../../runtime/hash.js";
import type { TrainerConfig, TrainerDataset } from "../../backends/training/trainer-contract.js";

/** A dataset as the run sees it: where it is and what identifies its content. */
export type ResolvedDataset = {
  format: "chat" | "completion" | "preference";
  /** Bytes of the JSON Lines, when known (the estimate counts tokens from them). */
  bytes?: number;
} & (
  | { source: "huggingFace"; repo: string; revision: string; split: string }
  | { source: "configMap"; name: string; key: string; hash: string }
  | { source: "path"; path: string; hash: string }
  | { source: "volume"; claimName: string; path: string }
);

export type ResolvedBaseModel =
  | { source: "huggingFace"; repo: string; revision: string }
  | { source: "path"; path: string; hash: string }
  | { source: "volume"; claimName: string; path: string };

/** The run's inputs, resolved once per generation (status.resolved keeps what the id hashes). */
export interface ResolvedInputs {
  baseModel: ResolvedBaseModel;
  dataset: ResolvedDataset;
  evalDataset?: ResolvedDataset;
}

/** Hex digits of a runId: 64 bits, short enough for Job names and labels. */
const runIdLength = 16;

/** The run of `spec` with `inputs`: the same training-relevant inputs, the same id. */
export function runIdOf(spec: TrainingJob["spec"], inputs: ResolvedInputs): string {
  const identity = {
    baseModel: identityOf(inputs.baseModel),
    method: spec.method ?? "sft",
    dataset: identityOf(inputs.dataset),
    evalDataset: inputs.evalDataset ? identityOf(inputs.evalDataset) : undefined,
    hyperparameters: spec.hyperparameters ?? {},
    lora: spec.lora,
    resources: spec.resources ?? {},
  };
  return createHash("sha256").update(canonicalJson(identity)).digest("hex").slice(0, runIdLength);
}

/** What identifies the content (not how many bytes it has). */
function identityOf(input: ResolvedDataset | ResolvedBaseModel): unknown {
  const { bytes: _bytes, ...rest } = input as ResolvedDataset;
  return rest;
}

/** Where the trainer finds things and writes them, per backend. */
export interface RunLayout {
  /** The base model, as the trainer sees it. */
  baseModel: TrainerConfig["baseModel"];
  dataset: TrainerDataset;
  evalDataset?: TrainerDataset;
  outputDir: string;
  checkpointDir: string;
}

/** The trainer's config for one attempt (trainer-contract.ts). */
export function trainerConfig(options: {
  object: TrainingJob;
  runId: string;
  attempt: number;
  layout: RunLayout;
  gitRevision?: string;
  mlflow?: { trackingUri: string };
}): TrainerConfig {
  const { object, runId, attempt, layout } = options;
  const spec = object.spec;
  const h = spec.hyperparameters ?? {};
  const lora = spec.lora;
  const output = spec.output.huggingFace;
  return {
    runId,
    attempt,
    method: spec.method ?? "sft",
    baseModel: layout.baseModel,
    dataset: layout.dataset,
    ...(layout.evalDataset ? { evalDataset: layout.evalDataset } : {}),
    hyperparameters: {
      epochs: h.epochs ?? 3,
      learningRate: h.learningRate ?? 0.0002,
      lrScheduler: h.lrScheduler ?? "cosine",
      warmupRatio: h.warmupRatio ?? 0.03,
      batchSize: h.batchSize ?? 4,
      gradientAccumulationSteps: h.gradientAccumulationSteps ?? 4,
      maxSeqLength: h.maxSeqLength ?? 2048,
      weightDecay: h.weightDecay ?? 0,
      ...(h.beta !== undefined ? { beta: h.beta } : {}),
      seed: h.seed ?? 42,
      ...(h.maxSteps !== undefined ? { maxSteps: h.maxSteps } : {}),
    },
    ...(lora
      ? {
          lora: {
            rank: lora.rank ?? 16,
            alpha: lora.alpha ?? 32,
            dropout: lora.dropout ?? 0.05,
            targetModules: lora.targetModules ?? ["all-linear"],
            quantization: lora.quantization ?? "none",
            ...(lora.modulesToSave ? { modulesToSave: lora.modulesToSave } : {}),
          },
        }
      : {}),
    output: {
      dir: layout.outputDir,
      ...(output ? { huggingFace: { repo: output.repo, private: output.private ?? true } } : {}),
    },
    checkpoints: { dir: layout.checkpointDir, saveSteps: 50 },
    ...(options.mlflow
      ? {
          tracking: {
            mlflow: {
              trackingUri: options.mlflow.trackingUri,
              experimentName: `${object.metadata.namespace ?? "default"}/${object.metadata.name}`,
              registeredModelName: `${object.metadata.namespace ?? "default"}-${object.metadata.name}`,
              tags: {
                "llmops.dev/run-id": runId,
                "llmops.dev/training-job": `${object.metadata.namespace ?? ""}/${object.metadata.name}`,
                ...(options.gitRevision ? { "llmops.dev/revision": options.gitRevision } : {}),
              },
            },
          },
        }
      : {}),
  };
}
