// The contract between the controller and the reference trainer (trainer/): the one JSON config
// the trainer reads, and the JSON lines it prints. Every backend (local child process, Kubernetes
// Job, Hugging Face Jobs) hands the trainer the same config and reads the same lines, from the
// child's stdout, the pod's progress reports or the remote job's log stream.
//
// The Python side (trainer/src/llmops_trainer/config.py, events.py) mirrors these types; a test
// on each side checks the shared example in trainer/tests/fixtures/.

/** Written to a file (TRAINER_CONFIG, default /etc/llmops/trainer.json) and read once at start. */
export interface TrainerConfig {
  /** The run (status.runId) and the attempt (1-based) this process is. */
  runId: string;
  attempt: number;
  method: "sft" | "dpo" | "orpo";
  /** Exactly one of repo (a Hub model at a resolved commit) or path (a local directory). */
  baseModel: { repo: string; revision: string } | { path: string };
  dataset: TrainerDataset;
  evalDataset?: TrainerDataset;
  hyperparameters: {
    epochs: number;
    learningRate: number;
    lrScheduler: "linear" | "cosine" | "constant";
    warmupRatio: number;
    batchSize: number;
    gradientAccumulationSteps: number;
    maxSeqLength: number;
    weightDecay?: number;
    /** dpo / orpo only. */
    beta?: number;
    seed?: number;
    /** Caps the run (tests, smoke runs); absent: epochs decide. */
    maxSteps?: number;
  };
  lora?: {
    rank: number;
    alpha: number;
    dropout: number;
    targetModules: string[];
    quantization: "none" | "4bit" | "8bit";
    /** Extra modules trained in full (embeddings and head of a randomly initialised base). */
    modulesToSave?: string[];
  };
  output: {
    /** Directory the final model (or adapter) is written to. */
    dir: string;
    /** Push the final model to this Hub repository (token from HF_TOKEN). */
    huggingFace?: { repo: string; private: boolean };
  };
  checkpoints: {
    /** Checkpoints go here; an attempt after the first resumes from the newest one. */
    dir: string;
    saveSteps: number;
  };
  tracking?: {
    mlflow?: {
      trackingUri: string;
      experimentName: string;
      /** Register the output as a version of this model. */
      registeredModelName?: string;
      /** Tags on the run: llmops.dev/run-id, llmops.dev/revision (git commit), … */
      tags: Record<string, string>;
    };
  };
  /** Emit a progress line every this many optimiser steps (default 1). */
  progressEverySteps?: number;
}

/** A JSONL dataset: a local file, or a Hub dataset at a resolved commit. */
export type TrainerDataset =
  | { format: "chat" | "completion" | "preference"; path: string }
  | {
      format: "chat" | "completion" | "preference";
      huggingFace: { repo: string; revision: string; split: string };
    };

/**
 * One line of the trainer's stdout: a JSON object with `"llmops": 1`, so our records can be told
 * apart from anything else in a mixed log. Lines without it are ordinary log output.
 */
export type TrainerEvent =
  | {
      llmops: 1;
      event: "started";
      runId: string;
      attempt: number;
      totalSteps: number;
      /** Set when this attempt resumed from a checkpoint. */
      resumedFromStep?: number;
    }
  | {
      llmops: 1;
      event: "progress";
      step: number;
      totalSteps: number;
      epoch: number;
      loss?: number;
      evalLoss?: number;
      learningRate?: number;
    }
  | { llmops: 1; event: "checkpoint"; step: number; path: string }
  | {
      llmops: 1;
      event: "completed";
      /** Where the model went: always the directory; the Hub repo and commit when pushed. */
      output: { path: string; repo?: string; revision?: string };
      metrics: { trainLoss?: number; evalLoss?: number; steps: number; seconds: number };
      mlflow?: { runId: string; modelVersion?: string };
    }
  | {
      llmops: 1;
      event: "failed";
      /**
       * PascalCase. Permanent (no retry): InvalidConfig, DatasetFormat, BaseModelNotFound,
       * InvalidHyperparameters, UnsupportedMethod. Anything else is retryable.
       */
      reason: string;
      message: string;
      /** The TrainingJob field at fault, e.g. spec.dataset.format. */
      field?: string;
      retryable: boolean;
    };

/** Reasons a trainer reports that no retry can fix. */
export const permanentTrainerReasons = new Set([
  "InvalidConfig",
  "DatasetFormat",
  "BaseModelNotFound",
  "InvalidHyperparameters",
  "UnsupportedMethod",
]);

/** Parses one log line: our event, or undefined for anything else (never throws). */
export function parseTrainerLine(line: string): TrainerEvent | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{") || !trimmed.includes('"llmops"')) return undefined;
  try {
    const value = JSON.parse(trimmed) as { llmops?: unknown; event?: unknown };
    if (value.llmops !== 1 || typeof value.event !== "string") return undefined;
    return value as TrainerEvent;
  } catch {
    return undefined;
  }
}
