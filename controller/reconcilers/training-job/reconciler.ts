// The TrainingJob controller, on the shared skeleton: observe (observe.ts: inputs, estimate, the
// recorded attempt) → plan (plan.ts, pure) → act: cancel what the plan stops, then submit what it
// starts, and record where the new attempt runs in status.job — after the submit, so a crash in
// between finds the attempt again by its name instead of starting a second one.
import { Counter, Gauge, type Registry } from "prom-client";
import type { TrainingJob, TrainingJobStatus } from "../../api/generated/index.js";
import { TrainingJobType } from "../../api/kinds.js";
import { trainingJobLabel } from "../../api/well-known.js";
import { JobType, type StoredObject } from "../../kube/resources.js";
import {
  objectReconciler,
  type ObjectContext,
  type ReconcileStep,
} from "../../runtime/object-reconciler.js";
import type { CacheReader, ControllerDeps, ControllerSetup } from "../../runtime/registry.js";
import type { TrainingBackend } from "../../backends/training/backend.js";
import {
  defaultGpuTable,
  type GpuTable,
  type GpuTableRef,
} from "../../backends/training/gpu-table.js";
import { join } from "node:path";
import type { BackendType } from "./layout.js";
import { observeTrainingJob, type TrainingSettings } from "./observe.js";
import { planTrainingJob, type ObservedTrainingJob, type TrainingJobActions } from "./plan.js";

export { TrainingJobType };

export interface TrainingJobControllerOptions {
  /** The backends this controller runs attempts on; a TrainingJob naming another stalls. */
  backends: (deps: ControllerDeps) => Partial<Record<BackendType, TrainingBackend>>;
  huggingFaceEndpoint?: string;
  /** Relative local paths in specs resolve against this (default: the working directory). */
  localRoot?: string;
  /** Local runs' working directories (default <localRoot>/.llmops/training). */
  localRunsDir?: string;
  gpuTable?: GpuTable;
  /** Operators' GPU table override (--gpu-table). */
  gpuTableRef?: GpuTableRef;
  mlflowTrackingUri?: string;
  /** Where llmops_training_* metrics are registered (the runtime's registry). */
  metricsRegistry?: Registry;
  concurrency?: number;
}

type Stored = StoredObject<TrainingJob>;
type Step = ReconcileStep<TrainingJobStatus>;

export function trainingJobController(options: TrainingJobControllerOptions): ControllerSetup {
  return (deps) => {
    const root = options.localRoot ?? process.cwd();
    const settings: TrainingSettings = {
      huggingFaceEndpoint: options.huggingFaceEndpoint ?? "https://huggingface.co",
      local: { root, runsDir: options.localRunsDir ?? join(root, ".llmops", "training") },
      backends: options.backends(deps),
      gpuTable: options.gpuTable ?? defaultGpuTable(),
      ...(options.gpuTableRef ? { gpuTableRef: options.gpuTableRef } : {}),
      ...(options.mlflowTrackingUri ? { mlflowTrackingUri: options.mlflowTrackingUri } : {}),
      resolved: new Map(),
    };
    const metrics = options.metricsRegistry
      ? new TrainingMetrics(options.metricsRegistry, deps.cache)
      : undefined;
    return {
      name: "TrainingJob",
      type: TrainingJobType,
      // Each attempt's Job: its end enqueues the TrainingJob (a running one is also looked at
      // every few seconds for progress and budget).
      owns: [{ type: JobType, labelSelector: trainingJobLabel, metadataOnly: true }],
      concurrency: options.concurrency ?? 4,
      reconcile: objectReconciler<
        TrainingJob,
        TrainingJobStatus,
        ObservedTrainingJob,
        TrainingJobActions
      >(deps, {
        type: TrainingJobType,
        // spec.suspend stops a running attempt, which the plan does: never skip the reconcile.
        suspended: () => false,
        observe: (object, context) => observeTrainingJob(settings, object, context),
        plan: ({ object, observed, now }) =>
          planTrainingJob({ object, observed, now: Date.parse(now) }),
        act: async (actions, planned, context) => {
          const step = await act(settings, actions, planned, context);
          metrics?.record(planned, actions);
          return step;
        },
      }),
    };
  };
}

async function act(
  settings: TrainingSettings,
  actions: TrainingJobActions,
  planned: Step,
  context: ObjectContext & { object: Stored; observed: ObservedTrainingJob },
): Promise<Step> {
  const backend = settings.backends[context.observed.backend];
  if (backend === undefined) return planned; // observe stalls it first
  if (actions.cancel) {
    await backend.cancel(actions.cancel.request, actions.cancel.ref);
  }
  if (actions.submit) {
    const ref = await backend.submit(actions.submit);
    return {
      ...planned,
      status: {
        ...planned.status,
        job: {
          ...planned.status.job,
          ...(ref.name ? { name: ref.name } : {}),
          ...(ref.remoteId ? { remoteId: ref.remoteId } : {}),
          ...(ref.url ? { url: ref.url } : {}),
        },
      },
    };
  }
  return planned;
}

/** llmops_training_*: runs by phase, estimated and spent cost, GPU-hours (from the cache). */
class TrainingMetrics {
  private readonly attempts: Counter<"backend">;

  constructor(registry: Registry, cache: CacheReader) {
    const registers = [registry];
    const all = () => cache.list<TrainingJob>(TrainingJobType);
    new Gauge({
      name: "llmops_training_runs",
      help: "TrainingJobs by namespace and phase of their current run.",
      labelNames: ["namespace", "phase"],
      registers,
      collect() {
        this.reset();
        for (const tj of all()) {
          this.inc({
            namespace: tj.metadata.namespace ?? "",
            phase: tj.status?.phase ?? "Pending",
          });
        }
      },
    });
    new Gauge({
      name: "llmops_training_estimated_cost_usd",
      help: "Estimated cost of the current runs, summed by namespace.",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        for (const tj of all()) {
          this.inc({ namespace: tj.metadata.namespace ?? "" }, tj.status?.estimate?.costUSD ?? 0);
        }
      },
    });
    new Gauge({
      name: "llmops_training_spent_cost_usd",
      help: "Cost of the elapsed time of the current runs, summed by namespace.",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        for (const tj of all()) {
          this.inc({ namespace: tj.metadata.namespace ?? "" }, tj.status?.spent?.costUSD ?? 0);
        }
      },
    });
    new Gauge({
      name: "llmops_training_gpu_hours",
      help: "GPU-hours of the current runs, summed by namespace.",
      labelNames: ["namespace"],
      registers,
      collect() {
        this.reset();
        for (const tj of all()) {
          this.inc({ namespace: tj.metadata.namespace ?? "" }, tj.status?.spent?.gpuHours ?? 0);
        }
      },
    });
    this.attempts = new Counter({
      name: "llmops_training_attempts_started_total",
      help: "Training attempts submitted, by backend.",
      labelNames: ["backend"],
      registers,
    });
  }

  record(planned: Step, actions: TrainingJobActions): void {
    if (actions.submit) this.attempts.inc({ backend: planned.status.job?.backend ?? "unknown" });
  }
}
