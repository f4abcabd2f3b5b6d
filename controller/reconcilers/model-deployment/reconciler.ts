// The ModelDeployment controller, on the shared skeleton: observe (observe.ts) → plan (plan.ts and
// rollout.ts, pure) → act: the desired revision's Deployment and Service, measurements when an
// analysis step is due, the HTTPRoute's weights, then scaling and removing other revisions — in
// that order, so traffic never points at something that is not there yet or no longer is.
import type {
  ModelDeployment,
  ModelDeploymentStatus,
  ModelDeploymentStatusMeasurement,
} from "../../api/generated/index.js";
import { ExperimentType, ModelDeploymentType, TrainingJobType } from "../../api/kinds.js";
import { NotFoundError, errorMessage } from "../../kube/errors.js";
import {
  DeploymentType,
  HTTPRouteType,
  ServiceType,
  type StoredObject,
} from "../../kube/resources.js";
import { conditionTime } from "../../runtime/conditions.js";
import {
  objectReconciler,
  type ObjectContext,
  type ObjectReconciler,
  type ReconcileStep,
} from "../../runtime/object-reconciler.js";
import { OwnedChildren } from "../../runtime/owned-children.js";
import type { ControllerSetup } from "../../runtime/registry.js";
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
import { modelDeploymentLabel } from "./workloads.js";

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
  concurrency?: number;
}

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
    const settings: ModelSettings = {
      huggingFaceEndpoint: options.huggingFaceEndpoint ?? "https://huggingface.co",
      resolved: new Map(),
    };
    return {
      name: "ModelDeployment",
      type: ModelDeploymentType,
      // Deployments in full (their availability decides the weights); Services by metadata only.
      // The HTTPRoute is read, not watched, so clusters without the Gateway API still work.
      owns: [
        { type: DeploymentType, labelSelector: modelDeploymentLabel },
        { type: ServiceType, labelSelector: modelDeploymentLabel, metadataOnly: true },
      ],
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
    // spec.paused holds a rollout at its step (rollout.ts); nothing suspends the whole object.
    suspended: () => false,
    observe: (object, context) => observeModelDeployment(settings, object, context),
    plan: ({ object, observed, now }) =>
      planModelDeployment({ object, observed, now: Date.parse(now) }),
    act: (actions, planned, context) => rollOut(measure, actions, planned, context),
  };
}

async function rollOut(
  measure: MeasureCanary,
  actions: ModelDeploymentActions,
  planned: Step,
  context: ObjectContext & { object: Stored; observed: ObservedModelDeployment },
): Promise<Step> {
  const { deps, object, observed } = context;
  const children = new OwnedChildren({
    client: deps.client,
    owner: object,
    labels: { [modelDeploymentLabel]: object.metadata.name },
  });
  await children.apply(DeploymentType, [actions.apply.deployment]);
  await children.apply(ServiceType, [actions.apply.service]);
  let step = planned;
  let route = actions.route;
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
    route = again.actions.route;
  }
  if (route !== undefined) {
    try {
      await children.apply(HTTPRouteType, [route]);
    } catch (error) {
      const missing = error instanceof NotFoundError;
      return {
        status: object.status ?? {},
        outcome: {
          state: "Failed",
          reason: missing ? "GatewayAPINotInstalled" : "RouteFailed",
          message: missing
            ? "cannot write the HTTPRoute: the Gateway API CRDs (gateway.networking.k8s.io/v1) are not installed in this cluster; install them or remove spec.route"
            : `writing the HTTPRoute failed: ${errorMessage(error)}`,
        },
        error,
      };
    }
  }
  for (const { revision, replicas } of actions.scale) {
    await deps.client.mergePatch(
      DeploymentType,
      { namespace: object.metadata.namespace ?? "", name: revision },
      { spec: { replicas } },
    );
  }
  await children.delete(DeploymentType, actions.remove);
  await children.delete(ServiceType, actions.remove);
  return step;
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
