// What one reconcile of an online A/B Experiment (spec.traffic) decides, from the run observe
// found (variants resolved to Prompt versions, the counts in the run's head ConfigMap). Pure.
//
//   a new run (weights, salt, variants or their versions changed) → status.online names it, the
//     counts start from zero, and what earlier runs kept is deleted
//   exposures that do not match the weights (chi-square SRM)      → no decision: Reconciling with
//     reason SampleRatioMismatch and a Warning
//   fewer than minSamples outcomes of the primary metric in a variant → keep collecting
//   a candidate better than the control by the always-valid mSPRT p ≤ alpha (Holm across
//     candidates), guardrails shown to hold                        → Completed, winner: promotion
//   the control better than every candidate                        → Completed, winner: control
//   a better candidate that is shown to break a guardrail          → Completed, no winner
//   otherwise                                                      → keep collecting, look again
//
// The decision is taken at the first look where the test rejects, and the run is then finished,
// so the p-value reported at that look, min(1, 1/Λ), is the always-valid one: the decision can
// be recomputed from the counts in status alone (sequential.ts says how).
import {
  defaultEffectSize,
  defaultSrmAlpha,
  formatDelta,
  formatPValue,
  holmAdjust,
  momentsTInterval,
  momentsWilsonInterval,
  msprt,
  sampleRatioMismatch,
  type SequentialResult,
} from "../../analysis/index.js";
import type {
  Experiment,
  ExperimentStatus,
  ExperimentStatusComparison,
  ExperimentStatusOnline,
  ExperimentStatusResult,
  ExperimentStatusResultMetric,
} from "../../api/generated/index.js";
import type { StoredObject } from "../../kube/resources.js";
import { isBinaryMetric } from "../../online/metrics.js";
import { metricMoments, type RunState } from "../../online/state.js";
import type { OutcomeEvent } from "../../online/store.js";
import type { Plan, ReconcileStep } from "../../runtime/object-reconciler.js";
import type { ExperimentActions } from "./observed.js";
import { round } from "./work.js";

/** A variant of the run, resolved to the Prompt version it serves. */
export interface OnlineVariant {
  name: string;
  control: boolean;
  prompt: string;
  promptVersion: number;
  model?: string;
}

/** What observe read for an online Experiment. */
export interface ObservedOnline {
  variants: OnlineVariant[];
  runId: string;
  /** When this run started: kept from status while the runId stays, else now. */
  startedAt: string;
  /** The counts stored for this run (undefined before the first exposure). */
  state: RunState | undefined;
  /** Outcomes read from Langfuse since the run's cursor, to be counted by act. */
  langfuse?: { events: OutcomeEvent[]; cursor: string };
  /** Why spec.traffic.langfuse could not be read this time. */
  langfuseError?: string;
}

type Step = ReconcileStep<ExperimentStatus>;
type OnlinePlan = Plan<ExperimentStatus, ExperimentActions>;

function finite(value: number, digits = 6): number | undefined {
  return Number.isFinite(value) ? round(value, digits) : undefined;
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The guardrail verdict on a confidence sequence for candidate − control. */
type GuardrailVerdict = "holds" | "violated" | "undecided";

function guardrailVerdict(
  result: SequentialResult,
  higherIsBetter: boolean,
  margin: number,
): GuardrailVerdict {
  // Degradation = how much worse the candidate is, in the metric's unit.
  const worst = higherIsBetter ? -result.ci.lower : result.ci.upper;
  const best = higherIsBetter ? -result.ci.upper : result.ci.lower;
  if (worst <= margin) return "holds";
  if (best > margin) return "violated";
  return "undecided";
}

export function planOnline(input: {
  object: StoredObject<Experiment>;
  observed: ObservedOnline;
  now: string;
}): OnlinePlan {
  const { object: experiment, observed, now } = input;
  const spec = experiment.spec;
  const previous = experiment.status ?? {};
  const traffic = spec.traffic ?? { weights: [] };
  const analysis = spec.analysis;
  const alpha = analysis?.alpha ?? 0.05;
  const effectSize = analysis?.sequential?.effectSize ?? defaultEffectSize;
  const srmAlpha = analysis?.sequential?.srmAlpha ?? defaultSrmAlpha;
  const minSamples = analysis?.minSamples ?? 30;
  const primaryName = analysis?.primaryMetric ?? spec.evaluators[0]?.name ?? "";
  const primary = spec.evaluators.find((e) => e.name === primaryName);
  const kind = isBinaryMetric(primary) ? "proportion" : "mean";
  const lowerIsBetter = analysis?.direction === "lowerIsBetter";
  // Counts of another run do not apply to this one.
  const state = observed.state?.runId === observed.runId ? observed.state : undefined;
  const newRun = previous.online?.runId !== observed.runId;
  const control = observed.variants.find((v) => v.control) ?? observed.variants[0];
  const controlName = control?.name ?? "";

  const exposuresOf = (variant: string): number => state?.variants[variant]?.exposures ?? 0;
  const srm = sampleRatioMismatch(
    traffic.weights.map((w) => ({
      variant: w.variant,
      observed: exposuresOf(w.variant),
      weight: w.weight,
    })),
    srmAlpha,
  );

  const results: ExperimentStatusResult[] = observed.variants.map((v) => {
    const metrics = spec.evaluators.map((e): ExperimentStatusResultMetric => {
      const m = state ? metricMoments(state, v.name, e.name) : { n: 0, mean: 0, m2: 0 };
      if (m.n === 0) return { name: e.name, n: 0 };
      const binary = isBinaryMetric(e);
      const ci = binary ? momentsWilsonInterval(m) : momentsTInterval(m);
      return defined({
        name: e.name,
        n: m.n,
        mean: finite(m.mean),
        ciLow: finite(ci.lower),
        ciHigh: finite(ci.upper),
        passRate: binary ? finite(m.mean) : undefined,
      });
    });
    return {
      variant: v.name,
      promptVersion: v.promptVersion,
      n: state ? metricMoments(state, v.name, primaryName).n : 0,
      exposures: exposuresOf(v.name),
      metrics,
    };
  });

  const controlMoments = state ? metricMoments(state, controlName, primaryName) : undefined;
  const candidates = observed.variants.filter((v) => v.name !== controlName);
  const tests = candidates.map((v) => {
    const m = state ? metricMoments(state, v.name, primaryName) : { n: 0, mean: 0, m2: 0 };
    return {
      variant: v.name,
      n: Math.min(m.n, controlMoments?.n ?? 0),
      result: msprt(m, controlMoments ?? { n: 0, mean: 0, m2: 0 }, { alpha, effectSize }),
    };
  });
  const adjusted = holmAdjust(tests.map((t) => t.result.pValue));
  const guardrails = analysis?.guardrails ?? [];
  const compared = tests.map((t, i) => {
    const p = adjusted[i] ?? 1;
    const better = lowerIsBetter ? t.result.delta < 0 : t.result.delta > 0;
    const enough = t.n >= minSamples;
    const significant = enough && p <= alpha;
    const verdicts = guardrails.map((g) =>
      guardrailVerdict(
        msprt(
          state ? metricMoments(state, t.variant, g.metric) : { n: 0, mean: 0, m2: 0 },
          state ? metricMoments(state, controlName, g.metric) : { n: 0, mean: 0, m2: 0 },
          { alpha, effectSize },
        ),
        g.direction !== "lowerIsBetter",
        g.maxDegradation,
      ),
    );
    return { ...t, p, better, enough, significant, verdicts };
  });
  const comparisons: ExperimentStatusComparison[] = compared.map((c) =>
    defined({
      variant: c.variant,
      metric: primaryName,
      test: "msprt",
      delta: finite(c.result.delta),
      pValue: finite(c.p, 8),
      significant: c.significant,
      ciLow: finite(c.result.ci.lower),
      ciHigh: finite(c.result.ci.upper),
    }),
  );

  const online: ExperimentStatusOnline = {
    runId: observed.runId,
    startedAt: observed.startedAt,
    salt: traffic.salt ?? "",
    weights: traffic.weights.map((w) => ({ variant: w.variant, weight: w.weight })),
    variants: observed.variants.map((v) => ({
      name: v.name,
      prompt: v.prompt,
      promptVersion: v.promptVersion,
      ...(v.model !== undefined ? { model: v.model } : {}),
    })),
    exposures: observed.variants.reduce((sum, v) => sum + exposuresOf(v.name), 0),
    outcomes: state?.outcomes ?? 0,
    srm: defined({
      chiSquare: finite(srm.chiSquare),
      df: srm.df,
      pValue: finite(srm.pValue, 8),
      mismatch: srm.mismatch,
    }),
  };
  const running: ExperimentStatus = {
    ...previous,
    phase: "Running",
    startedAt: newRun ? observed.startedAt : (previous.startedAt ?? observed.startedAt),
    online,
    results,
    comparisons,
  };
  delete running.winner;
  delete running.completedAt;
  delete running.promotion;
  delete running.dataset;
  delete running.progress;

  const fmt = (c: (typeof compared)[number]): string =>
    `${c.variant} ${formatDelta(c.result.delta, kind)}, always-valid p ${formatPValue(c.p)}`;
  const actions = (then: ExperimentActions["then"]): ExperimentActions => ({
    deleteStale: [],
    recovered: [],
    clearJournal: false,
    then,
  });
  // spec.traffic.langfuse: whether its scores are being read.
  const conditions: NonNullable<Step["conditions"]> =
    spec.traffic?.langfuse === undefined
      ? []
      : [
          observed.langfuseError === undefined
            ? {
                type: "LangfuseOutcomes",
                status: "True",
                reason: "Read",
                message: `scores on traces tagged llmops:${experiment.metadata.namespace ?? ""}/${experiment.metadata.name}/<variant> are counted as outcomes`,
              }
            : {
                type: "LangfuseOutcomes",
                status: "False",
                reason: "ReadFailed",
                message: `outcomes could not be read from Langfuse: ${observed.langfuseError}; the outcomes reported through the API are still counted`,
              },
        ];
  const collect = {
    kind: "online" as const,
    prune: newRun,
    report: (observed.langfuse?.events.length ?? 0) > 0,
  };
  const keepCollecting = (
    reason: string,
    message: string,
    events: Step["events"] = [],
  ): OnlinePlan => ({
    actions: actions(collect),
    step: {
      status: { ...running, recommendation: message },
      outcome: { state: "Progressing", reason, message },
      events,
      ...(conditions.length > 0 ? { conditions } : {}),
    },
  });

  if (srm.mismatch) {
    const counts = traffic.weights
      .map(
        (w, i) =>
          `${w.variant} ${String(exposuresOf(w.variant))} (expected ${String(Math.round(srm.expected[i] ?? 0))})`,
      )
      .join(", ");
    const message = `sample ratio mismatch: exposures ${counts} do not match the weights (chi-square ${String(round(srm.chiSquare, 2))}, p ${formatPValue(srm.pValue)} < ${String(srmAlpha)}); no decision while it lasts. Units are being lost or assigned outside the API for one variant: fix the application, then change spec.traffic.salt to start a new run`;
    const events: Step["events"] =
      previous.online?.srm?.mismatch === true && !newRun
        ? []
        : [{ type: "Warning", reason: "SampleRatioMismatch", action: "Analyze", note: message }];
    return keepCollecting("SampleRatioMismatch", message, events);
  }
  const short = compared.filter((c) => !c.enough);
  if (compared.length === 0 || short.length > 0) {
    const n = Math.min(...compared.map((c) => c.n), controlMoments?.n ?? 0);
    return keepCollecting(
      "Collecting",
      `collecting: n = ${String(Number.isFinite(n) ? n : 0)} outcomes of ${primaryName} in the smallest variant, at least ${String(minSamples)} per variant are needed before deciding`,
    );
  }
  const winners = compared
    .filter((c) => c.significant && c.better && c.verdicts.every((v) => v === "holds"))
    .sort(
      (a, b) =>
        Math.abs(b.result.delta) - Math.abs(a.result.delta) || a.variant.localeCompare(b.variant),
    );
  const broken = compared.filter(
    (c) => c.significant && c.better && c.verdicts.some((v) => v === "violated"),
  );
  const worse = compared.every((c) => c.significant && !c.better);
  const holm = compared.length > 1 ? " (Holm-adjusted)" : "";
  let winner: string | null | undefined;
  let recommendation = "";
  if (winners[0] !== undefined) {
    const w = winners[0];
    winner = w.variant;
    recommendation = `${w.variant} beats ${controlName} on ${primaryName} by ${formatDelta(w.result.delta, kind)}, always-valid p ${formatPValue(w.p)}${holm} (mSPRT), ${guardrails.length > 0 ? "guardrails hold" : "no guardrails configured"}`;
  } else if (worse) {
    winner = controlName;
    recommendation = `${controlName} beats every candidate on ${primaryName} (${compared.map(fmt).join("; ")})${holm}; keep ${controlName}`;
  } else if (broken.length > 0 && compared.every((c) => c.significant)) {
    winner = null;
    recommendation = `${broken.map(fmt).join("; ")} is better on ${primaryName} but breaks a guardrail; keep ${controlName}`;
  }
  if (winner === undefined) {
    const best = [...compared].sort((a, b) => a.p - b.p)[0];
    return keepCollecting(
      "Collecting",
      `no decision yet${best ? ` (best: ${fmt(best)}${holm})` : ""}; the experiment decides as soon as p ≤ ${String(alpha)}, however often it is looked at`,
    );
  }
  const status: ExperimentStatus = {
    ...running,
    phase: "Completed",
    completedAt: now,
    recommendation,
  };
  if (winner !== null) status.winner = winner;
  return {
    actions: actions({ kind: "promotion" }),
    step: {
      status,
      outcome: { state: "Ready", reason: "Completed", message: recommendation },
      events: [{ type: "Normal", reason: "Completed", action: "Analyze", note: recommendation }],
    },
  };
}
