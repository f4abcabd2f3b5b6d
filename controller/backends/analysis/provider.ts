// Canary analysis: one measurement of one metric, behind one interface. Each source a metric can
// name (prometheus, experiment, langfuse) is a provider in its own file, found through the table
// below by the spec field that is set, never through an `if` chain. measureMetric joins a
// provider's number and the metric's conditions into the verdict and the line an Event shows.
//
// A measurement that errors (provider unreachable, HTTP error, empty or NaN result, an Experiment
// that is not completed yet, no scores in the window) is not a failure: the rollout counts it
// against analysis.consecutiveErrorLimit, never against failureLimit.
import type { ModelDeploymentStrategyCanaryAnalysisMetric } from "../../api/generated/index.js";
import type { KubeClient } from "../../kube/client.js";
import type { CacheReader } from "../../runtime/registry.js";
import { judgeMeasurement, parseCondition, type Verdict } from "./condition.js";
import { experimentProvider } from "./experiment.js";
import { langfuseProvider, type LangfuseAnalysisOptions } from "./langfuse.js";
import { prometheusProvider, type PrometheusOptions } from "./prometheus.js";

export type AnalysisMetric = ModelDeploymentStrategyCanaryAnalysisMetric;

/** What a provider may use for one measurement of a ModelDeployment's canary. */
export interface MeasurementContext {
  client: KubeClient;
  /** Informer caches (Experiments are read from here, not from the apiserver). */
  cache: CacheReader;
  /** The ModelDeployment's namespace: its Secrets and Experiments. */
  namespace: string;
  /** The canary revision name, e.g. coder-7b-3f9a1c2d4e. */
  revision: string;
  /** Its Service name. */
  service: string;
  /** Epoch ms: the instant measured (Prometheus `time`, the end of a Langfuse window). */
  now: number;
  /** Cancels the measurement; measure then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A measured number, or why there is none. An error is NOT a failed measurement. */
export type Measurement = { ok: true; value: number } | { ok: false; error: string };

/** One metric source. */
export interface AnalysisProvider {
  /**
   * One measurement. Never throws for provider problems (those are `ok: false` with a readable
   * error); rejects only for programming errors and with `context.signal`'s reason on abort.
   */
  measure(metric: AnalysisMetric, context: MeasurementContext): Promise<Measurement>;
}

/** The metric fields that name a source; the CRD allows exactly one per metric. */
export type AnalysisSource = "prometheus" | "experiment" | "langfuse";

/** Controller settings the providers need. */
export interface AnalysisOptions extends PrometheusOptions {
  langfuse?: LangfuseAnalysisOptions;
}

/** One provider per source. */
export type AnalysisProviders = { readonly [S in AnalysisSource]: AnalysisProvider };

/** Builds the provider table once (per controller) from its settings. */
export function analysisProviders(options: AnalysisOptions = {}): AnalysisProviders {
  const { langfuse, ...prometheus } = options;
  return {
    prometheus: prometheusProvider(prometheus),
    experiment: experimentProvider(),
    langfuse: langfuseProvider(langfuse),
  };
}

const sources: readonly AnalysisSource[] = ["prometheus", "experiment", "langfuse"];

/** A metric that names no source, or several (the CRD's validation rejects both first). */
export class AnalysisMetricError extends Error {
  override name = "AnalysisMetricError";
}

/** The source field `metric` sets; AnalysisMetricError unless exactly one is set. */
export function analysisSourceOf(metric: AnalysisMetric): AnalysisSource {
  const set = sources.filter((source) => metric[source] !== undefined);
  const [only] = set;
  if (only === undefined || set.length > 1) {
    throw new AnalysisMetricError(
      `analysis metric ${metric.name}: set exactly one metric source: prometheus, experiment or langfuse` +
        (set.length > 1 ? ` (it sets ${set.join(" and ")})` : ""),
    );
  }
  return only;
}

/** The provider that measures `metric`, from `providers` (see analysisProviders). */
export function analysisProviderFor(
  metric: AnalysisMetric,
  providers: AnalysisProviders,
): AnalysisProvider {
  return providers[analysisSourceOf(metric)];
}

/** One measurement, judged: the value (when there is one), the verdict and a line for Events. */
export interface MetricMeasurement {
  value?: number;
  verdict: Verdict | "Error";
  /** e.g. `error-rate = 0.002 (result < 0.01): Successful`. */
  message: string;
}

/**
 * Measures `metric` with its provider and judges the value against its conditions. Provider
 * problems come back as verdict Error; it rejects only for a metric the CRD would have refused
 * (no source, a malformed condition: AnalysisMetricError, ConditionSyntaxError), for programming
 * errors, and with `context.signal`'s reason on abort.
 */
export async function measureMetric(
  metric: AnalysisMetric,
  context: MeasurementContext,
  providers: AnalysisProviders,
): Promise<MetricMeasurement> {
  // Check the spec before asking anyone: a malformed condition is no reason for a query.
  parseCondition(metric.successCondition);
  if (metric.failureCondition !== undefined) parseCondition(metric.failureCondition);
  const provider = analysisProviderFor(metric, providers);
  const measurement = await provider.measure(metric, context);
  context.signal?.throwIfAborted();
  return judged(metric, measurement);
}

/** The verdict and Event line for a measurement `metric` got. Pure. */
export function judged(metric: AnalysisMetric, measurement: Measurement): MetricMeasurement {
  if (!measurement.ok) {
    return { verdict: "Error", message: `${metric.name}: ${measurement.error}: Error` };
  }
  const { value } = measurement;
  if (!Number.isFinite(value)) {
    // A provider that let NaN through: still an error, never a verdict.
    return { verdict: "Error", message: `${metric.name}: the result is ${value}: Error` };
  }
  const verdict = judgeMeasurement(metric, value);
  const conditions =
    metric.failureCondition === undefined
      ? metric.successCondition
      : `success: ${metric.successCondition}, failure: ${metric.failureCondition}`;
  return {
    value,
    verdict,
    message: `${metric.name} = ${formatValue(value)} (${conditions}): ${verdict}`,
  };
}

/** At most 6 significant digits, without a trailing exponent for ordinary ratios. */
export function formatValue(value: number): string {
  return String(Number(value.toPrecision(6)));
}
