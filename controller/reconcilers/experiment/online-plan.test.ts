import { describe, expect, it } from "vitest";
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { Moments } from "../../analysis/moments.js";
import type { StoredObject } from "../../kube/resources.js";
import type { RunState } from "../../online/state.js";
import { planOnline, type ObservedOnline } from "./online-plan.js";

const now = "2026-12-01T10:00:00Z";

function experiment(
  options: {
    status?: ExperimentStatus;
    analysis?: Partial<NonNullable<Experiment["spec"]["analysis"]>>;
    weights?: [number, number];
  } = {},
): StoredObject<Experiment> {
  const [wa, wb] = options.weights ?? [50, 50];
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Experiment",
    metadata: { name: "ab", namespace: "team-a", uid: "u1", resourceVersion: "1", generation: 1 },
    spec: {
      variants: [
        { name: "base", control: true, prompt: { name: "p", label: "production" } },
        { name: "cand", prompt: { name: "p", label: "staging" } },
      ],
      evaluators: [
        { name: "converted", type: "outcome", outcome: { kind: "binary" } },
        { name: "latency", type: "outcome" },
      ],
      analysis: { primaryMetric: "converted", minSamples: 100, ...options.analysis },
      traffic: {
        weights: [
          { variant: "base", weight: wa },
          { variant: "cand", weight: wb },
        ],
      },
    },
    ...(options.status ? { status: options.status } : {}),
  };
}

/** Moments of `n` 0/1 values with rate `p` (p·n must be whole). */
const rate = (n: number, p: number): Moments => ({ n, mean: p, m2: n * p * (1 - p) });
/** Moments of `n` values with mean `mean` and sample SD `sd`. */
const normal = (n: number, mean: number, sd: number): Moments => ({
  n,
  mean,
  m2: sd * sd * (n - 1),
});

function state(
  variants: Record<string, { exposures: number; metrics: Record<string, Moments> }>,
): RunState {
  return {
    version: 1,
    runId: "r1",
    startedAt: "2026-12-01T09:00:00Z",
    variants,
    outcomes: Object.values(variants).reduce((s, v) => s + (v.metrics.converted?.n ?? 0), 0),
    segments: [],
  };
}

const observed = (s: RunState | undefined, runId = "r1"): ObservedOnline => ({
  variants: [
    { name: "base", control: true, prompt: "p", promptVersion: 3 },
    { name: "cand", control: false, prompt: "p", promptVersion: 4 },
  ],
  runId,
  startedAt: "2026-12-01T09:00:00Z",
  state: s,
});

const runningR1: ExperimentStatus = { phase: "Running", online: { runId: "r1" } };

/** The mSPRT p-value recomputed here from the documented formula, not through msprt(). */
function independentP(a: Moments, b: Moments, effectSize = 0.1): number {
  const va = a.m2 / (a.n - 1);
  const vb = b.m2 / (b.n - 1);
  const V = va / a.n + vb / b.n;
  const tau2 = effectSize ** 2 * ((a.m2 + b.m2) / (a.n + b.n - 2));
  const d = b.mean - a.mean;
  const lambda = Math.sqrt(V / (V + tau2)) * Math.exp((tau2 * d * d) / (2 * V * (V + tau2)));
  return Math.min(1, 1 / lambda);
}

describe("planOnline", () => {
  it("a new run: names it in status.online, prunes earlier runs, collects", () => {
    const plan = planOnline({ object: experiment(), observed: observed(undefined), now });
    expect(plan.step?.outcome).toMatchObject({ state: "Progressing", reason: "Collecting" });
    expect(plan.actions?.then).toEqual({ kind: "online", prune: true, report: false });
    expect(plan.step?.status.phase).toBe("Running");
    expect(plan.step?.status.online).toMatchObject({
      runId: "r1",
      salt: "",
      weights: [
        { variant: "base", weight: 50 },
        { variant: "cand", weight: 50 },
      ],
      variants: [
        { name: "base", prompt: "p", promptVersion: 3 },
        { name: "cand", prompt: "p", promptVersion: 4 },
      ],
      exposures: 0,
      outcomes: 0,
    });
  });

  it("counts of another run are not used", () => {
    const s = state({ base: { exposures: 500, metrics: { converted: rate(500, 0.1) } } });
    const plan = planOnline({ object: experiment(), observed: observed(s, "r2"), now });
    expect(plan.step?.status.online?.exposures).toBe(0);
    expect(plan.step?.status.results?.[0]?.n).toBe(0);
  });

  it("below minSamples: collecting, with per-variant exposures, n, means and intervals", () => {
    const s = state({
      base: { exposures: 60, metrics: { converted: rate(50, 0.2), latency: normal(50, 300, 40) } },
      cand: { exposures: 58, metrics: { converted: rate(40, 0.5) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1 }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.outcome.reason).toBe("Collecting");
    expect(plan.step?.outcome.message).toMatch(/n = 40 .*at least 100/);
    expect(plan.actions?.then).toMatchObject({ prune: false });
    const base = plan.step?.status.results?.[0];
    expect(base).toMatchObject({ variant: "base", promptVersion: 3, n: 50, exposures: 60 });
    const converted = base?.metrics?.find((m) => m.name === "converted");
    expect(converted).toMatchObject({ n: 50, mean: 0.2, passRate: 0.2 });
    expect(converted?.ciLow).toBeLessThan(0.2);
    const latency = base?.metrics?.find((m) => m.name === "latency");
    expect(latency).toMatchObject({ n: 50, mean: 300 });
    expect(latency?.passRate).toBeUndefined();
  });

  it("a clearly better candidate: Completed with the winner, p as recomputed independently", () => {
    const a = rate(2000, 0.1);
    const b = rate(2000, 0.15);
    const s = state({
      base: { exposures: 2000, metrics: { converted: a } },
      cand: { exposures: 2000, metrics: { converted: b } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1 }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.outcome).toMatchObject({ state: "Ready", reason: "Completed" });
    expect(plan.step?.status).toMatchObject({
      phase: "Completed",
      winner: "cand",
      completedAt: now,
    });
    expect(plan.actions?.then.kind).toBe("promotion");
    const c = plan.step?.status.comparisons?.[0];
    expect(c).toMatchObject({
      variant: "cand",
      metric: "converted",
      test: "msprt",
      significant: true,
    });
    expect(c?.delta).toBeCloseTo(0.05, 9);
    expect(c?.pValue).toBeCloseTo(independentP(a, b), 7);
    expect(c?.ciLow).toBeGreaterThan(0);
    expect(plan.step?.status.recommendation).toMatch(/cand beats base on converted by \+5\.0 pts/);
  });

  it("a small difference: no decision yet, however much is looked at", () => {
    const s = state({
      base: { exposures: 2000, metrics: { converted: rate(2000, 0.1) } },
      cand: { exposures: 2000, metrics: { converted: rate(2000, 0.11) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1 }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.outcome.reason).toBe("Collecting");
    expect(plan.step?.outcome.message).toMatch(/no decision yet \(best: cand \+1\.0 pts/);
    expect(plan.step?.status.comparisons?.[0]?.significant).toBe(false);
  });

  it("a sample ratio mismatch holds the decision and warns once", () => {
    const s = state({
      base: { exposures: 2300, metrics: { converted: rate(2000, 0.1) } },
      cand: { exposures: 2000, metrics: { converted: rate(2000, 0.15) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1 }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.outcome.reason).toBe("SampleRatioMismatch");
    expect(plan.step?.outcome.message).toMatch(
      /base 2300 \(expected 2150\), cand 2000 \(expected 2150\)/,
    );
    expect(plan.step?.status.winner).toBeUndefined();
    expect(plan.step?.status.online?.srm?.mismatch).toBe(true);
    expect(plan.step?.events?.[0]).toMatchObject({
      type: "Warning",
      reason: "SampleRatioMismatch",
    });
    const again = planOnline({
      object: experiment({
        status: { ...runningR1, online: { runId: "r1", srm: { mismatch: true } } },
      }),
      observed: observed(s),
      now,
    });
    expect(again.step?.events).toEqual([]);
  });

  it("uneven weights are no mismatch when the exposures follow them", () => {
    const s = state({
      base: { exposures: 8000, metrics: { converted: rate(100, 0.1) } },
      cand: { exposures: 2000, metrics: { converted: rate(100, 0.1) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1, weights: [80, 20] }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.status.online?.srm).toMatchObject({ mismatch: false, df: 1, chiSquare: 0 });
  });

  it("the control clearly better: Completed, winner control", () => {
    const s = state({
      base: { exposures: 2000, metrics: { converted: rate(2000, 0.15) } },
      cand: { exposures: 2000, metrics: { converted: rate(2000, 0.1) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1 }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.status).toMatchObject({ phase: "Completed", winner: "base" });
  });

  it("lower is better: a lower mean wins", () => {
    const s = state({
      base: { exposures: 3000, metrics: { converted: rate(3000, 0.15) } },
      cand: { exposures: 3000, metrics: { converted: rate(3000, 0.1) } },
    });
    const plan = planOnline({
      object: experiment({ status: runningR1, analysis: { direction: "lowerIsBetter" } }),
      observed: observed(s),
      now,
    });
    expect(plan.step?.status.winner).toBe("cand");
  });

  it("guardrails: shown to hold → winner; shown broken → Completed without one; unclear → collecting", () => {
    const withLatency = (cand: number, sd: number) =>
      state({
        base: {
          exposures: 3000,
          metrics: { converted: rate(3000, 0.1), latency: normal(3000, 300, sd) },
        },
        cand: {
          exposures: 3000,
          metrics: { converted: rate(3000, 0.15), latency: normal(3000, cand, sd) },
        },
      });
    const guarded = experiment({
      status: runningR1,
      analysis: {
        guardrails: [{ metric: "latency", maxDegradation: 20, direction: "lowerIsBetter" }],
      },
    });
    const holds = planOnline({ object: guarded, observed: observed(withLatency(301, 10)), now });
    expect(holds.step?.status.winner).toBe("cand");
    expect(holds.step?.status.recommendation).toMatch(/guardrails hold/);
    const broken = planOnline({ object: guarded, observed: observed(withLatency(400, 10)), now });
    expect(broken.step?.status.phase).toBe("Completed");
    expect(broken.step?.status.winner).toBeUndefined();
    expect(broken.step?.status.recommendation).toMatch(/breaks a guardrail; keep base/);
    const unclear = planOnline({ object: guarded, observed: observed(withLatency(315, 400)), now });
    expect(unclear.step?.status.phase).toBe("Running");
  });
});
