// An `experiment` analysis metric: a number from the latest results of an Experiment in the same
// namespace, read from the informer cache (the ModelDeployment controller must watch Experiments).
//
// - Variant: `experiment.variant`, else the variant named after the canary revision (the CRD's
//   documented default), so an Experiment written for a rollout names a variant after it.
// - Value: the metric's `mean` from status.results[variant].metrics[metric]. For pass/fail
//   evaluators (exactMatch, contains, regex, jsonSchema) the Experiment writes mean = passRate,
//   the share of answers that passed, so a condition like "result >= 0.9" reads as a pass rate
//   either way; for scored evaluators (numeric, llmJudge, latency, cost, webhook) it is the mean
//   score. A metric with a passRate but no mean gives its passRate.
// - Only final results count: an Experiment that is not Completed, or whose current generation
//   the Experiment controller has not handled yet (status.observedGeneration behind
//   metadata.generation), is an error (not measurable yet), never a failure; so are results the
//   Experiment recorded for another ModelDeployment revision (status.results[].revision: an
//   earlier canary), so results for a previous canary never promote a new one.
import type { Experiment } from "../../api/generated/index.js";
import { ExperimentType } from "../../api/kinds.js";
import type { KubeObject } from "../../kube/resources.js";
import type { AnalysisMetric, AnalysisProvider, Measurement } from "./provider.js";

type ExperimentObject = Experiment & KubeObject;

/** The provider for `metric.experiment`. */
export function experimentProvider(): AnalysisProvider {
  return {
    measure: (metric, context) => {
      const spec = metric.experiment;
      if (spec === undefined) throw new Error(`metric ${metric.name} has no experiment source`);
      const experiment = context.cache.get<ExperimentObject>(ExperimentType, {
        namespace: context.namespace,
        name: spec.name,
      });
      return Promise.resolve(
        experimentMeasurement(metric, experiment, {
          namespace: context.namespace,
          revision: context.revision,
        }),
      );
    },
  };
}

/** The measurement `metric` reads from `experiment` (undefined: not in the cache). Pure. */
export function experimentMeasurement(
  metric: AnalysisMetric,
  experiment: ExperimentObject | undefined,
  where: { namespace: string; revision: string },
): Measurement {
  const spec = metric.experiment;
  if (spec === undefined) throw new Error(`metric ${metric.name} has no experiment source`);
  const name = `Experiment ${where.namespace}/${spec.name}`;
  if (experiment === undefined) {
    return { ok: false, error: `${name} does not exist; apply it or fix experiment.name` };
  }
  const status = experiment.status ?? {};
  const generation = experiment.metadata.generation;
  if (generation !== undefined && status.observedGeneration !== generation) {
    return {
      ok: false,
      error:
        `${name} has no results for its generation ${String(generation)} yet ` +
        `(results are for ${status.observedGeneration === undefined || status.observedGeneration < 0 ? "none" : `generation ${String(status.observedGeneration)}`})`,
    };
  }
  if (status.phase !== "Completed") {
    return {
      ok: false,
      error: `${name} is ${status.phase ?? "Pending"}, not Completed: its results are not final yet`,
    };
  }
  const variant = spec.variant ?? where.revision;
  const results = status.results ?? [];
  const result = results.find((r) => r.variant === variant);
  if (result === undefined) {
    const known = results.map((r) => r.variant).join(", ");
    return {
      ok: false,
      error:
        `${name} has no results for variant ${variant}` +
        (known === "" ? "" : ` (it has ${known})`) +
        (spec.variant === undefined
          ? `; name a variant after the canary revision or set experiment.variant`
          : `; fix experiment.variant`),
    };
  }
  // Results recorded for another revision (an earlier canary) never gate this canary: the run
  // has to have called this canary revision. A variant on another revision (the stable one, as
  // the control) counts when the same run evaluated this canary too.
  if (
    result.revision !== undefined &&
    result.revision !== where.revision &&
    !results.some((r) => r.revision === where.revision)
  ) {
    return {
      ok: false,
      error:
        `${name}, variant ${variant}, has results for revision ${result.revision}, ` +
        `not for the canary revision ${where.revision} yet; it runs again once its variant ` +
        `calls this revision (model.modelDeployment.role: Canary)`,
    };
  }
  const entry = (result.metrics ?? []).find((m) => m.name === spec.metric);
  if (entry === undefined) {
    const known = (result.metrics ?? []).map((m) => m.name).join(", ");
    return {
      ok: false,
      error:
        `${name}, variant ${variant}, has no metric ${spec.metric}` +
        (known === "" ? "" : ` (it has ${known})`) +
        `; experiment.metric names one of its evaluators`,
    };
  }
  const value = entry.mean ?? entry.passRate;
  if (value === undefined || !Number.isFinite(value)) {
    return {
      ok: false,
      error: `${name}, variant ${variant}, has no value for ${spec.metric} (no answer was scored)`,
    };
  }
  return { ok: true, value };
}
