import { describe, expect, it } from "vitest";
import type { Experiment, ExperimentStatus } from "../../api/generated/index.js";
import type { KubeObject } from "../../kube/resources.js";
import { experimentMeasurement } from "./experiment.js";
import type { AnalysisMetric, Measurement } from "./provider.js";

const where = { namespace: "team", revision: "coder-7b-3f9a1c2d4e" };

function metric(experiment: AnalysisMetric["experiment"]): AnalysisMetric {
  return { name: "quality", successCondition: "result >= 0.9", experiment };
}

function experiment(status: ExperimentStatus | undefined, generation = 2): Experiment & KubeObject {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Experiment",
    metadata: { name: "canary-eval", namespace: "team", generation },
    spec: {
      variants: [
        { name: "stable", control: true, prompt: { name: "p" } },
        { name: "coder-7b-3f9a1c2d4e", prompt: { name: "p" } },
      ],
      evaluators: [{ name: "correct", type: "exactMatch" }],
    },
    ...(status === undefined ? {} : { status }),
  };
}

const completed: ExperimentStatus = {
  observedGeneration: 2,
  phase: "Completed",
  results: [
    {
      variant: "stable",
      n: 50,
      metrics: [
        { name: "correct", mean: 0.8, passRate: 0.8 },
        { name: "judge", mean: 3.9 },
      ],
    },
    {
      variant: "coder-7b-3f9a1c2d4e",
      n: 50,
      metrics: [
        { name: "correct", mean: 0.94, passRate: 0.94 },
        { name: "judge", mean: 4.4, passRate: 0.7 },
        { name: "format", passRate: 0.5 },
        { name: "empty" },
      ],
    },
  ],
};

/** An Experiment whose variants ran on ModelDeployment revisions: stable, and `canary`. */
function onRevisions(canary: string): ExperimentStatus {
  const [stable, candidate] = completed.results ?? [];
  if (stable === undefined || candidate === undefined) throw new Error("fixture");
  return {
    ...completed,
    results: [
      { ...stable, revision: "coder-7b-stable" },
      { ...candidate, variant: "finetuned", revision: canary },
    ],
  };
}

describe("experimentMeasurement", () => {
  const rows: {
    name: string;
    spec: NonNullable<AnalysisMetric["experiment"]>;
    object: (Experiment & KubeObject) | undefined;
    want: Measurement | RegExp;
  }[] = [
    {
      name: "the variant named after the revision by default: a pass/fail metric's mean (= pass rate)",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment(completed),
      want: { ok: true, value: 0.94 },
    },
    {
      name: "a scored metric: its mean, not its pass rate",
      spec: { name: "canary-eval", metric: "judge" },
      object: experiment(completed),
      want: { ok: true, value: 4.4 },
    },
    {
      name: "a metric with a pass rate only",
      spec: { name: "canary-eval", metric: "format" },
      object: experiment(completed),
      want: { ok: true, value: 0.5 },
    },
    {
      name: "an explicit variant",
      spec: { name: "canary-eval", metric: "correct", variant: "stable" },
      object: experiment(completed),
      want: { ok: true, value: 0.8 },
    },
    {
      name: "results recorded for this canary revision",
      spec: { name: "canary-eval", metric: "correct", variant: "finetuned" },
      object: experiment(onRevisions("coder-7b-3f9a1c2d4e")),
      want: { ok: true, value: 0.94 },
    },
    {
      name: "the stable variant of a run that evaluated this canary",
      spec: { name: "canary-eval", metric: "correct", variant: "stable" },
      object: experiment(onRevisions("coder-7b-3f9a1c2d4e")),
      want: { ok: true, value: 0.8 },
    },
    {
      name: "results recorded for a previous canary: not measurable yet, never a verdict",
      spec: { name: "canary-eval", metric: "correct", variant: "finetuned" },
      object: experiment(onRevisions("coder-7b-0a1b2c3d4e")),
      want: /variant finetuned, has results for revision coder-7b-0a1b2c3d4e, not for the canary revision coder-7b-3f9a1c2d4e yet/,
    },
    {
      name: "the stable variant of a run on a previous canary",
      spec: { name: "canary-eval", metric: "correct", variant: "stable" },
      object: experiment(onRevisions("coder-7b-0a1b2c3d4e")),
      want: /variant stable, has results for revision coder-7b-stable, not for the canary revision/,
    },
    {
      name: "missing Experiment",
      spec: { name: "canary-eval", metric: "correct" },
      object: undefined,
      want: /^Experiment team\/canary-eval does not exist/,
    },
    {
      name: "no status yet",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment(undefined),
      want: /no results for its generation 2 yet \(results are for none\)/,
    },
    {
      name: "the CRD's default observedGeneration -1 (never handled)",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment({ observedGeneration: -1 }),
      want: /no results for its generation 2 yet \(results are for none\)$/,
    },
    {
      name: "a new generation not handled yet",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment(completed, 3),
      want: /no results for its generation 3 yet \(results are for generation 2\)/,
    },
    {
      name: "still running",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment({ ...completed, phase: "Running" }),
      want: /is Running, not Completed/,
    },
    {
      name: "failed (budget): still an error, not a verdict",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment({ ...completed, phase: "Failed" }),
      want: /is Failed, not Completed/,
    },
    {
      name: "no variant named after the revision",
      spec: { name: "canary-eval", metric: "correct" },
      object: experiment({
        ...completed,
        results: completed.results?.filter((r) => r.variant === "stable") ?? [],
      }),
      want: /no results for variant coder-7b-3f9a1c2d4e \(it has stable\); name a variant after the canary revision or set experiment.variant/,
    },
    {
      name: "an unknown explicit variant",
      spec: { name: "canary-eval", metric: "correct", variant: "nope" },
      object: experiment(completed),
      want: /variant nope \(it has stable, coder-7b-3f9a1c2d4e\); fix experiment.variant/,
    },
    {
      name: "an unknown metric",
      spec: { name: "canary-eval", metric: "nope" },
      object: experiment(completed),
      want: /has no metric nope \(it has correct, judge, format, empty\)/,
    },
    {
      name: "a metric without any value",
      spec: { name: "canary-eval", metric: "empty" },
      object: experiment(completed),
      want: /no value for empty/,
    },
  ];
  it.each(rows)("$name", ({ spec, object, want }) => {
    const got = experimentMeasurement(metric(spec), object, where);
    if (want instanceof RegExp) {
      expect(got.ok).toBe(false);
      expect(got.ok ? "" : got.error).toMatch(want);
    } else {
      expect(got).toEqual(want);
    }
  });
});
