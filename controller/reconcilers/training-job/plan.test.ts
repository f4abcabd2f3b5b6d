import { describe, expect, it } from "vitest";
import type {
  TrainingJob,
  TrainingJobStatus,
  TrainingJobStatusHistoryEntry,
} from "../../api/generated/index.js";
import { approvedRunAnnotation } from "../../api/well-known.js";
import type { AttemptRequest, AttemptState } from "../../backends/training/backend.js";
import type { StoredObject } from "../../kube/resources.js";
import { conditionTime, summarize } from "../../runtime/conditions.js";
import {
  historyLimit,
  planTrainingJob,
  runningRequeueMs,
  withHistory,
  type ObservedTrainingJob,
  type RunEstimate,
} from "./plan.js";
import type { ResolvedInputs } from "./run.js";

const hour = 3_600_000;
const now = Date.parse("2026-11-22T10:00:00Z");
const at = (ms: number): string => conditionTime(ms);
const runA = "aaaaaaaaaaaaaaa1";
const runB = "bbbbbbbbbbbbbbb2";
const jobA1 = { name: `ticket-triage-${runA}-1` };

type Spec = TrainingJob["spec"];

function trainingJob(
  options: {
    spec?: Partial<Spec>;
    status?: TrainingJobStatus;
    annotations?: Record<string, string>;
  } = {},
): StoredObject<TrainingJob> {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: {
      name: "ticket-triage",
      namespace: "ml",
      uid: "uid-1",
      resourceVersion: "7",
      generation: 3,
      ...(options.annotations ? { annotations: options.annotations } : {}),
    },
    spec: {
      baseModel: { repo: "acme/tiny" },
      dataset: { configMap: { name: "tickets" } },
      output: { volume: { claimName: "models" } },
      ...options.spec,
    },
    ...(options.status ? { status: options.status } : {}),
  };
}

const inputs: ResolvedInputs = {
  baseModel: { source: "huggingFace", repo: "acme/tiny", revision: "c".repeat(40) },
  dataset: { format: "chat", source: "configMap", name: "tickets", key: "data.jsonl", hash: "d1" },
};

/** 2 h on one A10G at 1.50 USD/h. */
function estimate(overrides: Partial<RunEstimate> = {}): RunEstimate {
  return {
    gpuType: "A10G",
    gpuCount: 1,
    hours: 2,
    costUSD: 3,
    pricePerHourUSD: 1.5,
    runPricePerHourUSD: 1.5,
    basis: "10k tokens × 3 epochs at 2k tokens/s",
    ...overrides,
  };
}

/** The request observe builds: pure, named by run and attempt. */
function request(runId: string, attempt: number, e: RunEstimate | undefined): AttemptRequest {
  return {
    owner: {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      namespace: "ml",
      name: "ticket-triage",
      uid: "uid-1",
    },
    runId,
    attempt,
    config: {
      runId,
      attempt,
      method: "sft",
      baseModel: { repo: "acme/tiny", revision: "c".repeat(40) },
      dataset: { format: "chat", path: "/data/data.jsonl" },
      hyperparameters: {
        epochs: 3,
        learningRate: 0.0002,
        lrScheduler: "cosine",
        warmupRatio: 0.03,
        batchSize: 4,
        gradientAccumulationSteps: 4,
        maxSeqLength: 2048,
      },
      output: { dir: `/models/${runId}` },
      checkpoints: { dir: `/models/${runId}/checkpoints`, saveSteps: 50 },
    },
    secrets: [],
    gpu: { type: e?.gpuType ?? "unknown", count: e?.gpuCount ?? 0 },
    options: {},
    outputVolume: "models",
  };
}

/** The attempt status records, as its backend sees it now. */
interface Recorded {
  runId: string;
  attempt: number;
  state: AttemptState | undefined;
}

function observed(
  options: {
    runId?: string;
    estimate?: RunEstimate | null;
    recorded?: Recorded;
    inputs?: ObservedTrainingJob["inputs"];
  } = {},
): ObservedTrainingJob {
  const e = options.estimate === undefined ? estimate() : options.estimate;
  const r = options.recorded;
  return {
    backend: "kubernetes",
    inputs: options.inputs ?? {
      ok: true,
      resolved: inputs,
      runId: options.runId ?? runA,
      generation: 3,
    },
    ...(e !== null ? { estimate: { ok: true, estimate: e } } : {}),
    ...(r
      ? {
          recorded: {
            runId: r.runId,
            attempt: r.attempt,
            ref: { name: `ticket-triage-${r.runId}-${String(r.attempt)}` },
            state: r.state,
          },
        }
      : {}),
    request,
  };
}

/** Status while `attempt` of `runId` runs, the run started `startedHoursAgo` ago. */
function running(
  runId: string,
  attempt: number,
  overrides: Partial<TrainingJobStatus> & { startedHoursAgo?: number } = {},
): TrainingJobStatus {
  const { startedHoursAgo = 1, ...rest } = overrides;
  return {
    runId,
    phase: "Running",
    attempts: attempt,
    job: {
      backend: "kubernetes",
      attempt,
      name: `ticket-triage-${runId}-${String(attempt)}`,
      startedAt: at(now - startedHoursAgo * hour),
    },
    startedAt: at(now - startedHoursAgo * hour),
    estimate: { gpuType: "A10G", gpuCount: 1, hours: 2, costUSD: 3, pricePerHourUSD: 1.5 },
    ...rest,
  };
}

function progress(step: number, totalSteps: number, loss?: number): AttemptState["lastProgress"] {
  return {
    llmops: 1,
    event: "progress",
    step,
    totalSteps,
    epoch: (3 * step) / totalSteps,
    ...(loss !== undefined ? { loss } : {}),
  };
}

function plan(object: StoredObject<TrainingJob>, o: ObservedTrainingJob) {
  return planTrainingJob({ object, observed: o, now });
}

const reasons = (p: ReturnType<typeof plan>) => (p.step?.events ?? []).map((e) => e.reason);

describe("planTrainingJob: starting a run", () => {
  it("a first reconcile submits attempt 1 of the run", () => {
    const p = plan(trainingJob(), observed());

    expect(p.actions?.submit).toEqual(request(runA, 1, estimate()));
    expect(p.actions?.cancel).toBeUndefined();
    const status = p.step?.status;
    expect(status?.runId).toBe(runA);
    expect(status?.phase).toBe("Running");
    expect(status?.attempts).toBe(1);
    expect(status?.job).toEqual({ backend: "kubernetes", attempt: 1, startedAt: at(now) });
    expect(status?.startedAt).toBe("2026-11-22T10:00:00Z");
    expect(status?.resolved).toEqual({ generation: 3, baseModel: "c".repeat(40), dataset: "d1" });
    expect(status?.estimate).toMatchObject({ gpuType: "A10G", gpuCount: 1, costUSD: 3 });
    expect(p.step?.outcome).toMatchObject({ state: "Progressing", reason: "Running" });
    expect(p.step?.requeueAfter).toBe(runningRequeueMs);
    const started = p.step?.events?.find((e) => e.reason === "Started");
    expect(started?.type).toBe("Normal");
    expect(started?.note).toContain(runA);
    expect(started?.note).toContain("A10G");
  });

  it("waits for the estimate before anything starts", () => {
    const p = plan(trainingJob(), observed({ estimate: null }));

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Pending");
    expect(p.step?.outcome).toMatchObject({ state: "Progressing", reason: "Estimating" });
  });

  it("a restart (status records attempt 1, its job runs) submits nothing", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Running" } } }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Running");
    expect(p.step?.status.attempts).toBe(1);
    expect(p.step?.status.job?.attempt).toBe(1);
    expect(p.step?.outcome.message).toContain("attempt 1 is starting");
    expect(reasons(p)).not.toContain("Started");
  });
});

describe("planTrainingJob: a running attempt", () => {
  it("updates progress (percent, loss, ETA) and spent, and requeues without submitting", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: {
            phase: "Running",
            lastProgress: progress(25, 100, 1.234567),
            startedAt: new Date(now - hour),
          },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.requeueAfter).toBe(runningRequeueMs);
    const status = p.step?.status;
    expect(status?.phase).toBe("Running");
    // 25 steps in 1 h: the 75 left take 3 h more.
    expect(status?.progress).toMatchObject({
      percent: 25,
      step: 25,
      totalSteps: 100,
      loss: 1.2346,
      eta: "2026-11-22T13:00:00Z",
      updatedAt: "2026-11-22T10:00:00Z",
    });
    expect(status?.spent).toEqual({
      costUSD: 1.5,
      gpuHours: 1,
      finishedCostUSD: 0,
      finishedGpuHours: 0,
    });
    expect(p.step?.outcome).toMatchObject({ state: "Progressing", reason: "Running" });
    expect(p.step?.outcome.message).toContain("step 25/100 (25%)");
    expect(p.step?.outcome.message).toContain("loss 1.2346");
    expect(p.step?.outcome.message).toContain("ETA 2026-11-22T13:00:00Z");
  });

  it("keeps updatedAt while the trainer reports the same step", () => {
    const p = plan(
      trainingJob({
        status: running(runA, 1, {
          progress: { percent: 25, step: 25, totalSteps: 100, updatedAt: "2026-11-22T09:59:00Z" },
        }),
      }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: { phase: "Running", lastProgress: progress(25, 100, 1.2) },
        },
      }),
    );

    expect(p.step?.status.progress?.updatedAt).toBe("2026-11-22T09:59:00Z");
  });

  it("a Succeeded attempt: phase Succeeded, output from the completed record, history, Ready", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1, { progress: { percent: 90, eta: at(now + hour) } }) }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: {
            phase: "Succeeded",
            lastProgress: progress(100, 100, 0.42),
            completed: {
              llmops: 1,
              event: "completed",
              output: {
                path: `/models/${runA}`,
                repo: "acme/tiny-triage",
                revision: "e".repeat(40),
              },
              metrics: { trainLoss: 0.42, steps: 100, seconds: 3600 },
              mlflow: { runId: "mlflow-run-1", modelVersion: "4" },
            },
          },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    const output = {
      repo: "acme/tiny-triage",
      revision: "e".repeat(40),
      volume: "models",
      mlflowRunId: "mlflow-run-1",
      modelVersion: "4",
    };
    const status = p.step?.status;
    expect(status?.phase).toBe("Succeeded");
    expect(status?.output).toEqual(output);
    expect(status?.completedAt).toBe("2026-11-22T10:00:00Z");
    expect(status?.progress?.percent).toBe(100);
    expect(status?.progress?.eta).toBeUndefined();
    expect(status?.history).toEqual([
      { runId: runA, phase: "Succeeded", output, finishedAt: "2026-11-22T10:00:00Z", costUSD: 1.5 },
    ]);
    expect(p.step?.outcome).toMatchObject({ state: "Ready", reason: "Succeeded" });
    expect(p.step?.outcome.message).toContain(`acme/tiny-triage@${"e".repeat(40)}`);
    expect(reasons(p)).toContain("Succeeded");
  });

  it("a Succeeded attempt without its completed record: the output is where the run writes it", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Succeeded" } } }),
    );

    expect(p.step?.status.output).toEqual({ path: `/models/${runA}`, volume: "models" });
  });

  it("a run that succeeded stays Ready and does nothing more", () => {
    const output = { path: `/models/${runA}`, volume: "models" };
    const p = plan(
      trainingJob({
        status: {
          ...running(runA, 1),
          phase: "Succeeded",
          output,
          completedAt: at(now - hour),
          history: [{ runId: runA, phase: "Succeeded", output, finishedAt: at(now - hour) }],
        },
      }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Succeeded" } } }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Succeeded");
    expect(p.step?.status.output).toEqual(output);
    expect(p.step?.outcome.state).toBe("Ready");
    expect(reasons(p)).toEqual([]);
  });
});

describe("planTrainingJob: attempts", () => {
  const checkpoint = {
    llmops: 1 as const,
    event: "checkpoint" as const,
    step: 50,
    path: `/models/${runA}/checkpoints/checkpoint-50`,
  };

  it("a retryable failure with attempts left submits the next attempt from the checkpoint", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: {
            phase: "Failed",
            retryable: true,
            reason: "OOMKilled",
            message: "the trainer was OOM-killed",
            lastCheckpoint: checkpoint,
          },
        },
      }),
    );

    expect(p.actions?.submit).toEqual(request(runA, 2, estimate()));
    expect(p.actions?.cancel).toBeUndefined();
    const status = p.step?.status;
    expect(status?.phase).toBe("Running");
    expect(status?.attempts).toBe(2);
    expect(status?.job).toEqual({ backend: "kubernetes", attempt: 2, startedAt: at(now) });
    // The run's start is the first attempt's; the first attempt's hour is counted as finished.
    expect(status?.startedAt).toBe(at(now - hour));
    expect(status?.spent).toEqual({
      costUSD: 1.5,
      gpuHours: 1,
      finishedCostUSD: 1.5,
      finishedGpuHours: 1,
    });
    expect(status?.progress?.checkpoint).toEqual({ step: 50, path: checkpoint.path });
    const warning = p.step?.events?.find((e) => e.reason === "AttemptFailed");
    expect(warning?.type).toBe("Warning");
    expect(warning?.note).toContain("OOMKilled");
    expect(warning?.note).toContain("attempt 2 of 2");
    expect(warning?.note).toContain("from the checkpoint at step 50");
    expect(reasons(p)).not.toContain("Started");
  });

  it("a permanent failure fails the run at once: Failed, Stalled, the trainer's message", () => {
    const p = plan(
      trainingJob({ spec: { maxAttempts: 5 }, status: running(runA, 1) }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: {
            phase: "Failed",
            retryable: false,
            reason: "DatasetFormat",
            message: "spec.dataset.format: line 3 has no messages; use chat records",
          },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.status.completedAt).toBe("2026-11-22T10:00:00Z");
    expect(p.step?.outcome).toEqual({
      state: "Stalled",
      reason: "DatasetFormat",
      message: `run ${runA} failed: spec.dataset.format: line 3 has no messages; use chat records`,
    });
  });

  it("attempts exhausted: Failed, Stalled, naming spec.maxAttempts", () => {
    const p = plan(
      trainingJob({ spec: { maxAttempts: 2 }, status: running(runA, 2) }),
      observed({
        recorded: {
          runId: runA,
          attempt: 2,
          state: { phase: "Failed", retryable: true, reason: "Evicted", message: "node drained" },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.outcome.state).toBe("Stalled");
    expect(p.step?.outcome.reason).toBe("Evicted");
    expect(p.step?.outcome.message).toContain("after 2 attempts");
    expect(p.step?.outcome.message).toContain("spec.maxAttempts 2");
  });

  it("maxAttempts defaults to 2", () => {
    const failed: AttemptState = { phase: "Failed", retryable: true, reason: "Evicted" };
    const second = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({ recorded: { runId: runA, attempt: 1, state: failed } }),
    );
    const third = plan(
      trainingJob({ status: running(runA, 2) }),
      observed({ recorded: { runId: runA, attempt: 2, state: failed } }),
    );

    expect(second.actions?.submit?.attempt).toBe(2);
    expect(third.actions).toBeUndefined();
    expect(third.step?.status.phase).toBe("Failed");
  });

  it("an attempt that is gone (its job deleted, the node lost) starts the next one", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1) }),
      observed({ recorded: { runId: runA, attempt: 1, state: undefined } }),
    );

    expect(p.actions?.submit).toEqual(request(runA, 2, estimate()));
    expect(p.step?.status.attempts).toBe(2);
    const warning = p.step?.events?.find((e) => e.reason === "AttemptFailed");
    expect(warning?.note).toContain("AttemptLost");
  });

  it("a failed run stays Failed with its reason until the spec changes", () => {
    const p = plan(
      trainingJob({
        status: {
          ...running(runA, 2),
          phase: "Failed",
          completedAt: at(now - hour),
          conditions: [
            {
              type: "Stalled",
              status: "True",
              reason: "DatasetFormat",
              message: "run failed: spec.dataset.format",
              lastTransitionTime: at(now - hour),
            },
          ],
        },
      }),
      observed({ recorded: { runId: runA, attempt: 2, state: { phase: "Failed" } } }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.outcome).toEqual({
      state: "Stalled",
      reason: "DatasetFormat",
      message: "run failed: spec.dataset.format",
    });
  });
});

describe("planTrainingJob: spec changes", () => {
  it("a new runId while running cancels the old attempt and submits attempt 1 of the new run", () => {
    const p = plan(
      trainingJob({
        status: running(runA, 1, {
          progress: { percent: 40, step: 40, totalSteps: 100 },
          spent: { costUSD: 1.5, gpuHours: 1 },
        }),
      }),
      observed({
        runId: runB,
        recorded: { runId: runA, attempt: 1, state: { phase: "Running" } },
      }),
    );

    expect(p.actions?.cancel).toEqual({ request: request(runA, 1, undefined), ref: jobA1 });
    expect(p.actions?.submit).toEqual(request(runB, 1, estimate()));
    const superseded = p.step?.events?.find((e) => e.reason === "RunSuperseded");
    expect(superseded?.note).toContain(runA);
    expect(superseded?.note).toContain(runB);
    const status = p.step?.status;
    expect(status?.runId).toBe(runB);
    expect(status?.attempts).toBe(1);
    expect(status?.job).toEqual({ backend: "kubernetes", attempt: 1, startedAt: at(now) });
    expect(status?.progress).toBeUndefined();
    expect(status?.spent).toBeUndefined();
    expect(status?.startedAt).toBe("2026-11-22T10:00:00Z");
    expect(status?.history).toEqual([
      { runId: runA, phase: "Cancelled", finishedAt: "2026-11-22T10:00:00Z", costUSD: 1.5 },
    ]);
  });

  it("a new runId before the old run started: no cancel, and no history entry for it", () => {
    const p = plan(
      trainingJob({ status: { runId: runA, phase: "AwaitingApproval", attempts: 0 } }),
      observed({ runId: runB }),
    );

    expect(p.actions?.cancel).toBeUndefined();
    expect(p.actions?.submit?.runId).toBe(runB);
    expect(p.step?.status.history).toBeUndefined();
  });

  it("a new runId after the old run failed: history keeps it as Failed, the new run starts", () => {
    const p = plan(
      trainingJob({
        status: { ...running(runA, 2), phase: "Failed", completedAt: at(now - hour) },
      }),
      observed({ runId: runB, recorded: { runId: runA, attempt: 2, state: { phase: "Failed" } } }),
    );

    expect(p.actions?.cancel).toBeUndefined();
    expect(p.actions?.submit).toEqual(request(runB, 1, estimate()));
    expect(p.step?.status.history).toEqual([
      { runId: runA, phase: "Failed", finishedAt: at(now - hour) },
    ]);
  });

  const outputA = { path: `/models/${runA}`, volume: "models" };
  const outputB = { path: `/models/${runB}`, volume: "models" };

  it("a revert to a run that succeeded reuses its output: no submit, no cancel", () => {
    const p = plan(
      trainingJob({
        status: {
          ...running(runB, 1),
          phase: "Succeeded",
          output: outputB,
          completedAt: at(now - hour),
          history: [
            { runId: runB, phase: "Succeeded", output: outputB, finishedAt: at(now - hour) },
            { runId: runA, phase: "Succeeded", output: outputA, finishedAt: at(now - 5 * hour) },
          ],
        },
      }),
      observed({
        runId: runA,
        recorded: { runId: runB, attempt: 1, state: { phase: "Succeeded" } },
      }),
    );

    expect(p.actions).toBeUndefined();
    const status = p.step?.status;
    expect(status?.runId).toBe(runA);
    expect(status?.phase).toBe("Succeeded");
    expect(status?.output).toEqual(outputA);
    expect(status?.completedAt).toBe(at(now - 5 * hour));
    expect(status?.progress?.percent).toBe(100);
    expect(status?.history?.map((h) => [h.runId, h.phase])).toEqual([
      [runB, "Succeeded"],
      [runA, "Succeeded"],
    ]);
    expect(p.step?.outcome.state).toBe("Ready");
    expect(reasons(p)).toEqual(["RunReused"]);
    expect(p.step?.events?.[0]?.note).toContain(runA);
  });

  it("the reused run's next reconcile says nothing again", () => {
    const history: TrainingJobStatusHistoryEntry[] = [
      { runId: runB, phase: "Succeeded", output: outputB, finishedAt: at(now - hour) },
      { runId: runA, phase: "Succeeded", output: outputA, finishedAt: at(now - 5 * hour) },
    ];
    const p = plan(
      trainingJob({
        status: {
          runId: runA,
          phase: "Succeeded",
          attempts: 0,
          output: outputA,
          progress: { percent: 100 },
          completedAt: at(now - 5 * hour),
          history,
        },
      }),
      observed({ runId: runA }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Succeeded");
    expect(reasons(p)).toEqual([]);
  });

  it("a revert while another run trains cancels that run and reuses the output, training nothing", () => {
    const p = plan(
      trainingJob({
        status: running(runB, 1, {
          history: [
            { runId: runA, phase: "Succeeded", output: outputA, finishedAt: at(now - 5 * hour) },
          ],
        }),
      }),
      observed({ runId: runA, recorded: { runId: runB, attempt: 1, state: { phase: "Running" } } }),
    );

    expect(p.actions?.submit).toBeUndefined();
    expect(p.actions?.cancel?.request.runId).toBe(runB);
    expect(p.step?.status.phase).toBe("Succeeded");
    expect(p.step?.status.output).toEqual(outputA);
    expect(reasons(p)).toEqual(["RunSuperseded", "RunReused"]);
    expect(p.step?.status.history?.map((h) => [h.runId, h.phase])).toEqual([
      [runB, "Cancelled"],
      [runA, "Succeeded"],
    ]);
  });

  it("a revert to a run that was cancelled trains it again", () => {
    const p = plan(
      trainingJob({
        status: {
          ...running(runB, 1),
          phase: "Succeeded",
          output: outputB,
          history: [{ runId: runA, phase: "Cancelled", finishedAt: at(now - 5 * hour) }],
        },
      }),
      observed({
        runId: runA,
        recorded: { runId: runB, attempt: 1, state: { phase: "Succeeded" } },
      }),
    );

    expect(p.actions?.submit?.runId).toBe(runA);
    expect(p.step?.status.phase).toBe("Running");
  });
});

describe("planTrainingJob: suspend", () => {
  it("suspend while running cancels the attempt: phase Cancelled, Ready=False Suspended, not Stalled", () => {
    const p = plan(
      trainingJob({ spec: { suspend: true }, status: running(runA, 1) }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Running" } } }),
    );

    expect(p.actions?.cancel).toEqual({ request: request(runA, 1, undefined), ref: jobA1 });
    expect(p.actions?.submit).toBeUndefined();
    expect(p.step?.status.phase).toBe("Cancelled");
    expect(p.step?.outcome).toMatchObject({ state: "Suspended", reason: "Suspended" });
    expect(reasons(p)).toEqual(["Suspended"]);
    // What the status then says: a suspension the user asked for is not a failure (kstatus reads
    // Stalled as Failed, Reconciling as InProgress), and this generation counts as handled.
    const summary = summarize({
      previous: [],
      previousObservedGeneration: -1,
      generation: 1,
      outcome: p.step?.outcome ?? { state: "Ready", message: "" },
      now: "2026-01-01T00:00:00Z",
    });
    expect(summary.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Ready", "False", "Suspended"],
    ]);
    expect(summary.observedGeneration).toBe(1);
  });

  it("suspend before the run started: nothing is submitted", () => {
    const p = plan(trainingJob({ spec: { suspend: true } }), observed());

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Pending");
    expect(p.step?.status.runId).toBe(runA);
    expect(p.step?.outcome).toMatchObject({ state: "Suspended", reason: "Suspended" });
  });

  it("a suspended run stays Cancelled and cancels nothing more", () => {
    const p = plan(
      trainingJob({ spec: { suspend: true }, status: { ...running(runA, 1), phase: "Cancelled" } }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Cancelled" } } }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Cancelled");
  });

  it("resuming starts the next attempt from the checkpoint, even when that was the last one", () => {
    const p = plan(
      trainingJob({
        spec: { maxAttempts: 1 },
        status: {
          ...running(runA, 1),
          phase: "Cancelled",
          progress: { checkpoint: { step: 50, path: "/models/ckpt-50" } },
        },
      }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Cancelled" } } }),
    );

    expect(p.actions?.submit).toEqual(request(runA, 2, estimate()));
    expect(p.step?.status.phase).toBe("Running");
    expect(p.step?.status.attempts).toBe(2);
    expect(reasons(p)).toEqual(["Resumed"]);
    expect(p.step?.events?.[0]?.note).toContain("from the checkpoint at step 50");
  });

  it("resuming after the attempt failed while suspended follows the failure rules", () => {
    const p = plan(
      trainingJob({
        spec: { maxAttempts: 1 },
        status: { ...running(runA, 1), phase: "Cancelled" },
      }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: { phase: "Failed", retryable: false, reason: "DatasetFormat", message: "bad" },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.outcome.reason).toBe("DatasetFormat");
  });
});

describe("planTrainingJob: budget and approval", () => {
  it("an estimate above budget.maxCostUSD is refused: Stalled BudgetExceeded, nothing submitted", () => {
    const p = plan(
      trainingJob({ spec: { budget: { maxCostUSD: 100 } } }),
      observed({ estimate: estimate({ costUSD: 120 }) }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Pending");
    expect(p.step?.status.estimate?.costUSD).toBe(120);
    expect(p.step?.outcome).toMatchObject({ state: "Stalled", reason: "BudgetExceeded" });
    expect(p.step?.outcome.message).toContain("120.00 USD");
    expect(p.step?.outcome.message).toContain("budget.maxCostUSD 100.00 USD");
  });

  const gated = { budget: { maxCostUSD: 100, approvalThresholdUSD: 50 } };
  const costly = estimate({ costUSD: 80 });

  it("an estimate above approvalThresholdUSD waits for approval in git", () => {
    const p = plan(trainingJob({ spec: gated }), observed({ estimate: costly }));

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("AwaitingApproval");
    expect(p.step?.outcome).toMatchObject({ state: "Progressing", reason: "AwaitingApproval" });
    expect(p.step?.outcome.message).toContain("llmops approve trainingjob/ticket-triage");
    expect(p.step?.outcome.message).toContain(`${approvedRunAnnotation}: ${runA}`);
    expect(p.step?.outcome.message).not.toContain("not this one");
    expect(reasons(p)).toEqual(["AwaitingApproval"]);
  });

  it("still waiting: no second AwaitingApproval event", () => {
    const p = plan(
      trainingJob({ spec: gated, status: { runId: runA, phase: "AwaitingApproval", attempts: 0 } }),
      observed({ estimate: costly }),
    );

    expect(p.actions).toBeUndefined();
    expect(reasons(p)).toEqual([]);
  });

  it("the annotation approving this runId starts it", () => {
    const p = plan(
      trainingJob({
        spec: gated,
        status: { runId: runA, phase: "AwaitingApproval", attempts: 0 },
        annotations: { [approvedRunAnnotation]: runA },
      }),
      observed({ estimate: costly }),
    );

    expect(p.actions?.submit).toEqual(request(runA, 1, costly));
    expect(p.step?.status.phase).toBe("Running");
  });

  it("an approval binds to one runId: the annotation for another run keeps it waiting", () => {
    const p = plan(
      trainingJob({ spec: gated, annotations: { [approvedRunAnnotation]: runB } }),
      observed({ estimate: costly }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("AwaitingApproval");
    expect(p.step?.outcome.message).toContain(`approves run ${runB}, not this one`);
  });

  it("an estimate at or below the threshold starts without approval", () => {
    const p = plan(trainingJob({ spec: gated }), observed({ estimate: estimate({ costUSD: 50 }) }));

    expect(p.actions?.submit?.attempt).toBe(1);
  });

  it("running past budget.maxHours: cancelled, Failed, BudgetExceeded, the checkpoint kept", () => {
    const p = plan(
      trainingJob({
        spec: { budget: { maxCostUSD: 100, maxHours: 2 } },
        status: running(runA, 1, { startedHoursAgo: 3 }),
      }),
      observed({
        recorded: {
          runId: runA,
          attempt: 1,
          state: {
            phase: "Running",
            startedAt: new Date(now - 3 * hour),
            lastCheckpoint: { llmops: 1, event: "checkpoint", step: 150, path: "/c/150" },
          },
        },
      }),
    );

    expect(p.actions?.cancel).toEqual({ request: request(runA, 1, estimate()), ref: jobA1 });
    expect(p.actions?.submit).toBeUndefined();
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.status.completedAt).toBe("2026-11-22T10:00:00Z");
    expect(p.step?.outcome).toMatchObject({ state: "Stalled", reason: "BudgetExceeded" });
    expect(p.step?.outcome.message).toContain("attempt 1 ran 3.0 h, budget.maxHours is 2");
    expect(p.step?.outcome.message).toContain("(step 150)");
  });

  it("budget.maxHours is per attempt: a retry that just started keeps running", () => {
    const p = plan(
      trainingJob({
        spec: { budget: { maxCostUSD: 100, maxHours: 2 } },
        status: running(runA, 2, { startedHoursAgo: 3 }),
      }),
      observed({
        recorded: {
          runId: runA,
          attempt: 2,
          state: { phase: "Running", startedAt: new Date(now - 0.5 * hour) },
        },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Running");
  });

  it("budget.maxHours: a retry submitted a moment ago is not stopped by the run's hours", () => {
    const status = running(runA, 2, { startedHoursAgo: 3 });
    const p = plan(
      trainingJob({
        spec: { budget: { maxCostUSD: 100, maxHours: 2 } },
        status: { ...status, job: { ...status.job, startedAt: at(now - 0.1 * hour) } },
      }),
      observed({ recorded: { runId: runA, attempt: 2, state: { phase: "Pending" } } }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Running");
  });

  it("time spent suspended costs nothing: a resume three days later counts only the hour that ran", () => {
    const suspended = plan(
      trainingJob({ spec: { suspend: true }, status: running(runA, 1, { startedHoursAgo: 1 }) }),
      observed({ recorded: { runId: runA, attempt: 1, state: { phase: "Running" } } }),
    );
    const stopped = suspended.step?.status;
    expect(stopped?.phase).toBe("Cancelled");
    expect(stopped?.spent).toEqual({
      costUSD: 1.5,
      gpuHours: 1,
      finishedCostUSD: 1.5,
      finishedGpuHours: 1,
    });
    expect(stopped?.job?.startedAt).toBeUndefined();
    const later = now + 72 * hour;
    const resumed = planTrainingJob({
      object: trainingJob({ spec: { budget: { maxCostUSD: 5 } }, status: stopped }),
      observed: observed({ recorded: { runId: runA, attempt: 1, state: undefined } }),
      now: later,
    });
    expect(resumed.actions?.submit?.attempt).toBe(2);
    expect(resumed.step?.status.spent?.costUSD).toBe(1.5);
    expect(resumed.step?.status.job?.startedAt).toBe(at(later));
  });

  it("spent reaching budget.maxCostUSD: cancelled, Failed, BudgetExceeded", () => {
    const p = plan(
      trainingJob({
        spec: { budget: { maxCostUSD: 100 } },
        status: running(runA, 1, { startedHoursAgo: 10 }),
      }),
      observed({
        estimate: estimate({ costUSD: 90, pricePerHourUSD: 10, runPricePerHourUSD: 10 }),
        recorded: { runId: runA, attempt: 1, state: { phase: "Running" } },
      }),
    );

    expect(p.actions?.cancel?.ref).toEqual(jobA1);
    expect(p.actions?.submit).toBeUndefined();
    expect(p.step?.status.spent).toEqual({
      costUSD: 100,
      gpuHours: 10,
      finishedCostUSD: 0,
      finishedGpuHours: 0,
    });
    expect(p.step?.status.phase).toBe("Failed");
    expect(p.step?.outcome).toMatchObject({ state: "Stalled", reason: "BudgetExceeded" });
    expect(p.step?.outcome.message).toContain("budget.maxCostUSD is 100.00 USD");
  });

  it("spent below budget.maxCostUSD keeps running", () => {
    const p = plan(
      trainingJob({
        spec: { budget: { maxCostUSD: 100 } },
        status: running(runA, 1, { startedHoursAgo: 9 }),
      }),
      observed({
        estimate: estimate({ costUSD: 90, pricePerHourUSD: 10, runPricePerHourUSD: 10 }),
        recorded: { runId: runA, attempt: 1, state: { phase: "Running" } },
      }),
    );

    expect(p.actions).toBeUndefined();
    expect(p.step?.status.phase).toBe("Running");
  });
});

describe("planTrainingJob: inputs that cannot be resolved", () => {
  const unresolved = (kind: "wait" | "stall") =>
    observed({
      inputs: { ok: false, kind, reason: "HubUnavailable", message: "the Hub answered 503" },
      recorded: { runId: runA, attempt: 1, state: { phase: "Running" } },
    });

  it("wait: a running attempt is not cancelled and status stays as it is", () => {
    const status = running(runA, 1);
    const p = plan(trainingJob({ status }), unresolved("wait"));

    expect(p.actions).toBeUndefined();
    expect(p.step?.status).toEqual(status);
    expect(p.step?.outcome).toEqual({
      state: "Progressing",
      reason: "HubUnavailable",
      message: "the Hub answered 503",
    });
  });

  it("stall: Stalled, and still nothing cancelled", () => {
    const p = plan(trainingJob({ status: running(runA, 1) }), unresolved("stall"));

    expect(p.actions).toBeUndefined();
    expect(p.step?.outcome.state).toBe("Stalled");
  });
});

describe("history", () => {
  const entry = (runId: string, phase: TrainingJobStatusHistoryEntry["phase"] = "Succeeded") => ({
    runId,
    phase,
    finishedAt: at(now),
  });
  const full = Array.from({ length: historyLimit }, (_, i) => entry(`run-${String(i)}`));

  it(`is bounded to ${String(historyLimit)} runs, newest first`, () => {
    const next = withHistory(full, entry("new"));

    expect(next).toHaveLength(historyLimit);
    expect(next[0]?.runId).toBe("new");
    expect(next.map((h) => h.runId)).not.toContain(`run-${String(historyLimit - 1)}`);
  });

  it("holds one entry per runId, moved to the front", () => {
    const next = withHistory([entry("a", "Failed"), entry("b")], entry("b", "Cancelled"));

    expect(next.map((h) => [h.runId, h.phase])).toEqual([
      ["b", "Succeeded"],
      ["a", "Failed"],
    ]);
  });

  it("a run that succeeded once stays reusable when a later try of it is cancelled", () => {
    const next = withHistory([entry("a")], entry("a", "Cancelled"));

    expect(next).toEqual([entry("a")]);
  });

  it("a spec change with a full history keeps it bounded, the superseded run first", () => {
    const p = plan(
      trainingJob({ status: running(runA, 1, { history: full }) }),
      observed({ runId: runB, recorded: { runId: runA, attempt: 1, state: { phase: "Running" } } }),
    );

    const history = p.step?.status.history ?? [];
    expect(history).toHaveLength(historyLimit);
    expect(history[0]).toMatchObject({ runId: runA, phase: "Cancelled" });
    expect(new Set(history.map((h) => h.runId)).size).toBe(historyLimit);
  });
});
