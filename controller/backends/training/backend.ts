// One interface for every place a training attempt can run: a Kubernetes Job, Hugging Face Jobs,
// or a child process on this machine. The reconciler decides what should run (run identity,
// attempts, budget); a backend only starts, observes and stops one attempt, idempotently.
import type { TrainerConfig, TrainerEvent } from "./trainer-contract.js";

/** A Secret value the trainer needs, as an environment variable (never in the config file). */
export interface SecretEnv {
  /** Environment variable in the trainer, e.g. HF_TOKEN. */
  env: string;
  /** Kubernetes Secret in the TrainingJob's namespace. */
  secretRef: { name: string; key: string };
  /** The value, read by the controller (for backends that cannot mount a Secret). */
  value: string;
}

/** Everything a backend needs to start one attempt of one run. */
export interface AttemptRequest {
  /** The TrainingJob. */
  owner: { apiVersion: string; kind: string; namespace: string; name: string; uid: string };
  runId: string;
  /** 1-based. The same (runId, attempt) never starts twice: submit finds what exists. */
  attempt: number;
  config: TrainerConfig;
  secrets: SecretEnv[];
  /** Chosen by the estimate. */
  gpu: { type: string; count: number; flavor?: string };
  /** Hard stop (budget.maxHours). */
  maxSeconds?: number;
  /** The TrainingJob's spec.backend (image, serviceAccountName, nodeSelector, owner…). */
  options: Record<string, unknown>;
  /** Plain environment for the trainer (HF_ENDPOINT, progress URL…). */
  env?: Record<string, string>;
  /** Volumes the trainer reads or writes (kubernetes backend: PVCs and ConfigMaps it mounts). */
  mounts?: Mount[];
  /** The PersistentVolumeClaim the output directory is on (spec.output.volume). */
  outputVolume?: string;
}

/** A volume mounted into the trainer's pod. */
export type Mount =
  | { kind: "persistentVolumeClaim"; claimName: string; mountPath: string; readOnly: boolean }
  | { kind: "configMap"; name: string; mountPath: string };

/** Where an attempt runs: what status.job records, enough to find it again after a restart. */
export interface AttemptRef {
  /** Kubernetes Job name, or the local process's run directory name. */
  name?: string;
  /** Hugging Face job id, or the local pid. */
  remoteId?: string;
  url?: string;
}

export type AttemptPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Cancelled";

export interface AttemptState {
  phase: AttemptPhase;
  /** For Failed: may the next attempt fix it (evicted, OOM-killed, lost node, remote error)? */
  retryable?: boolean;
  /** PascalCase, e.g. OOMKilled, Evicted, DeadlineExceeded, DatasetFormat. */
  reason?: string;
  message?: string;
  /** The trainer's last events of this attempt, newest last (progress, checkpoint, completed…). */
  lastProgress?: Extract<TrainerEvent, { event: "progress" }>;
  lastCheckpoint?: Extract<TrainerEvent, { event: "checkpoint" }>;
  completed?: Extract<TrainerEvent, { event: "completed" }>;
  startedAt?: Date;
  finishedAt?: Date;
}

export interface TrainingBackend {
  readonly type: "kubernetes" | "huggingFaceJobs" | "local";
  /**
   * Starts the attempt unless it already exists (found by runId and attempt), and says where it
   * runs. Throws a TerminalError for a request the backend can never run (bad flavor, no image).
   */
  submit(request: AttemptRequest): Promise<AttemptRef>;
  /** The attempt's state now; undefined when it no longer exists anywhere. */
  observe(request: AttemptRequest, ref: AttemptRef): Promise<AttemptState | undefined>;
  /** Stops the attempt (idempotent: gone or finished is fine). */
  cancel(request: AttemptRequest, ref: AttemptRef): Promise<void>;
}
