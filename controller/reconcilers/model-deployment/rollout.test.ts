import { describe, expect, it } from "vitest";
import type { ModelDeployment, ModelDeploymentStatus } from "../../api/generated/index.js";
import {
  afterMeasurement,
  planRollout,
  type MetricVerdict,
  type RolloutDecision,
} from "./rollout.js";

const t0 = Date.parse("2026-12-01T10:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

const steps = [
  { setWeight: 10 },
  { pause: { duration: "1m" } },
  { analysis: { metrics: ["errors"], count: 2 } },
  { setWeight: 50 },
  { pause: {} },
];

function md(
  status: ModelDeploymentStatus = {},
  spec: Partial<ModelDeployment["spec"]> = {},
): ModelDeployment {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "coder", namespace: "ns", generation: 2 },
    spec: {
      model: { huggingFace: { repo: "acme/coder" } },
      strategy: {
        type: "Canary",
        canary: {
          steps,
          analysis: {
            interval: "30s",
            failureLimit: 1,
            consecutiveErrorLimit: 2,
            metrics: [
              { name: "errors", successCondition: "result < 0.01", prometheus: { query: "q" } },
            ],
          },
        },
      },
      ...spec,
    },
    status,
  };
}

const inRollout = (
  step: number,
  weight: number,
  rollout: ModelDeploymentStatus["rollout"] = {},
) => ({
  stableRevision: "coder-old",
  canaryRevision: "coder-new",
  currentStep: step,
  canaryWeight: weight,
  rollout: {
    startedAt: iso(t0),
    stepStartedAt: iso(t0),
    measurementsTaken: 0,
    failures: 0,
    consecutiveErrors: 0,
    ...rollout,
  },
});

describe("planRollout", () => {
  const rows: {
    name: string;
    object: ModelDeployment;
    available?: string[];
    warm?: string[];
    now?: number;
    promote?: boolean;
    retryToken?: string;
    want: Partial<
      Pick<
        RolloutDecision,
        "stable" | "canary" | "canaryWeight" | "currentStep" | "phase" | "measure"
      >
    > & {
      reason?: string;
      retired?: string[];
      requeueAfter?: number;
    };
  }[] = [
    {
      name: "the first revision takes all traffic once Available (no canary for it)",
      object: md(),
      available: ["coder-new"],
      want: { stable: "coder-new", canary: undefined, phase: "Healthy", reason: "Healthy" },
    },
    {
      name: "the first revision not yet Available: waiting, no weight",
      object: md(),
      available: [],
      want: {
        stable: undefined,
        canary: "coder-new",
        canaryWeight: 0,
        phase: "Progressing",
        reason: "RevisionNotAvailable",
      },
    },
    {
      name: "a new revision starts at step 0: setWeight 10 then the 1m pause",
      object: md({ stableRevision: "coder-old", phase: "Healthy" }),
      want: {
        canary: "coder-new",
        canaryWeight: 10,
        currentStep: 1,
        phase: "Paused",
        reason: "Paused",
        requeueAfter: 60_000,
      },
    },
    {
      name: "a pause that has run its time moves on to the analysis, which measures at once",
      object: md(inRollout(1, 10)),
      now: t0 + 61_000,
      want: {
        canaryWeight: 10,
        currentStep: 2,
        phase: "Progressing",
        reason: "Analyzing",
        measure: ["errors"],
      },
    },
    {
      name: "an analysis measured 20 s ago waits for its 30 s interval",
      object: md(inRollout(2, 10, { lastMeasuredAt: iso(t0), measurementsTaken: 1 })),
      now: t0 + 20_000,
      want: { currentStep: 2, measure: undefined, requeueAfter: 10_000 },
    },
    {
      name: "an analysis with its count of measurements moves on to 50% and the indefinite pause",
      object: md(inRollout(2, 10, { lastMeasuredAt: iso(t0), measurementsTaken: 2 })),
      now: t0 + 40_000,
      want: { canaryWeight: 50, currentStep: 4, phase: "Paused" },
    },
    {
      name: "promote skips the remaining steps; the old stable retires (warm)",
      object: md(inRollout(4, 50)),
      promote: true,
      want: { stable: "coder-new", canary: undefined, phase: "Healthy", retired: ["coder-old"] },
    },
    {
      name: "spec.abort: all traffic on stable",
      object: md(inRollout(4, 50), { abort: true }),
      want: {
        stable: "coder-old",
        canary: "coder-new",
        canaryWeight: 0,
        phase: "Aborted",
        reason: "Aborted",
      },
    },
    {
      name: "abort cleared: the rollout starts again at the first step",
      object: md({ ...inRollout(4, 0), phase: "Aborted" }),
      want: { canaryWeight: 10, currentStep: 1, phase: "Paused" },
    },
    {
      name: "aborted by analysis: stays aborted without a new retry token",
      object: md(inRollout(2, 0, { abortedRevision: "coder-new", retryToken: "1" })),
      retryToken: "1",
      want: { canaryWeight: 0, phase: "Aborted", reason: "AnalysisFailed" },
    },
    {
      name: "aborted by analysis: a new retry token rolls it out again",
      object: md(inRollout(2, 0, { abortedRevision: "coder-new", retryToken: "1" })),
      retryToken: "2",
      want: { canaryWeight: 10, currentStep: 1, phase: "Paused" },
    },
    {
      name: "spec.paused holds the step and the weight",
      object: md(inRollout(2, 10), { paused: true }),
      want: {
        canaryWeight: 10,
        currentStep: 2,
        phase: "Paused",
        reason: "Paused",
        measure: undefined,
      },
    },
    {
      name: "a canary that stops being Available gets no weight",
      object: md(inRollout(2, 10)),
      available: [],
      now: t0 + 5_000,
      want: { canaryWeight: 0, phase: "Progressing", reason: "RevisionNotAvailable" },
    },
    {
      name: "past the progress deadline: Degraded, traffic on stable",
      object: md(inRollout(0, 0)),
      available: [],
      now: t0 + 601_000,
      want: { canaryWeight: 0, phase: "Degraded", reason: "ProgressDeadlineExceeded" },
    },
    {
      name: "back to a warm revision (a revert): all traffic at once, no steps",
      object: md({ stableRevision: "coder-old", phase: "Healthy" }),
      warm: ["coder-new"],
      want: { stable: "coder-new", canary: undefined, phase: "Healthy", retired: ["coder-old"] },
    },
    {
      name: "back to stable mid-rollout: the canary is dropped",
      object: md({
        ...inRollout(3, 50),
        stableRevision: "coder-new",
        canaryRevision: "coder-next",
      }),
      want: { stable: "coder-new", canary: undefined, canaryWeight: 0, phase: "Healthy" },
    },
    {
      name: "Immediate: all traffic once Available",
      object: md({ stableRevision: "coder-old" }, { strategy: { type: "Immediate" } }),
      want: { stable: "coder-new", canary: undefined, phase: "Healthy", retired: ["coder-old"] },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const available = new Set(row.available ?? ["coder-new", "coder-old"]);
      const decision = planRollout({
        object: row.object,
        desired: "coder-new",
        warm: row.warm ?? [],
        available: (r) => available.has(r),
        now: row.now ?? t0,
        promote: row.promote ?? false,
        retryToken: row.retryToken,
      });
      const { reason, retired, requeueAfter, ...fields } = row.want;
      expect(decision).toMatchObject(fields);
      if ("measure" in row.want) expect(decision.measure).toEqual(row.want.measure);
      if ("canary" in row.want) expect(decision.canary).toBe(row.want.canary);
      if (reason !== undefined) expect(decision.outcome.reason).toBe(reason);
      if (retired !== undefined) expect(decision.retired).toEqual(retired);
      if (requeueAfter !== undefined) expect(decision.requeueAfter).toBe(requeueAfter);
    });
  }
});

describe("afterMeasurement", () => {
  const analysing = (rollout: ModelDeploymentStatus["rollout"] = {}) => {
    const object = md(inRollout(2, 10, rollout));
    const decision = planRollout({
      object,
      desired: "coder-new",
      warm: [],
      available: () => true,
      now: t0 + 60_000,
      promote: false,
      retryToken: undefined,
    });
    return { object, decision };
  };
  const verdict = (v: MetricVerdict["verdict"], value?: number): MetricVerdict => ({
    metric: "errors",
    verdict: v,
    ...(value !== undefined ? { value } : {}),
    message: `errors = ${String(value)}: ${v}`,
  });
  it.each([
    [
      "a success counts toward the step",
      [verdict("Successful", 0.001)],
      {},
      { phase: "Progressing", taken: 1, failures: 0 },
    ],
    [
      "a failure under the limit is counted",
      [verdict("Failed", 0.2)],
      {},
      { phase: "Progressing", taken: 0, failures: 1 },
    ],
    [
      "a failure past failureLimit aborts, weight 0",
      [verdict("Failed", 0.2)],
      { failures: 1 },
      { phase: "Aborted", failures: 2, weight: 0 },
    ],
    [
      "an error is not a failure",
      [verdict("Error")],
      {},
      { phase: "Progressing", failures: 0, errors: 1 },
    ],
    [
      "errors past consecutiveErrorLimit abort",
      [verdict("Error")],
      { consecutiveErrors: 2 },
      { phase: "Aborted", errors: 3, weight: 0 },
    ],
    [
      "a success clears the error streak",
      [verdict("Successful", 0)],
      { consecutiveErrors: 2 },
      { phase: "Progressing", errors: 0, taken: 1 },
    ],
    [
      "inconclusive holds the rollout",
      [verdict("Inconclusive", 0.02)],
      {},
      { phase: "Paused", failures: 0 },
    ],
  ] as const)("%s", (_name, verdicts, rollout, want) => {
    const { object, decision } = analysing(rollout);
    const next = afterMeasurement({ object, decision, verdicts, now: t0 + 60_000 });
    expect(next.phase).toBe(want.phase);
    if ("taken" in want) expect(next.rollout?.measurementsTaken).toBe(want.taken);
    if ("failures" in want) expect(next.rollout?.failures).toBe(want.failures);
    if ("errors" in want) expect(next.rollout?.consecutiveErrors).toBe(want.errors);
    if ("weight" in want) expect(next.canaryWeight).toBe(want.weight);
    if (want.phase === "Aborted") expect(next.rollout?.abortedRevision).toBe("coder-new");
    expect(next.rollout?.lastMeasuredAt).toBe(iso(t0 + 60_000));
    expect(next.events.map((e) => e.reason)).toContain(`Measurement${verdicts[0].verdict}`);
  });
});
