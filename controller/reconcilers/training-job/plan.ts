// The TrainingJob reconciler's decisions, pure: which run the spec asks for, whether it may start
// (budget, approval, suspend), what happened to its current attempt, and what comes next — the
// next attempt, a cancel, a reused output, or a phase that waits for a new spec.
//
//   Pending → AwaitingApproval → Running → Succeeded / Failed / Cancelled
//
// The same runId never starts twice: attempts are numbered, recorded in status after they are
// submitted, and every backend's submit finds an attempt that already exists.
import type {
  TrainingJob,
  TrainingJobStatus,
  TrainingJobStatusHistoryEntry,
  TrainingJobStatusOutput,
} from "../../api/generated/index.js";
import { approvedRunAnnotation } from "../../api/well-known.js";
import type { EventSpec } from "../../kube/events.js";
import type { StoredObject } from "../../kube/resources.js";
import { conditionTime, type ReconcileOutcome } from "../../runtime/conditions.js";
import type { Plan, ReconcileStep } from "../../runtime/object-reconciler.js";
import type {
  AttemptRef,
  AttemptRequest,
  AttemptState,
  TrainingBackend,
} from "../../backends/training/backend.js";
import type { ResolvedInputs } from "./run.js";

/** What the estimate chose; the reconciler writes it to status.estimate. */
export interface RunEstimate {
  gpuType: string;
  gpuCount: number;
  flavor?: string;
  hours: number;
  costUSD: number;
  /** Price of one GPU-hour (or of the flavor's hour, for its whole count). */
  pricePerHourUSD: number;
  /** Cost of one hour of the whole run (all GPUs). */
  runPricePerHourUSD: number;
  parametersBillions?: number;
  datasetTokens?: number;
  basis: string;
}

export type Resolution<T> =
  ({ ok: true } & T) | { ok: false; kind: "wait" | "stall"; reason: string; message: string };

export interface ObservedTrainingJob {
  backend: TrainingBackend["type"];
  /** The run's inputs resolved (once per generation) and its id. */
  inputs: Resolution<{ resolved: ResolvedInputs; runId: string; generation: number }>;
  /** Present once the inputs resolved. */
  estimate?: Resolution<{ estimate: RunEstimate }>;
  /** The attempt status records (status.runId, status.job.attempt), as its backend sees it now. */
  recorded?: { runId: string; attempt: number; ref: AttemptRef; state: AttemptState | undefined };
  /** Builds the request of an attempt (paths, config, secrets): pure, from what observe read. */
  request: (runId: string, attempt: number, estimate: RunEstimate | undefined) => AttemptRequest;
}

export interface TrainingJobActions {
  /** Stop this attempt (a superseded run, suspend, a budget stop). */
  cancel?: { request: AttemptRequest; ref: AttemptRef };
  /** Start this attempt (idempotent); its ref lands in status.job. */
  submit?: AttemptRequest;
}

type Step = ReconcileStep<TrainingJobStatus>;
type Stored = StoredObject<TrainingJob>;

/** Runs kept in status.history (the CRD's maxItems). */
export const historyLimit = 10;
/** How often a running attempt is looked at (progress, budget): at most every few seconds. */
export const runningRequeueMs = 5_000;

export function planTrainingJob(input: {
  object: Stored;
  observed: ObservedTrainingJob;
  now: number;
}): Plan<TrainingJobStatus, TrainingJobActions> {
  const { object, observed, now } = input;
  const previous = object.status ?? {};
  const time = conditionTime(now);
  const inputs = observed.inputs;
  if (!inputs.ok) {
    // Nothing is cancelled while inputs cannot be read (a Hub outage must not stop a paid run).
    return step(previous, outcomeOf(inputs));
  }
  const runId = inputs.runId;
  const events: EventSpec[] = [];
  const actions: TrainingJobActions = {};
  let status: TrainingJobStatus = {
    ...previous,
    resolved: resolvedStatus(inputs.resolved, inputs.generation),
  };

  // A different run than status records: the old one stops (if it still runs) and goes to history.
  if (previous.runId !== undefined && previous.runId !== runId) {
    const old = observed.recorded;
    if (isActive(previous.phase) && old !== undefined && old.runId === previous.runId) {
      actions.cancel = {
        request: observed.request(old.runId, old.attempt, undefined),
        ref: old.ref,
      };
      events.push({
        type: "Normal",
        reason: "RunSuperseded",
        action: "Cancel",
        note: `the spec changed: run ${previous.runId} (attempt ${String(old.attempt)}) is cancelled for run ${runId}`,
      });
    }
    const started = (previous.attempts ?? 0) > 0;
    status = {
      ...newRun(status, runId),
      history: !started
        ? previous.history
        : withHistory(previous.history, {
            runId: previous.runId,
            phase:
              isActive(previous.phase) || previous.phase === undefined
                ? "Cancelled"
                : terminal(previous.phase),
            ...(previous.output ? { output: previous.output } : {}),
            finishedAt: previous.completedAt ?? time,
            ...(previous.spent?.costUSD !== undefined ? { costUSD: previous.spent.costUSD } : {}),
          }),
    };
  } else if (previous.runId === undefined) {
    status = newRun(status, runId);
  }

  // A run that already succeeded (a revert): its output serves again, nothing trains.
  const earlier = (status.history ?? []).find((h) => h.runId === runId && h.phase === "Succeeded");
  if (earlier !== undefined && !isActive(status.phase)) {
    const reused = status.phase !== "Succeeded" || status.output === undefined;
    if (reused) {
      events.push({
        type: "Normal",
        reason: "RunReused",
        action: "Reuse",
        note: `run ${runId} already succeeded; its output is reused and nothing trains`,
      });
    }
    return step(
      {
        ...status,
        phase: "Succeeded",
        ...(earlier.output ? { output: earlier.output } : {}),
        completedAt: earlier.finishedAt ?? status.completedAt ?? time,
        progress: status.progress?.percent === 100 ? status.progress : { percent: 100 },
      },
      {
        state: "Ready",
        reason: "Succeeded",
        message: `run ${runId} succeeded earlier; serving its output (${describeOutput(earlier.output)})`,
      },
      events,
      actions,
    );
  }

  // This run already ended: nothing more to do until the spec changes.
  if (status.phase === "Succeeded") {
    return step(
      status,
      {
        state: "Ready",
        reason: "Succeeded",
        message: `run ${runId} succeeded: ${describeOutput(status.output)}`,
      },
      events,
      actions,
    );
  }
  if (status.phase === "Failed") {
    return step(status, failedOutcome(status), events, actions);
  }

  const recorded =
    observed.recorded !== undefined &&
    observed.recorded.runId === runId &&
    observed.recorded.attempt === status.job?.attempt
      ? observed.recorded
      : undefined;

  // Suspended: nothing starts, and a running attempt stops. A suspension the user asked for is
  // not a failure: Ready=False reason Suspended, neither Stalled nor Reconciling (kstatus Current).
  if (object.spec.suspend === true) {
    if (recorded !== undefined && isActive(status.phase)) {
      actions.cancel = {
        request: observed.request(runId, recorded.attempt, undefined),
        ref: recorded.ref,
      };
      events.push({
        type: "Normal",
        reason: "Suspended",
        action: "Cancel",
        note: `spec.suspend is true: attempt ${String(recorded.attempt)} of run ${runId} is stopped`,
      });
    }
    const wasRunning = recorded !== undefined && isActive(status.phase);
    // The stopped attempt's time is counted now; nothing accrues while the run waits.
    const stopped = wasRunning ? endAttempt(status, now) : status;
    return step(
      { ...stopped, phase: wasRunning || status.phase === "Cancelled" ? "Cancelled" : "Pending" },
      {
        state: "Suspended",
        reason: "Suspended",
        message: `spec.suspend is true: run ${runId} does not run; set it to false to ${wasRunning || status.phase === "Cancelled" ? "start it again from its last checkpoint" : "start it"}`,
      },
      events,
      actions,
    );
  }

  const estimation = observed.estimate;
  if (estimation === undefined) {
    return step(
      { ...status, phase: "Pending" },
      {
        state: "Progressing",
        reason: "Estimating",
        message: `estimating run ${runId}`,
      },
      events,
      actions,
    );
  }
  if (!estimation.ok) {
    return step({ ...status, phase: "Pending" }, outcomeOf(estimation), events, actions);
  }
  const estimate = estimation.estimate;
  status = { ...status, estimate: estimateStatus(estimate) };
  const budget = object.spec.budget;

  // Budget and approval gate a run that has not started.
  const attempt = status.job?.attempt ?? 0;
  if (attempt === 0) {
    if (budget !== undefined && estimate.costUSD > budget.maxCostUSD) {
      return step(
        { ...status, phase: "Pending" },
        {
          state: "Stalled",
          reason: "BudgetExceeded",
          message: `run ${runId} is estimated at ${usd(estimate.costUSD)} (${estimate.basis}), above budget.maxCostUSD ${usd(budget.maxCostUSD)}: nothing starts. Raise budget.maxCostUSD, or make the run smaller (LoRA, fewer epochs, a smaller model or dataset)`,
        },
        events,
        actions,
      );
    }
    const threshold = budget?.approvalThresholdUSD;
    const approved = object.metadata.annotations?.[approvedRunAnnotation] === runId;
    if (threshold !== undefined && estimate.costUSD > threshold && !approved) {
      if (status.phase !== "AwaitingApproval") {
        events.push({
          type: "Normal",
          reason: "AwaitingApproval",
          action: "Estimate",
          note: `run ${runId} is estimated at ${usd(estimate.costUSD)}, above budget.approvalThresholdUSD ${usd(threshold)}`,
        });
      }
      const given = object.metadata.annotations?.[approvedRunAnnotation];
      return step(
        { ...status, phase: "AwaitingApproval" },
        {
          state: "Progressing",
          reason: "AwaitingApproval",
          message: `run ${runId} is estimated at ${usd(estimate.costUSD)} (${estimate.basis}), above budget.approvalThresholdUSD ${usd(threshold)}: approve it in git with \`llmops approve trainingjob/${object.metadata.name}\` (the annotation ${approvedRunAnnotation}: ${runId})${given !== undefined ? `; the annotation approves run ${given}, not this one` : ""}`,
        },
        events,
        actions,
      );
    }
    return submitAttempt(object, observed, status, runId, 1, estimate, now, events, actions);
  }

  // An attempt was started: what became of it?
  const state: AttemptState | undefined = recorded?.state;
  const startedAt = status.startedAt !== undefined ? Date.parse(status.startedAt) : now;
  status = { ...status, spent: accrued(status, estimate, now) };
  const phase = state?.phase;
  if (phase === "Pending" || phase === "Running") {
    status = { ...status, phase: "Running", progress: progressOf(state, status, now) };
    const maxHours = budget?.maxHours;
    // budget.maxHours is per attempt (as the backends' deadlines are): a retry gets its own hours.
    const attemptStartedAt =
      state?.startedAt?.getTime() ??
      (status.job?.startedAt !== undefined
        ? Date.parse(status.job.startedAt)
        : attempt === 1
          ? startedAt
          : now);
    const attemptHours = Math.max(0, now - attemptStartedAt) / 3_600_000;
    const overTime = maxHours !== undefined && attemptHours >= maxHours;
    const overCost = budget !== undefined && (status.spent?.costUSD ?? 0) >= budget.maxCostUSD;
    if ((overTime || overCost) && recorded !== undefined) {
      actions.cancel = { request: observed.request(runId, attempt, estimate), ref: recorded.ref };
      const why = overTime
        ? `attempt ${String(attempt)} ran ${hours(attemptHours)}, budget.maxHours is ${String(maxHours)}`
        : `it has cost ${usd(status.spent?.costUSD ?? 0)}, budget.maxCostUSD is ${usd(budget?.maxCostUSD ?? 0)}`;
      return finished(
        status,
        "Failed",
        time,
        {
          state: "Stalled",
          reason: "BudgetExceeded",
          message: `run ${runId} was stopped: ${why}. The last checkpoint${status.progress?.checkpoint ? ` (step ${String(status.progress.checkpoint.step)})` : ""} is kept; raise the budget to continue from it`,
        },
        events,
        actions,
      );
    }
    return {
      step: {
        status,
        outcome: {
          state: "Progressing",
          reason: "Running",
          message: runningMessage(runId, attempt, status),
        },
        events,
        requeueAfter: runningRequeueMs,
      },
      ...(actions.cancel || actions.submit ? { actions } : {}),
    };
  }
  if (phase === "Succeeded") {
    const output = outputOf(state, observed.request(runId, attempt, estimate));
    events.push({
      type: "Normal",
      reason: "Succeeded",
      action: "Train",
      note: `run ${runId} succeeded on attempt ${String(attempt)}: ${describeOutput(output)}`,
    });
    const done: TrainingJobStatus = {
      ...status,
      output,
      progress: { ...progressOf(state, status, now), percent: 100 },
    };
    const { eta: _eta, ...progress } = done.progress ?? {};
    return finished(
      {
        ...done,
        progress,
        history: withHistory(status.history, {
          runId,
          phase: "Succeeded",
          output,
          finishedAt: time,
          ...(status.spent?.costUSD !== undefined ? { costUSD: status.spent.costUSD } : {}),
        }),
      },
      "Succeeded",
      time,
      {
        state: "Ready",
        reason: "Succeeded",
        message: `run ${runId} succeeded: ${describeOutput(output)}`,
      },
      events,
      actions,
    );
  }

  // Failed, cancelled by someone else, or gone: retry from the last checkpoint when it may help.
  const reason =
    state?.reason ??
    (state === undefined
      ? "AttemptLost"
      : phase === "Cancelled"
        ? "AttemptCancelled"
        : "AttemptFailed");
  const message =
    state?.message ??
    (state === undefined
      ? `attempt ${String(attempt)} is gone (its job was deleted or the node was lost)`
      : `attempt ${String(attempt)} ended ${phase ?? ""}`);
  const retryable = state === undefined || state.phase === "Cancelled" || state.retryable !== false;
  const maxAttempts = object.spec.maxAttempts ?? 2;
  const withProgress = { ...status, progress: progressOf(state, status, now) };
  // Resumed after spec.suspend: the attempt suspend stopped did not fail, so spec.maxAttempts does
  // not hold the next one back.
  if (status.phase === "Cancelled" && (state === undefined || state.phase === "Cancelled")) {
    events.push({
      type: "Normal",
      reason: "Resumed",
      action: "Train",
      note: `spec.suspend is false: run ${runId} continues with attempt ${String(attempt + 1)}${withProgress.progress?.checkpoint ? ` from the checkpoint at step ${String(withProgress.progress.checkpoint.step)}` : ""}`,
    });
    return submitAttempt(
      object,
      observed,
      withProgress,
      runId,
      attempt + 1,
      estimate,
      now,
      events,
      actions,
    );
  }
  if (retryable && attempt < maxAttempts) {
    events.push({
      type: "Warning",
      reason: "AttemptFailed",
      action: "Retry",
      note: `attempt ${String(attempt)} of run ${runId} failed (${reason}: ${message}); starting attempt ${String(attempt + 1)} of ${String(maxAttempts)}${withProgress.progress?.checkpoint ? ` from the checkpoint at step ${String(withProgress.progress.checkpoint.step)}` : ""}`,
    });
    return submitAttempt(
      object,
      observed,
      withProgress,
      runId,
      attempt + 1,
      estimate,
      now,
      events,
      actions,
    );
  }
  const permanent = !retryable;
  return finished(
    withProgress,
    "Failed",
    time,
    {
      state: "Stalled",
      reason,
      message: permanent
        ? `run ${runId} failed: ${message}`
        : `run ${runId} failed after ${String(attempt)} attempt${attempt === 1 ? "" : "s"} (spec.maxAttempts ${String(maxAttempts)}); the last: ${reason}: ${message}. Change the spec (or raise spec.maxAttempts) to run again`,
    },
    events,
    actions,
  );
}

function submitAttempt(
  object: Stored,
  observed: ObservedTrainingJob,
  status: TrainingJobStatus,
  runId: string,
  attempt: number,
  estimate: RunEstimate,
  now: number,
  events: EventSpec[],
  actions: TrainingJobActions,
): Plan<TrainingJobStatus, TrainingJobActions> {
  const request = observed.request(runId, attempt, estimate);
  if (attempt === 1) {
    events.push({
      type: "Normal",
      reason: "Started",
      action: "Train",
      note: `run ${runId} starts on ${observed.backend} (${String(estimate.gpuCount)}× ${estimate.gpuType}${estimate.flavor ? `, flavor ${estimate.flavor}` : ""}; estimated ${usd(estimate.costUSD)}, ${hours(estimate.hours)})`,
    });
  }
  // The attempt before this one has ended: its time moves into the finished totals.
  const ended = attempt > 1 ? endAttempt(status, now) : status;
  const next: TrainingJobStatus = {
    ...ended,
    phase: "Running",
    attempts: attempt,
    job: { backend: observed.backend, attempt, startedAt: conditionTime(now) },
    ...(attempt === 1 ? { startedAt: conditionTime(now) } : {}),
  };
  return {
    step: {
      status: next,
      outcome: {
        state: "Progressing",
        reason: "Running",
        message: `run ${runId}: attempt ${String(attempt)} submitted to ${observed.backend}`,
      },
      events,
      requeueAfter: runningRequeueMs,
    },
    actions: { ...actions, submit: request },
  };
}

function finished(
  status: TrainingJobStatus,
  phase: "Succeeded" | "Failed",
  time: string,
  outcome: ReconcileOutcome,
  events: EventSpec[],
  actions: TrainingJobActions,
): Plan<TrainingJobStatus, TrainingJobActions> {
  return step({ ...status, phase, completedAt: time }, outcome, events, actions);
}

function step(
  status: TrainingJobStatus,
  outcome: ReconcileOutcome,
  events: EventSpec[] = [],
  actions: TrainingJobActions = {},
): Plan<TrainingJobStatus, TrainingJobActions> {
  const s: Step = { status, outcome, ...(events.length > 0 ? { events } : {}) };
  return actions.cancel || actions.submit ? { step: s, actions } : { step: s };
}

function outcomeOf(failure: {
  kind: "wait" | "stall";
  reason: string;
  message: string;
}): ReconcileOutcome {
  return failure.kind === "wait"
    ? { state: "Progressing", reason: failure.reason, message: failure.message }
    : { state: "Stalled", reason: failure.reason, message: failure.message };
}

function failedOutcome(status: TrainingJobStatus): ReconcileOutcome {
  const stalled = status.conditions?.find((c) => c.type === "Stalled");
  return {
    state: "Stalled",
    reason: stalled?.reason ?? "Failed",
    message: stalled?.message ?? `run ${status.runId ?? ""} failed; change the spec to run again`,
  };
}

/** Status for a run that has not started: what belonged to the previous run is cleared. */
function newRun(status: TrainingJobStatus, runId: string): TrainingJobStatus {
  const {
    job: _job,
    progress: _progress,
    output: _output,
    attempts: _attempts,
    startedAt: _startedAt,
    completedAt: _completedAt,
    spent: _spent,
    estimate: _estimate,
    ...rest
  } = status;
  return { ...rest, runId, phase: "Pending", attempts: 0 };
}

function isActive(phase: TrainingJobStatus["phase"]): boolean {
  return phase === "Running";
}

function terminal(phase: TrainingJobStatus["phase"]): TrainingJobStatusHistoryEntry["phase"] {
  return phase === "Succeeded" || phase === "Failed" ? phase : "Cancelled";
}

/** Newest first, one entry per runId, at most historyLimit. */
export function withHistory(
  history: readonly TrainingJobStatusHistoryEntry[] | undefined,
  entry: TrainingJobStatusHistoryEntry,
): TrainingJobStatusHistoryEntry[] {
  const others = (history ?? []).filter((h) => h.runId !== entry.runId);
  // A run that succeeded once stays reusable: a later cancel of the same id does not erase it.
  const kept = (history ?? []).find((h) => h.runId === entry.runId);
  const next = kept?.phase === "Succeeded" && entry.phase !== "Succeeded" ? kept : entry;
  return [next, ...others].slice(0, historyLimit);
}

function resolvedStatus(inputs: ResolvedInputs, generation: number): TrainingJobStatus["resolved"] {
  const id = (r: ResolvedInputs["dataset"] | ResolvedInputs["baseModel"]): string =>
    r.source === "huggingFace"
      ? r.revision
      : r.source === "volume"
        ? `${r.claimName}:${r.path}`
        : r.hash;
  return {
    generation,
    baseModel: id(inputs.baseModel),
    dataset: id(inputs.dataset),
    ...(inputs.evalDataset ? { evalDataset: id(inputs.evalDataset) } : {}),
  };
}

function estimateStatus(e: RunEstimate): TrainingJobStatus["estimate"] {
  return {
    gpuType: e.gpuType,
    gpuCount: e.gpuCount,
    hours: round(e.hours, 4),
    costUSD: round(e.costUSD, 2),
    pricePerHourUSD: e.pricePerHourUSD,
    ...(e.flavor ? { flavor: e.flavor } : {}),
    ...(e.parametersBillions !== undefined ? { parametersBillions: e.parametersBillions } : {}),
    ...(e.datasetTokens !== undefined ? { datasetTokens: Math.round(e.datasetTokens) } : {}),
    basis: e.basis.slice(0, 1024),
  };
}

/** status.progress from the attempt's latest records (percent, loss, ETA). */
function progressOf(
  state: AttemptState | undefined,
  status: TrainingJobStatus,
  now: number,
): TrainingJobStatus["progress"] {
  const previous = status.progress ?? {};
  const p = state?.lastProgress;
  const checkpoint = state?.lastCheckpoint
    ? { step: state.lastCheckpoint.step, path: state.lastCheckpoint.path }
    : previous.checkpoint;
  if (p === undefined) return { ...previous, ...(checkpoint ? { checkpoint } : {}) };
  const percent = p.totalSteps > 0 ? Math.min(100, Math.floor((100 * p.step) / p.totalSteps)) : 0;
  const since =
    state?.startedAt?.getTime() ?? (status.startedAt ? Date.parse(status.startedAt) : now);
  const stepsLeft = Math.max(0, p.totalSteps - p.step);
  const perStep = p.step > 0 ? Math.max(0, now - since) / p.step : undefined;
  return {
    percent,
    step: p.step,
    totalSteps: p.totalSteps,
    epoch: round(p.epoch, 3),
    ...(p.loss !== undefined && Number.isFinite(p.loss) ? { loss: round(p.loss, 4) } : {}),
    ...(p.evalLoss !== undefined && Number.isFinite(p.evalLoss)
      ? { evalLoss: round(p.evalLoss, 4) }
      : previous.evalLoss !== undefined
        ? { evalLoss: previous.evalLoss }
        : {}),
    ...(p.learningRate !== undefined ? { learningRate: p.learningRate } : {}),
    ...(perStep !== undefined ? { eta: conditionTime(now + perStep * stepsLeft) } : {}),
    updatedAt:
      previous.step === p.step && previous.updatedAt ? previous.updatedAt : conditionTime(now),
    ...(checkpoint ? { checkpoint } : {}),
  };
}

function outputOf(
  state: AttemptState | undefined,
  request: AttemptRequest | undefined,
): TrainingJobStatusOutput {
  const completed = state?.completed;
  if (completed !== undefined) {
    return {
      ...(completed.output.repo ? { repo: completed.output.repo } : {}),
      ...(completed.output.revision ? { revision: completed.output.revision } : {}),
      ...(completed.output.repo ? {} : { path: completed.output.path }),
      ...(request?.outputVolume ? { volume: request.outputVolume } : {}),
      ...(completed.mlflow?.runId ? { mlflowRunId: completed.mlflow.runId } : {}),
      ...(completed.mlflow?.modelVersion ? { modelVersion: completed.mlflow.modelVersion } : {}),
    };
  }
  // A job that succeeded without its completed record: the output is where the run writes it.
  const config = request?.config.output;
  if (config?.huggingFace) return { repo: config.huggingFace.repo };
  return {
    path: config?.dir ?? "",
    ...(request?.outputVolume ? { volume: request.outputVolume } : {}),
  };
}

function runningMessage(runId: string, attempt: number, status: TrainingJobStatus): string {
  const p = status.progress;
  if (p?.step === undefined || p.totalSteps === undefined) {
    return `run ${runId}: attempt ${String(attempt)} is starting`;
  }
  const parts = [`step ${String(p.step)}/${String(p.totalSteps)} (${String(p.percent ?? 0)}%)`];
  if (p.loss !== undefined) parts.push(`loss ${String(p.loss)}`);
  if (p.evalLoss !== undefined) parts.push(`eval loss ${String(p.evalLoss)}`);
  if (p.eta !== undefined) parts.push(`ETA ${p.eta}`);
  return `run ${runId}, attempt ${String(attempt)}: ${parts.join(", ")}`;
}

function describeOutput(output: TrainingJobStatusOutput | undefined): string {
  if (output === undefined) return "no output recorded";
  if (output.repo) return `${output.repo}${output.revision ? `@${output.revision}` : ""}`;
  return output.volume ? `${output.volume}:${output.path ?? ""}` : (output.path ?? "");
}

function usd(value: number): string {
  return `${value.toFixed(2)} USD`;
}

function hours(value: number): string {
  return value < 1 ? `${String(Math.round(value * 60))} min` : `${value.toFixed(1)} h`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * What the run has used: the attempts that ended, plus the current attempt's elapsed time (from
 * status.job.startedAt) at the estimate's price of one run-hour.
 */
export function accrued(
  status: TrainingJobStatus,
  estimate: Pick<RunEstimate, "runPricePerHourUSD" | "gpuCount"> | undefined,
  now: number,
): NonNullable<TrainingJobStatus["spent"]> {
  const finishedCost = status.spent?.finishedCostUSD ?? 0;
  const finishedGpu = status.spent?.finishedGpuHours ?? 0;
  const from = status.job?.startedAt;
  const hours = from === undefined ? 0 : Math.max(0, now - Date.parse(from)) / 3_600_000;
  const price = estimate?.runPricePerHourUSD ?? 0;
  return {
    costUSD: round(finishedCost + hours * price, 4),
    gpuHours: round(finishedGpu + hours * (estimate?.gpuCount ?? 0), 4),
    finishedCostUSD: round(finishedCost, 4),
    finishedGpuHours: round(finishedGpu, 4),
  };
}

/** Status with the current attempt's time moved into the finished totals (it has ended). */
function endAttempt(status: TrainingJobStatus, now: number): TrainingJobStatus {
  if (status.job?.startedAt === undefined) return status; // no attempt running
  const e = status.estimate;
  const price =
    e?.pricePerHourUSD === undefined
      ? 0
      : e.flavor !== undefined
        ? e.pricePerHourUSD
        : e.pricePerHourUSD * (e.gpuCount ?? 1);
  const total = accrued(status, { runPricePerHourUSD: price, gpuCount: e?.gpuCount ?? 0 }, now);
  const { startedAt: _startedAt, ...job } = status.job;
  return {
    ...status,
    spent: { ...total, finishedCostUSD: total.costUSD, finishedGpuHours: total.gpuHours },
    job,
  };
}
