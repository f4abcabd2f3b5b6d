// The rollout of a ModelDeployment's desired revision, as a pure state machine over its status
// (after Argo Rollouts' canary, with its known complaints fixed: an erroring measurement is not a
// failure, and an aborted rollout can be retried).
//
//   desired = stable            → Healthy; a canary in progress is dropped (a revert mid-rollout)
//   desired is warm             → instant rollback: all traffic to it, no steps
//   no stable yet               → the first revision takes all traffic once Available
//   Immediate                   → all traffic moves once the new revision is Available
//   Canary                      → setWeight / pause / analysis steps, then promotion
//
// No weight goes to a revision whose Deployment is not Available; one that is not Available
// within spec.progressDeadlineSeconds is Degraded, and traffic stays on stable.
import type {
  ModelDeployment,
  ModelDeploymentStatus,
  ModelDeploymentStatusRollout,
} from "../../api/generated/index.js";
import type { ReconcileOutcome } from "../../runtime/conditions.js";
import { conditionTime } from "../../runtime/conditions.js";
import { parseDuration } from "../../runtime/duration.js";

export type RolloutPhase = NonNullable<ModelDeploymentStatus["phase"]>;

/** Where traffic goes and why, after this reconcile. */
export interface RolloutDecision {
  stable: string | undefined;
  canary: string | undefined;
  /** Percentage on the canary (the rest on stable). */
  canaryWeight: number;
  currentStep: number | undefined;
  rollout: ModelDeploymentStatusRollout | undefined;
  phase: RolloutPhase;
  outcome: ReconcileOutcome;
  /** Metric names to measure now (an analysis step is due); the result goes to afterMeasurement. */
  measure: string[] | undefined;
  /** Revisions that were stable and are not any more (they become warm). */
  retired: string[];
  /** Reconcile again after this long (a pause or an analysis interval ends). */
  requeueAfter: number | undefined;
  events: { type: "Normal" | "Warning"; reason: string; note: string }[];
}

export interface RolloutInput {
  object: ModelDeployment;
  /** The revision the spec asks for. */
  desired: string;
  /** Revisions kept warm (previous stables), newest first. */
  warm: readonly string[];
  available: (revision: string) => boolean;
  /** Epoch ms. */
  now: number;
  /** Operational acts on the live object: promote names the revision to promote now. */
  promote: boolean;
  /** The llmops.dev/retry annotation's value: a value not acted on yet retries once. */
  retryToken: string | undefined;
}

const ms = (iso: string | undefined, fallback: number): number =>
  iso === undefined ? fallback : Date.parse(iso);

export function planRollout(input: RolloutInput): RolloutDecision {
  const { object, desired, now } = input;
  const spec = object.spec;
  const status = object.status ?? {};
  const stable = status.stableRevision;
  const at = conditionTime(now);
  const base = {
    measure: undefined,
    retired: [] as string[],
    requeueAfter: undefined,
    events: [] as RolloutDecision["events"],
  };
  const settled = (revision: string, retired: string[], note?: string): RolloutDecision => ({
    ...base,
    stable: revision,
    canary: undefined,
    canaryWeight: 0,
    currentStep: undefined,
    rollout: undefined,
    phase: "Healthy",
    outcome: {
      state: "Ready",
      reason: "Healthy",
      message: `revision ${revision} serves all traffic`,
    },
    retired,
    events: note ? [{ type: "Normal", reason: "Promoted", note }] : [],
  });

  if (desired === stable) {
    const dropped = status.canaryRevision;
    const decision = settled(desired, []);
    if (dropped !== undefined && dropped !== desired) {
      decision.events.push({
        type: "Normal",
        reason: "RolloutCancelled",
        note: `the spec is back on ${desired}: the rollout of ${dropped} is cancelled`,
      });
    }
    return decision;
  }
  const retiring = stable === undefined ? [] : [stable];
  if (input.warm.includes(desired) && input.available(desired)) {
    return settled(
      desired,
      retiring,
      `rolled back to warm revision ${desired} at once, without canary steps`,
    );
  }

  const canary = status.canaryRevision === desired;
  const rollout: ModelDeploymentStatusRollout = canary
    ? { ...status.rollout }
    : {
        startedAt: at,
        stepStartedAt: at,
        measurementsTaken: 0,
        failures: 0,
        consecutiveErrors: 0,
        // A retry token set before this rollout began is not a retry of it.
        ...(input.retryToken !== undefined ? { retryToken: input.retryToken } : {}),
      };
  const retry = input.retryToken !== undefined && input.retryToken !== rollout.retryToken;
  let step = canary ? (status.currentStep ?? 0) : 0;
  let weight = canary ? (status.canaryWeight ?? 0) : 0;
  const progressing = (
    phase: RolloutPhase,
    outcome: ReconcileOutcome,
    extra: Partial<RolloutDecision> = {},
  ): RolloutDecision => ({
    ...base,
    stable,
    canary: desired,
    canaryWeight: weight,
    currentStep: step,
    rollout: { ...rollout, message: outcome.message },
    phase,
    outcome,
    ...extra,
  });

  if (!input.available(desired)) {
    weight = 0;
    const deadline = (spec.progressDeadlineSeconds ?? 600) * 1000;
    const waited = now - ms(rollout.startedAt, now);
    if (waited >= deadline) {
      return progressing("Degraded", {
        state: "Progressing",
        reason: "ProgressDeadlineExceeded",
        message: `revision ${desired} is not available after ${String(Math.round(waited / 1000))} s (spec.progressDeadlineSeconds ${String(deadline / 1000)}); traffic stays on ${stable ?? "no revision"}: fix the revision (image, GPU type, resources) or revert the spec`,
      });
    }
    return progressing(
      "Progressing",
      {
        state: "Progressing",
        reason: "RevisionNotAvailable",
        message: `waiting for revision ${desired} to become available`,
      },
      { requeueAfter: Math.min(30_000, deadline - waited) },
    );
  }
  if (stable === undefined || spec.strategy?.type !== "Canary" || input.promote) {
    return settled(
      desired,
      retiring,
      input.promote
        ? `promoted ${desired}: the remaining canary steps were skipped`
        : `revision ${desired} is available and serves all traffic`,
    );
  }

  // Canary.
  if (spec.abort === true) {
    weight = 0;
    return progressing("Aborted", {
      state: "Progressing",
      reason: "Aborted",
      message: `spec.abort is set: all traffic is on ${stable}; clear abort to roll ${desired} out again from the first step`,
    });
  }
  if (rollout.inconclusive === true && !retry) {
    return progressing("Paused", {
      state: "Progressing",
      reason: "Inconclusive",
      message: rollout.message ?? `the analysis of ${desired} was inconclusive`,
    });
  }
  if (
    rollout.abortedRevision === desired ||
    rollout.inconclusive === true ||
    (canary && status.phase === "Aborted")
  ) {
    if (!retry && rollout.abortedRevision === desired) {
      weight = 0;
      return progressing("Aborted", {
        state: "Progressing",
        reason: "AnalysisFailed",
        message: `${rollout.message ?? "the analysis failed"}. Set a new value on the annotation llmops.dev/retry to roll ${desired} out again`,
      });
    }
    // Retried (or spec.abort cleared): from the first step, with a fresh analysis.
    Object.assign(rollout, {
      startedAt: at,
      stepStartedAt: at,
      measurementsTaken: 0,
      failures: 0,
      consecutiveErrors: 0,
    });
    if (retry) rollout.retryToken = input.retryToken;
    delete rollout.abortedRevision;
    delete rollout.inconclusive;
    delete rollout.lastMeasuredAt;
    step = 0;
    weight = 0;
  }
  if (spec.paused === true) {
    return progressing("Paused", {
      state: "Progressing",
      reason: "Paused",
      message: `spec.paused: the rollout of ${desired} holds at step ${String(step)} with ${String(weight)}% of traffic`,
    });
  }

  const steps = spec.strategy.canary?.steps ?? [];
  const advance = (): void => {
    step += 1;
    rollout.stepStartedAt = at;
    rollout.measurementsTaken = 0;
    delete rollout.lastMeasuredAt;
  };
  while (step < steps.length) {
    const current = steps[step] ?? {};
    if (current.setWeight !== undefined) {
      weight = current.setWeight;
      advance();
      continue;
    }
    if (current.pause !== undefined) {
      if (current.pause.duration === undefined) {
        return progressing("Paused", {
          state: "Progressing",
          reason: "Paused",
          message: `step ${String(step)} pauses the rollout of ${desired} at ${String(weight)}% until it is promoted (llmops promote modeldeployment/${object.metadata.name ?? ""})`,
        });
      }
      const ends = ms(rollout.stepStartedAt, now) + parseDuration(current.pause.duration);
      if (now < ends) {
        return progressing(
          "Paused",
          {
            state: "Progressing",
            reason: "Paused",
            message: `step ${String(step)}: ${String(weight)}% of traffic on ${desired}, paused for ${current.pause.duration} (${String(Math.ceil((ends - now) / 1000))} s left)`,
          },
          { requeueAfter: ends - now },
        );
      }
      advance();
      continue;
    }
    if (current.analysis !== undefined) {
      const count = current.analysis.count ?? 1;
      if ((rollout.measurementsTaken ?? 0) >= count) {
        advance();
        continue;
      }
      const interval = parseDuration(spec.strategy.canary?.analysis?.interval ?? "1m");
      const due =
        rollout.lastMeasuredAt === undefined ? now : Date.parse(rollout.lastMeasuredAt) + interval;
      const message = `step ${String(step)}: analysing ${desired} at ${String(weight)}% (${String(rollout.measurementsTaken ?? 0)} of ${String(count)} measurements)`;
      return progressing(
        "Progressing",
        { state: "Progressing", reason: "Analyzing", message },
        now >= due ? { measure: [...current.analysis.metrics] } : { requeueAfter: due - now },
      );
    }
    advance(); // a step with no action (the CRD forbids it; stay safe)
  }
  return settled(desired, retiring, `rolled ${desired} out through ${String(steps.length)} steps`);
}

/** One metric's verdict in a measurement round. */
export interface MetricVerdict {
  metric: string;
  verdict: "Successful" | "Failed" | "Inconclusive" | "Error";
  value?: number;
  message: string;
}

/** The rollout after a round of measurements of the current analysis step. Pure. */
export function afterMeasurement(options: {
  object: ModelDeployment;
  decision: RolloutDecision;
  verdicts: readonly MetricVerdict[];
  now: number;
}): RolloutDecision {
  const { object, decision, verdicts, now } = options;
  const analysis = object.spec.strategy?.canary?.analysis;
  const failureLimit = analysis?.failureLimit ?? 0;
  const errorLimit = analysis?.consecutiveErrorLimit ?? 4;
  const rollout: ModelDeploymentStatusRollout = {
    ...decision.rollout,
    lastMeasuredAt: conditionTime(now),
  };
  const failed = verdicts.filter((v) => v.verdict === "Failed");
  const errored = verdicts.filter((v) => v.verdict === "Error");
  const inconclusive = verdicts.filter((v) => v.verdict === "Inconclusive");
  rollout.failures = (rollout.failures ?? 0) + failed.length;
  rollout.consecutiveErrors =
    failed.length === 0 && errored.length > 0 ? (rollout.consecutiveErrors ?? 0) + 1 : 0;
  const events = verdicts.map((v) => ({
    type: v.verdict === "Successful" ? ("Normal" as const) : ("Warning" as const),
    reason: `Measurement${v.verdict}`,
    note: v.message,
  }));
  const canary = decision.canary ?? "";
  const stable = decision.stable ?? "";
  const abort = (message: string): RolloutDecision => ({
    ...decision,
    canaryWeight: 0,
    rollout: { ...rollout, abortedRevision: canary, message },
    phase: "Aborted",
    outcome: { state: "Progressing", reason: "AnalysisFailed", message },
    measure: undefined,
    requeueAfter: undefined,
    events: [...events, { type: "Warning", reason: "RolloutAborted", note: message }],
  });
  if (rollout.failures > failureLimit) {
    return abort(
      `analysis failed ${String(rollout.failures)} times (failureLimit ${String(failureLimit)}): ${failed.map((v) => v.message).join("; ")}; the rollout of ${canary} is aborted and traffic is back on ${stable}`,
    );
  }
  if (rollout.consecutiveErrors > errorLimit) {
    return abort(
      `measurements errored ${String(rollout.consecutiveErrors)} times in a row (consecutiveErrorLimit ${String(errorLimit)}): ${errored.map((v) => v.message).join("; ")}; the rollout of ${canary} is aborted and traffic is back on ${stable}`,
    );
  }
  if (inconclusive.length > 0) {
    const message = `inconclusive: ${inconclusive.map((v) => v.message).join("; ")}; the rollout of ${canary} holds until it is promoted or retried`;
    return {
      ...decision,
      rollout: { ...rollout, inconclusive: true, message },
      phase: "Paused",
      outcome: { state: "Progressing", reason: "Inconclusive", message },
      measure: undefined,
      requeueAfter: undefined,
      events,
    };
  }
  if (failed.length === 0 && errored.length === 0) {
    rollout.measurementsTaken = (rollout.measurementsTaken ?? 0) + 1;
  }
  return { ...decision, rollout, measure: undefined, requeueAfter: 1, events };
}
