// From per-variant rows to what goes into Experiment status: per-variant summaries, one test per
// candidate against the control (Holm-corrected), guardrails, the winner and a sentence a person
// can act on.
import {
  mean,
  percentile,
  summarizeMean,
  summarizeProportion,
  type MeanSummary,
  type ProportionSummary,
} from "./descriptive.js";
import { checkGuardrail, type Guardrail, type GuardrailResult } from "./guardrails.js";
import {
  holmAdjust,
  mcnemarTest,
  pairedTTest,
  twoProportionZTest,
  welchTTest,
  type TestResult,
} from "./hypothesis-tests.js";
import {
  hasUniqueKeys,
  pairByKey,
  present,
  sharedKeyCount,
  type Observation,
  type VariantObservations,
} from "./observations.js";
import { sampleSizeTwoMeans, sampleSizeTwoProportions } from "./sample-size.js";

/** How the primary metric is analysed. */
export interface PrimaryMetric {
  /** Name used in the recommendation, e.g. "correctness". */
  name: string;
  /** `proportion`: pass/fail from `passed`; `mean`: continuous `score`. */
  kind: "proportion" | "mean";
}

/** What `decideWinner` needs besides the data; mirrors `spec.analysis`. */
export interface AnalysisConfig {
  /** Name of the control variant. */
  control: string;
  primary: PrimaryMetric;
  /** Family-wise significance level across candidates (Holm); default 0.05. */
  alpha?: number;
  /** Power used for the required sample size; default 0.8. */
  power?: number;
  /** No winner is declared while a compared variant has fewer scored units; default 2. */
  minimumSamples?: number;
  /**
   * Smallest improvement worth detecting, in the metric's unit (a fraction for proportions: 0.05 =
   * 5 pts). Used for the required sample size; without it the observed difference is used.
   */
  minimumDetectableEffect?: number;
  /** `auto` (default) pairs when the variants share unit keys, as offline experiments do. */
  design?: "auto" | "paired" | "unpaired";
  guardrails?: readonly Guardrail[];
}

/** Per-variant figures for status. */
export interface VariantSummary {
  name: string;
  /** Rows recorded, scored or not. */
  units: number;
  /** Rows whose primary metric could not be scored (e.g. judge failures); excluded below. */
  unscored: number;
  /** Mean, sample SD and t interval of `score`, when any row has one. */
  score: MeanSummary | null;
  /** Pass rate with Wilson interval, when any row has a pass/fail. */
  passRate: ProportionSummary | null;
  /** Latency in ms (numpy-default linear percentiles). */
  latency: { p50: number; p95: number; mean: number } | null;
  /** Cost in USD over rows with a known price. */
  cost: { total: number; mean: number } | null;
}

/** One candidate against the control. */
export interface Comparison {
  variant: string;
  control: string;
  paired: boolean;
  /** Units that entered the test: pairs when paired, else the smaller group. */
  n: number;
  result: TestResult;
  /** Holm-adjusted p-value across all candidates. */
  adjustedPValue: number;
  /** adjusted p ≤ α. */
  significant: boolean;
  guardrails: GuardrailResult[];
  guardrailsHold: boolean;
  /** Units per variant needed to detect the minimum effect (or the observed one) at α / m. */
  requiredSampleSize: number | null;
}

/** Why there is, or is not, a winner. */
export type Decision =
  | "candidate-wins"
  | "control-wins"
  | "guardrail-failed"
  | "no-significant-difference"
  | "insufficient-data";

/** Everything the Experiment status needs from the analysis. */
export interface ExperimentDecision {
  variants: VariantSummary[];
  comparisons: Comparison[];
  decision: Decision;
  /** The winning variant, or null when nothing was shown to be better. */
  winner: string | null;
  recommendation: string;
}

/** n, mean, CIs, latency and cost of one variant. */
export function summarizeVariant(variant: VariantObservations): VariantSummary {
  const rows = variant.observations;
  const scores = present(rows, (o) => o.score);
  const passes = present(rows, (o) => o.passed);
  const latencies = present(rows, (o) => o.latencyMs);
  const costs = present(rows, (o) => o.costUSD);
  const unscored = rows.filter((o) => o.score === null && o.passed === null).length;
  const total = costs.reduce((a, b) => a + b, 0);
  return {
    name: variant.name,
    units: rows.length,
    unscored,
    score: scores.length > 0 ? summarizeMean(scores) : null,
    passRate: passes.length > 0 ? summarizeProportion(passes) : null,
    latency:
      latencies.length > 0
        ? { p50: percentile(latencies, 50), p95: percentile(latencies, 95), mean: mean(latencies) }
        : null,
    cost: costs.length > 0 ? { total, mean: total / costs.length } : null,
  };
}

function usePairs(
  design: AnalysisConfig["design"],
  candidate: readonly Observation[],
  control: readonly Observation[],
): boolean {
  if (design === "unpaired") return false;
  const unique = hasUniqueKeys(candidate) && hasUniqueKeys(control);
  if (design === "paired") {
    if (!unique) throw new RangeError("analysis.design is paired but a variant repeats a unit key");
    return true;
  }
  return unique && sharedKeyCount(candidate, control) >= 2;
}

function testPrimary(
  primary: PrimaryMetric,
  paired: boolean,
  candidate: readonly Observation[],
  control: readonly Observation[],
): { result: TestResult; n: number } | null {
  if (primary.kind === "proportion") {
    const pick = (o: Observation): boolean | null => o.passed;
    if (paired) {
      const p = pairByKey(candidate, control, pick);
      if (p.control.length < 2) return null;
      return { result: mcnemarTest(p.candidate, p.control), n: p.control.length };
    }
    const a = present(candidate, pick);
    const b = present(control, pick);
    if (a.length < 2 || b.length < 2) return null;
    const count = (xs: boolean[]): { passed: number; n: number } => ({
      passed: xs.filter(Boolean).length,
      n: xs.length,
    });
    return { result: twoProportionZTest(count(a), count(b)), n: Math.min(a.length, b.length) };
  }
  const pick = (o: Observation): number | null => o.score;
  if (paired) {
    const p = pairByKey(candidate, control, pick);
    if (p.control.length < 2) return null;
    return { result: pairedTTest(p.candidate, p.control), n: p.control.length };
  }
  const a = present(candidate, pick);
  const b = present(control, pick);
  if (a.length < 2 || b.length < 2) return null;
  return { result: welchTTest(a, b), n: Math.min(a.length, b.length) };
}

function requiredSampleSize(
  config: AnalysisConfig,
  alpha: number,
  candidate: VariantSummary,
  control: VariantSummary,
  observedDelta: number,
): number | null {
  const effect = Math.abs(config.minimumDetectableEffect ?? observedDelta);
  if (!(effect > 0)) return null;
  const options = { alpha, power: config.power ?? 0.8 };
  if (config.primary.kind === "proportion") {
    const base = control.passRate?.rate;
    if (base === undefined || Number.isNaN(base)) return null;
    // Plan for an improvement unless there is no room above the baseline.
    const signed = base + effect <= 1 ? effect : -effect;
    if (base + signed < 0) return null;
    return sampleSizeTwoProportions(base, signed, options);
  }
  const s1 = candidate.score?.standardDeviation ?? Number.NaN;
  const s2 = control.score?.standardDeviation ?? Number.NaN;
  const pooled = Math.sqrt((s1 * s1 + s2 * s2) / 2);
  if (Number.isNaN(pooled)) return null;
  return sampleSizeTwoMeans(pooled, effect, options);
}

/**
 * Summarises every variant, tests each candidate against the control on the primary metric
 * (paired t or McNemar when units are shared, else Welch t or the two-proportion z-test), applies
 * Holm across candidates and the guardrails, and picks the winner: the significantly better
 * candidate with the largest improvement whose guardrails hold.
 */
export function decideWinner(
  variants: readonly VariantObservations[],
  config: AnalysisConfig,
): ExperimentDecision {
  const alpha = config.alpha ?? 0.05;
  const minimumSamples = Math.max(2, config.minimumSamples ?? 2);
  const controlData = variants.find((v) => v.name === config.control);
  if (controlData === undefined) {
    throw new RangeError(
      `analysis.control names variant "${config.control}", which does not exist`,
    );
  }
  const summaries = variants.map(summarizeVariant);
  const summaryOf = (name: string): VariantSummary =>
    summaries.find((s) => s.name === name) ?? summarizeVariant({ name, observations: [] });
  const controlSummary = summaryOf(config.control);
  const candidates = variants.filter((v) => v.name !== config.control);
  const m = Math.max(1, candidates.length);

  const tested = candidates.map((cand) => {
    const paired = usePairs(config.design, cand.observations, controlData.observations);
    return {
      cand,
      paired,
      outcome: testPrimary(config.primary, paired, cand.observations, controlData.observations),
    };
  });
  const adjusted = holmAdjust(tested.map((t) => t.outcome?.result.pValue ?? 1));

  const comparisons: Comparison[] = [];
  tested.forEach(({ cand, paired, outcome }, i) => {
    const guardrails = (config.guardrails ?? []).map((g) =>
      checkGuardrail(g, cand.observations, controlData.observations, { alpha, paired }),
    );
    const result: TestResult = outcome?.result ?? {
      test:
        config.primary.kind === "proportion"
          ? paired
            ? "mcnemar-exact"
            : "two-proportion-z"
          : paired
            ? "paired-t"
            : "welch-t",
      statistic: Number.NaN,
      pValue: 1,
      delta: Number.NaN,
      ci: { lower: Number.NaN, upper: Number.NaN, level: 0.95 },
    };
    const adjustedPValue = adjusted[i] ?? 1;
    comparisons.push({
      variant: cand.name,
      control: config.control,
      paired,
      n: outcome?.n ?? 0,
      result,
      adjustedPValue,
      significant: outcome !== null && adjustedPValue <= alpha,
      guardrails,
      guardrailsHold: guardrails.every((g) => g.holds),
      requiredSampleSize: requiredSampleSize(
        config,
        alpha / m,
        summaryOf(cand.name),
        controlSummary,
        Number.isNaN(result.delta) ? 0 : result.delta,
      ),
    });
  });

  const enough = (c: Comparison): boolean => c.n >= minimumSamples;
  const better = comparisons.filter((c) => enough(c) && c.significant && c.result.delta > 0);
  const winners = better
    .filter((c) => c.guardrailsHold)
    .sort(
      (a, b) =>
        b.result.delta - a.result.delta ||
        a.adjustedPValue - b.adjustedPValue ||
        a.variant.localeCompare(b.variant),
    );

  let decision: Decision;
  let winner: string | null = null;
  if (winners[0] !== undefined) {
    decision = "candidate-wins";
    winner = winners[0].variant;
  } else if (better.length > 0) {
    decision = "guardrail-failed";
  } else if (
    comparisons.length > 0 &&
    comparisons.every((c) => enough(c) && c.significant && c.result.delta < 0)
  ) {
    decision = "control-wins";
    winner = config.control;
  } else if (comparisons.length === 0 || comparisons.some((c) => !enough(c))) {
    decision = "insufficient-data";
  } else {
    decision = "no-significant-difference";
  }

  const partial = { variants: summaries, comparisons, decision, winner };
  return { ...partial, recommendation: recommend(partial, config) };
}

/** p-values as people read them: "< 0.001", else three decimals without trailing zeros. */
export function formatPValue(p: number): string {
  if (Number.isNaN(p)) return "n/a";
  if (p < 0.001) return "< 0.001";
  return `= ${String(Number(p.toFixed(3)))}`;
}

/** A signed difference in the metric's unit: "+8.1 pts" for proportions, "+0.123" for means. */
export function formatDelta(delta: number, kind: PrimaryMetric["kind"]): string {
  const sign = delta > 0 ? "+" : delta < 0 ? "−" : "±";
  const magnitude = Math.abs(delta);
  if (kind === "proportion") return `${sign}${(magnitude * 100).toFixed(1)} pts`;
  return `${sign}${String(Number(magnitude.toPrecision(3)))}`;
}

function formatMetricValue(metric: string, value: number): string {
  if (metric.startsWith("latency")) return `${String(Math.round(value))} ms`;
  if (metric === "costMean") return `$${value.toPrecision(3)}`;
  return String(Number(value.toPrecision(3)));
}

function describeFailedGuardrails(c: Comparison): string {
  return c.guardrails
    .filter((g) => !g.holds)
    .map((g) =>
      g.method === "insufficient-data"
        ? `${g.metric} has too little data to show non-inferiority`
        : `${g.metric} ${formatMetricValue(g.metric, g.candidate)} vs ${formatMetricValue(g.metric, g.control)} exceeds the margin of ${formatMetricValue(g.metric, g.margin)}`,
    )
    .join("; ");
}

/**
 * The sentence for `status.recommendation`, e.g. "candidate beats control on correctness by
 * +8.1 pts, p = 0.003, guardrails hold" or "no significant difference with n = 40; need ≈ 310
 * items per variant".
 */
export function recommend(
  decision: Omit<ExperimentDecision, "recommendation">,
  config: AnalysisConfig,
): string {
  const { comparisons } = decision;
  const metric = config.primary.name;
  const kind = config.primary.kind;
  const holm = comparisons.length > 1 ? " (Holm-adjusted)" : "";
  const byStrength = [...comparisons].sort((a, b) => a.adjustedPValue - b.adjustedPValue);
  const strongest = byStrength[0];
  const minimumSamples = Math.max(2, config.minimumSamples ?? 2);

  switch (decision.decision) {
    case "candidate-wins": {
      const c = comparisons.find((x) => x.variant === decision.winner);
      if (c === undefined) return `${String(decision.winner)} wins`;
      const guard = c.guardrails.length > 0 ? "guardrails hold" : "no guardrails configured";
      return `${c.variant} beats ${c.control} on ${metric} by ${formatDelta(c.result.delta, kind)}, p ${formatPValue(c.adjustedPValue)}${holm}, ${guard}`;
    }
    case "guardrail-failed": {
      const c = byStrength.find((x) => x.significant && x.result.delta > 0 && !x.guardrailsHold);
      if (c === undefined) return "a candidate is better but fails a guardrail; keep the control";
      return `${c.variant} beats ${c.control} on ${metric} by ${formatDelta(c.result.delta, kind)}, p ${formatPValue(c.adjustedPValue)}${holm}, but fails a guardrail: ${describeFailedGuardrails(c)}; keep ${c.control}`;
    }
    case "control-wins": {
      const parts = comparisons.map(
        (c) =>
          `${c.variant} ${formatDelta(c.result.delta, kind)}, p ${formatPValue(c.adjustedPValue)}`,
      );
      return `${config.control} beats every candidate on ${metric} (${parts.join("; ")})${holm}; keep ${config.control}`;
    }
    case "insufficient-data": {
      if (strongest === undefined) return "no candidate variant to compare with the control";
      const smallest = Math.min(...comparisons.map((c) => c.n));
      return `not enough data yet: n = ${smallest}, at least ${minimumSamples} per variant are needed before deciding`;
    }
    case "no-significant-difference": {
      if (strongest === undefined) return "no candidate variant to compare with the control";
      const n = Math.min(...comparisons.map((c) => c.n));
      const best = `best: ${strongest.variant} ${formatDelta(strongest.result.delta, kind)}, p ${formatPValue(strongest.adjustedPValue)}${holm}`;
      const need = strongest.requiredSampleSize;
      if (need === null || !Number.isFinite(need)) {
        return `no significant difference with n = ${n} (${best})`;
      }
      const effect = config.minimumDetectableEffect ?? Math.abs(strongest.result.delta);
      return `no significant difference with n = ${n} (${best}); need ≈ ${need} items per variant to detect ${formatDelta(effect, kind)}`;
    }
  }
}
