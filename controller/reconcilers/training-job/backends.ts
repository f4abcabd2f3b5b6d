// The training backends a controller runs, from its flags: which are enabled, and what each
// needs (the trainer image, the local trainer command, the progress receiver pods report to).
import { homedir } from "node:os";
import { join } from "node:path";
import type { TrainingBackend } from "../../backends/training/backend.js";
import { createHuggingFaceJobsBackend } from "../../backends/training/huggingface-jobs.js";
import { createKubernetesBackend } from "../../backends/training/kubernetes.js";
import { createLocalBackend } from "../../backends/training/local.js";
import type { ProgressStore } from "../../backends/training/progress-receiver.js";
import type { ControllerDeps } from "../../runtime/registry.js";
import type { BackendType } from "./layout.js";

export const trainingBackendTypes: readonly BackendType[] = [
  "kubernetes",
  "huggingFaceJobs",
  "local",
];

export interface TrainingBackendSettings {
  enabled: readonly BackendType[];
  /** Default trainer image (kubernetes and huggingFaceJobs). */
  trainerImage?: string;
  /** The local backend's trainer command (default: the cached venv's llmops-train). */
  trainerCommand?: readonly string[];
  /** Local runs' working directories. */
  localRunsDir: string;
  huggingFaceEndpoint?: string;
  /** Where pods report progress (the controller's progress receiver). */
  progress?: { store: ProgressStore; url: string; audience: string; caPem: string };
}

/** The venv `trainer/setup-venv.sh` creates: $LLMOPS_TRAINER_VENV or ~/.cache/llmops/trainer-venv. */
export function defaultTrainerCommand(): string[] {
  const venv =
    process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");
  return [join(venv, "bin", "llmops-train")];
}

export function trainingBackends(
  settings: TrainingBackendSettings,
): (deps: ControllerDeps) => Partial<Record<BackendType, TrainingBackend>> {
  return (deps) => {
    const backends: Partial<Record<BackendType, TrainingBackend>> = {};
    for (const type of settings.enabled) {
      switch (type) {
        case "kubernetes":
          backends.kubernetes = createKubernetesBackend({
            client: deps.client,
            defaultImage: settings.trainerImage ?? "",
            ...(settings.progress ? { progress: settings.progress } : {}),
          });
          break;
        case "huggingFaceJobs":
          backends.huggingFaceJobs = createHuggingFaceJobsBackend({
            ...(settings.huggingFaceEndpoint ? { hubUrl: settings.huggingFaceEndpoint } : {}),
            ...(settings.trainerImage ? { defaultImage: settings.trainerImage } : {}),
            clock: deps.clock,
            logger: deps.logger.child({ component: "huggingface-jobs" }),
          });
          break;
        case "local":
          backends.local = createLocalBackend({
            command: settings.trainerCommand ?? defaultTrainerCommand(),
            runsDir: settings.localRunsDir,
            logger: deps.logger.child({ component: "local-trainer" }),
            clock: deps.clock,
          });
          break;
      }
    }
    return backends;
  };
}
