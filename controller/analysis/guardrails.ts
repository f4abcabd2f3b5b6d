// Guardrails are non-inferiority checks: the candidate may be better on the primary metric only if
// it is not worse than the control by more than a margin on latency, cost or another metric. The
// burden of proof is on the candidate: too little data means the guardrail does not hold.
import { mean, percentile } from "./descriptive.js";
import { pairedTTest, welchTTest } from "./hypothesis-tests.js";
import { pairByKey, present, type Observation } from "./observations.js";

/** What a guardrail measures: latency percentiles or means, mean cost, or a secondary metric. */
export type GuardrailMetric =
  "latencyP50" | "latencyP95" | "latencyMean" | "costMean" | `metric:${string}`;

/** A non-inferiority margin on one metric. Give `absoluteMargin` or `relativeMargin` (or neither: 0). */
export interface Guardrail {
  metric: GuardrailMetric;
  /** Latency and cost are better when lower (the default); set true for scores. */
  higherIsBetter?: boolean;
  /** Allowed degradation in the metric's own unit (ms, USD, score points). */
  absoluteMargin?: number;
  /** Allowed degradation as a fraction of the control's value: 0.1 = 10% worse. */
  relativeMargin?: number;
}

/** How a guardrail was decided. */
export type GuardrailMethod =
  "point-estimate" | "welch-t-confidence-bound" | "paired-t-confidence-bound" | "insufficient-data";

/** The verdict on one guardrail for one candidate. */
export interface GuardrailResult {
  metric: GuardrailMetric;
  holds: boolean;
  method: GuardrailMethod;
  control: number;
  candidate: number;
  /** candidate − control, in the metric's unit. */
  delta: number;
  /** The allowed degradation in the metric's unit (always ≥ 0). */
  margin: number;
  /**
   * For mean metrics, the one-sided (1 − α) confidence bound on the degradation that was compared
   * with the margin; for percentiles the point estimate of the degradation.
   */
  bound: number;
}

/** Options for `checkGuardrail`. */
export interface GuardrailOptions {
  /** One-sided level of the non-inferiority test; default 0.05. */
  alpha?: number;
  /** Match rows by key and use a paired t bound (only for mean metrics). */
  paired?: boolean;
}

function pickerFor(metric: GuardrailMetric): (o: Observation) => number | null {
  switch (metric) {
    case "latencyP50":
    case "latencyP95":
    case "latencyMean":
      return (o) => o.latencyMs;
    case "costMean":
      return (o) => o.costUSD;
    default: {
      const name = metric.slice("metric:".length);
      return (o) => o.metrics?.[name] ?? null;
    }
  }
}

/**
 * Checks that the candidate is not worse than the control by more than the margin. Percentiles
 * compare point estimates (a percentile difference has no cheap exact interval, and a seeded
 * bootstrap would make status depend on a random stream); means require the one-sided (1 − α)
 * t confidence bound of the degradation to stay within the margin.
 */
export function checkGuardrail(
  guardrail: Guardrail,
  candidate: readonly Observation[],
  control: readonly Observation[],
  options: GuardrailOptions = {},
): GuardrailResult {
  const alpha = options.alpha ?? 0.05;
  const pick = pickerFor(guardrail.metric);
  const candValues = present(candidate, pick);
  const ctrlValues = present(control, pick);
  // Degradation is measured in the "worse" direction so one comparison serves both kinds.
  const sign = guardrail.higherIsBetter === true ? -1 : 1;
  const isPercentile = guardrail.metric === "latencyP50" || guardrail.metric === "latencyP95";
  const q = guardrail.metric === "latencyP50" ? 50 : 95;
  const ctrl = isPercentile ? percentile(ctrlValues, q) : mean(ctrlValues);
  const cand = isPercentile ? percentile(candValues, q) : mean(candValues);
  const margin = Math.abs(
    guardrail.absoluteMargin ?? (guardrail.relativeMargin ?? 0) * Math.abs(ctrl),
  );
  const base = {
    metric: guardrail.metric,
    control: ctrl,
    candidate: cand,
    delta: cand - ctrl,
    margin,
  };

  if (isPercentile) {
    if (candValues.length === 0 || ctrlValues.length === 0) {
      return { ...base, holds: false, method: "insufficient-data", bound: Number.NaN };
    }
    const bound = sign * (cand - ctrl);
    return { ...base, holds: bound <= margin, method: "point-estimate", bound };
  }

  // A two-sided interval at 1 − 2α has the one-sided 1 − α bound as its worse end.
  const level = 1 - 2 * alpha;
  const pairedValues = options.paired === true ? pairByKey(candidate, control, pick) : undefined;
  const n = pairedValues
    ? pairedValues.control.length
    : Math.min(candValues.length, ctrlValues.length);
  if (n < 2) return { ...base, holds: false, method: "insufficient-data", bound: Number.NaN };
  const test = pairedValues
    ? pairedTTest(pairedValues.candidate, pairedValues.control, { level })
    : welchTTest(candValues, ctrlValues, { level });
  const bound = sign === 1 ? test.ci.upper : -test.ci.lower;
  return {
    ...base,
    holds: bound <= margin,
    method: pairedValues ? "paired-t-confidence-bound" : "welch-t-confidence-bound",
    bound,
  };
}
