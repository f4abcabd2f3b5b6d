// The ModelDeployment controller, on the shared skeleton: observe (observe.ts) → plan (plan.ts and
// rollout.ts, pure) → act: the desired revision running (backends/serving: a Deployment and
// Service, or a local process), measurements when an analysis step is due, the weights
// (backends/traffic: the HTTPRoute, or the local proxy), then scaling and removing other
// revisions — in that order, so traffic never points at something that is not there yet or no
// longer is.
import type {
  ModelDeployment,
  ModelDeploymentStatus,
  ModelDeploymentStatusMeasurement,
} from "../../api/generated/index.js";
import { ExperimentType, ModelDeploymentType, TrainingJobType } from "../../api/kinds.js";
import type { StoredObject } from "../../kube/resources.js";
import { conditionTime } from "../../runtime/conditions.js";
import {
  objectReconciler,
  type ObjectContext,
  type ObjectReconciler,
  type ReconcileStep,
} from "../../runtime/object-reconciler.js";
import type { ControllerSetup } from "../../runtime/registry.js";
import { servingBackends, type ServingBackends } from "../../backends/serving/index.js";
import {
  analysisProviders,
  measureMetric,
  type AnalysisOptions,
} from "../../backends/analysis/provider.js";
import { observeModelDeployment, type ModelSettings } from "./observe.js";
import {
  materialize,
  planModelDeployment,
  type ModelDeploymentActions,
  type ObservedModelDeployment,
} from "./plan.js";
import { afterMeasurement, type MetricVerdict } from "./rollout.js";

export { ModelDeploymentType };

/** Measures the named analysis metrics of the canary (backends/analysis); one verdict each. */
export type MeasureCanary = (
  metrics: readonly string[],
  target: { object: StoredObject<ModelDeployment>; revision: string; context: ObjectContext },
) => Promise<MetricVerdict[]>;

export interface ModelDeploymentControllerOptions {
  /** Hub URL for models (the HF_ENDPOINT convention); default https://huggingface.co. */
  huggingFaceEndpoint?: string;
  /** Settings of the analysis providers (the default Prometheus address, timeouts). */
  analysis?: AnalysisOptions;
  /** How analysis steps measure; default: the providers of backends/analysis. */
  measure?: MeasureCanary;
  /**
   * What runs revisions and splits traffic (backends/serving: servingBackends()); default the
   * kubernetes backends (Deployment + Service per revision, a Gateway API HTTPRoute).
   */
  backends?: ServingBackends;
  concurrency?: number;
}

/** On ModelDeployments whose revisions run outside the cluster (local processes, the proxy). */
export const localServingFinalizer = "llmops.dev/local-serving";

/** How often a ModelDeployment on local processes is looked at when nothing else is due. */
const localDriftCheckMs = 10_000;

/** Measures with backends/analysis: each named metric of spec.strategy.canary.analysis, in turn. */
export function providerMeasure(options: AnalysisOptions = {}): MeasureCanary {
  const providers = analysisProviders(options);
  return async (names, { object, revision, context }) => {
    const metrics = object.spec.strategy?.canary?.analysis?.metrics ?? [];
    const verdicts: MetricVerdict[] = [];
    for (const name of names) {
      const metric = metrics.find((m) => m.name === name);
      if (metric === undefined) {
        verdicts.push({
          metric: name,
          verdict: "Error",
          message: `${name}: no such analysis metric`,
        });
        continue;
      }
      const measured = await measureMetric(
        metric,
        {
          client: context.deps.client,
          cache: context.deps.cache,
          namespace: object.metadata.namespace ?? "",
          revision,
          service: revision,
          now: context.deps.clock.now(),
          signal: context.signal,
        },
        providers,
      );
      verdicts.push({ metric: name, ...measured });
    }
    return verdicts;
  };
}

type Step = ReconcileStep<ModelDeploymentStatus>;
type Stored = StoredObject<ModelDeployment>;

export function modelDeploymentController(
  options: ModelDeploymentControllerOptions = {},
): ControllerSetup {
  return (deps) => {
    const backends = options.backends ?? servingBackends({ type: "kubernetes" });
    const settings: ModelSettings = {
      huggingFaceEndpoint: options.huggingFaceEndpoint ?? "https://huggingface.co",
      resolved: new Map(),
      serving: backends.serving,
      traffic: backends.traffic,
    };
    return {
      name: "ModelDeployment",
      type: ModelDeploymentType,
      // What the serving backend creates in the cluster (Deployments, Services). The HTTPRoute is
      // read, not watched, so clusters without the Gateway API still work.
      owns: backends.serving.owns,
      concurrency: options.concurrency ?? 4,
      watches: [
        {
          // A TrainingJob that Succeeds brings the deployments that serve it.
          type: TrainingJobType,
          map: (job) =>
            deps.cache
              .list<ModelDeployment>(ModelDeploymentType, {
                namespace: job.metadata.namespace ?? "",
              })
              .filter((md) => md.spec.model.trainingJobRef?.name === job.metadata.name)
              .map((md) => `${md.metadata.namespace ?? ""}/${md.metadata.name}`),
        },
        {
          // Experiment metrics are read from the cache; an Experiment's result is a measurement.
          type: ExperimentType,
          map: (experiment) =>
            deps.cache
              .list<ModelDeployment>(ModelDeploymentType, {
                namespace: experiment.metadata.namespace ?? "",
              })
              .filter((md) =>
                (md.spec.strategy?.canary?.analysis?.metrics ?? []).some(
                  (m) => m.experiment?.name === experiment.metadata.name,
                ),
              )
              .map((md) => `${md.metadata.namespace ?? ""}/${md.metadata.name}`),
        },
      ],
      reconcile: objectReconciler(
        deps,
        modelDeploymentReconciler(settings, options.measure ?? providerMeasure(options.analysis)),
      ),
    };
  };
}

function modelDeploymentReconciler(
  settings: ModelSettings,
  measure: MeasureCanary,
): ObjectReconciler<
  ModelDeployment,
  ModelDeploymentStatus,
  ObservedModelDeployment,
  ModelDeploymentActions
> {
  return {
    type: ModelDeploymentType,
    // Added only where what runs is outside garbage collection (local processes); declared
    // always, so a ModelDeployment that still carries it from a local run can be deleted.
    finalizer: {
      name: localServingFinalizer,
      needed: () => settings.serving.needsFinalizer,
      finalize: async (object, context) => {
        await settings.traffic.finalize(object);
        await settings.serving.finalize(object, context);
      },
    },
    // spec.paused holds a rollout at its step (rollout.ts); nothing suspends the whole object.
    suspended: () => false,
    observe: (object, context) => observeModelDeployment(settings, object, context),
    plan: ({ object, observed, now }) =>
      planModelDeployment({ object, observed, now: Date.parse(now) }),
    act: (actions, planned, context) => rollOut(settings, measure, actions, planned, context),
  };
}

async function rollOut(
  settings: ModelSettings,
  measure: MeasureCanary,
  actions: ModelDeploymentActions,
  planned: Step,
  context: ObjectContext & { object: Stored; observed: ObservedModelDeployment },
): Promise<Step> {
  const { deps, object, observed } = context;
  const { serving, traffic: trafficBackend } = settings;
  await serving.ensure(
    {
      object,
      revision: actions.ensure.revision,
      model: actions.model,
      replicas: actions.ensure.replicas,
    },
    context,
  );
  let step = planned;
  let traffic = actions.traffic;
  if (actions.decision.measure !== undefined && actions.decision.canary !== undefined) {
    const revision = actions.decision.canary;
    const verdicts = await measure(actions.decision.measure, { object, revision, context });
    const now = deps.clock.now();
    const decision = afterMeasurement({ object, decision: actions.decision, verdicts, now });
    const again = materialize({
      object,
      observed,
      decision,
      desired: actions.desired,
      model: actions.model,
      now,
      measurements: measurementsOf(object.status?.measurements, verdicts, decision, now),
    });
    step = again.step;
    traffic = again.actions.traffic;
  }
  const routed = await trafficBackend.route(object, traffic, context);
  if (!routed.ok) {
    return {
      status: object.status ?? {},
      outcome: { state: "Failed", reason: routed.reason, message: routed.message },
      error: routed.error,
    };
  }
  for (const { revision, replicas } of actions.scale) {
    await serving.scale(object, revision, replicas, context);
  }
  if (actions.remove.length > 0) await serving.remove(object, actions.remove, context);
  const status = { ...step.status };
  if (routed.url !== undefined) status.url = routed.url;
  else delete status.url;
  return { ...step, status, ...pollLocal(serving.pollWhileStartingMs, step) };
}

/**
 * Local processes are not watched: look again soon while a revision starts, and now and then
 * afterwards (a server that exited is started again).
 */
function pollLocal(pollMs: number | undefined, step: Step): { requeueAfter?: number } {
  if (pollMs === undefined) return {};
  const starting = (step.status.revisions ?? []).some((r) => r.ready !== true);
  const wanted = starting ? pollMs : localDriftCheckMs;
  return { requeueAfter: Math.min(step.requeueAfter ?? wanted, wanted) };
}

/** The latest measurement of each metric, with the rollout's failure count. */
function measurementsOf(
  previous: readonly ModelDeploymentStatusMeasurement[] | undefined,
  verdicts: readonly MetricVerdict[],
  decision: { rollout?: { failures?: number } | undefined },
  now: number,
): ModelDeploymentStatusMeasurement[] {
  const byMetric = new Map((previous ?? []).map((m) => [m.metric, m]));
  for (const v of verdicts) {
    byMetric.set(v.metric, {
      metric: v.metric,
      ...(v.value !== undefined && Number.isFinite(v.value) ? { value: v.value } : {}),
      successful: v.verdict === "Successful",
      failures: decision.rollout?.failures ?? 0,
      measuredAt: conditionTime(now),
    });
  }
  return [...byMetric.values()].slice(0, 32);
}
