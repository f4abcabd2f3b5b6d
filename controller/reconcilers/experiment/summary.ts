// The statistics summary of a run: its primary metric, per-variant results (n, mean, 95% CI,
// pass rate, latency, cost) and the comparisons against the control, through controller/analysis.
// Pure.
import {
  decideWinner,
  summarizeMean,
  summarizeProportion,
  type AnalysisConfig,
  type ExperimentDecision,
  type Observation,
  type PrimaryMetric,
  type VariantObservations,
} from "../../analysis/index.js";
import type {
  ExperimentEvaluator,
  ExperimentSpec,
  ExperimentStatusComparison,
  ExperimentStatusResult,
  ExperimentStatusResultMetric,
} from "../../api/generated/index.js";
import type { ResultRecord } from "./results.js";
import { round } from "./work.js";

const proportionTypes = new Set<ExperimentEvaluator["type"]>([
  "exactMatch",
  "contains",
  "regex",
  "jsonSchema",
  "numeric",
]);

/** The metric that decides the winner: spec.analysis.primaryMetric, else the first evaluator. */
export function primaryMetricOf(spec: ExperimentSpec): PrimaryMetric {
  const name = spec.analysis?.primaryMetric ?? spec.evaluators[0]?.name ?? "";
  const evaluator = spec.evaluators.find((e) => e.name === name);
  const thresholded =
    (evaluator?.type === "latency" && evaluator.latency?.maxMs !== undefined) ||
    (evaluator?.type === "cost" && evaluator.cost?.maxUSD !== undefined);
  return {
    name,
    kind:
      evaluator !== undefined && (proportionTypes.has(evaluator.type) || thresholded)
        ? "proportion"
        : "mean",
  };
}

/** spec.analysis as controller/analysis takes it. */
export function analysisConfigOf(spec: ExperimentSpec, control: string): AnalysisConfig {
  const analysis = spec.analysis;
  return {
    control,
    primary: primaryMetricOf(spec),
    alpha: analysis?.alpha ?? 0.05,
    minimumSamples: analysis?.minSamples ?? 30,
    design: analysis?.design ?? "auto",
    guardrails: (analysis?.guardrails ?? []).map((g) => ({
      metric: `metric:${g.metric}` as const,
      higherIsBetter: g.direction !== "lowerIsBetter",
      absoluteMargin: g.maxDegradation,
    })),
  };
}

/** Scored rows per variant, keyed `item#repetition` so that variants pair up. */
export function observationsOf(
  records: readonly ResultRecord[],
  variants: readonly string[],
  spec: ExperimentSpec,
): VariantObservations[] {
  const primary = primaryMetricOf(spec).name;
  const flip = spec.analysis?.direction === "lowerIsBetter" ? -1 : 1;
  return variants.map((name) => ({
    name,
    observations: records
      .filter((r) => r.variant === name && r.error === undefined)
      .sort((a, b) => a.key.localeCompare(b.key))
      .map((r): Observation => {
        const score = r.scores[primary];
        const metrics: Record<string, number | null> = {};
        for (const [metric, s] of Object.entries(r.scores)) metrics[metric] = s.score;
        return {
          key: `${r.item}#${String(r.repetition)}`,
          score: score?.score === null || score?.score === undefined ? null : flip * score.score,
          passed: score?.passed ?? null,
          latencyMs: r.latencyMs,
          costUSD: r.costUSD,
          metrics,
        };
      }),
  }));
}

function finite(value: number, digits = 6): number | undefined {
  return Number.isFinite(value) ? round(value, digits) : undefined;
}

function metricSummary(
  name: string,
  records: readonly ResultRecord[],
): ExperimentStatusResultMetric {
  const scores = records.map((r) => r.scores[name]?.score).filter((s) => typeof s === "number");
  const passes = records.map((r) => r.scores[name]?.passed).filter((p) => typeof p === "boolean");
  const metric: ExperimentStatusResultMetric = { name };
  if (passes.length > 0 && passes.length === scores.length) {
    const p = summarizeProportion(passes);
    metric.mean = finite(p.rate);
    metric.passRate = finite(p.rate);
    metric.ciLow = finite(p.ci.lower);
    metric.ciHigh = finite(p.ci.upper);
  } else if (scores.length > 0) {
    const m = summarizeMean(scores);
    metric.mean = finite(m.mean);
    metric.ciLow = finite(m.ci.lower);
    metric.ciHigh = finite(m.ci.upper);
    if (passes.length > 0) metric.passRate = finite(summarizeProportion(passes).rate);
  }
  return Object.fromEntries(
    Object.entries(metric).filter(([, v]) => v !== undefined),
  ) as unknown as ExperimentStatusResultMetric;
}

/** Per-variant results for status: n, each evaluator's mean / CI / pass rate, latency and cost. */
export function variantResults(
  records: readonly ResultRecord[],
  variants: readonly { name: string; promptVersion: number; revision?: string }[],
  decision: ExperimentDecision,
  evaluators: readonly ExperimentEvaluator[],
): ExperimentStatusResult[] {
  return variants.map((v) => {
    const rows = records.filter((r) => r.variant === v.name && r.error === undefined);
    const summary = decision.variants.find((s) => s.name === v.name);
    const result: ExperimentStatusResult = {
      variant: v.name,
      promptVersion: v.promptVersion,
      ...(v.revision !== undefined ? { revision: v.revision } : {}),
      n: rows.length,
      metrics: evaluators.map((e) => metricSummary(e.name, rows)),
    };
    if (summary?.latency) {
      result.latencyP50Ms = round(summary.latency.p50, 3);
      result.latencyP95Ms = round(summary.latency.p95, 3);
    }
    if (summary?.cost) result.costUSD = round(summary.cost.total, 6);
    return result;
  });
}

/** Candidate-vs-control comparisons for status (Holm-adjusted p-values). */
export function comparisonsOf(
  decision: ExperimentDecision,
  metric: string,
): ExperimentStatusComparison[] {
  return decision.comparisons.map((c) => {
    const out: ExperimentStatusComparison = {
      variant: c.variant,
      metric,
      test: c.result.test,
      significant: c.significant,
    };
    const delta = finite(c.result.delta);
    const pValue = finite(c.adjustedPValue, 8);
    if (delta !== undefined) out.delta = delta;
    if (pValue !== undefined) out.pValue = pValue;
    return out;
  });
}

/** Runs the analysis on `records`. */
export function analyze(
  spec: ExperimentSpec,
  records: readonly ResultRecord[],
  variants: readonly string[],
  control: string,
): ExperimentDecision {
  return decideWinner(observationsOf(records, variants, spec), analysisConfigOf(spec, control));
}
