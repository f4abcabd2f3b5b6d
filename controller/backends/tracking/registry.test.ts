// The tracking provider table: which trackers spec.tracking configures, in which order, and the
// MLflow tracker's part of status (a fake MLflow client; Langfuse needs its Secrets, see test/).
import { describe, expect, it } from "vitest";
import type { ExperimentTracking } from "../../api/generated/index.js";
import type { KubeClient } from "../../kube/client.js";
import type { ExperimentTracker } from "./mlflow.js";
import { trackersFor } from "./registry.js";
import type { FinishedRun, TrackedRun } from "./tracking.js";

const langfuse = {
  publicKeySecretRef: { name: "lf", key: "public" },
  secretKeySecretRef: { name: "lf", key: "secret" },
};

describe("trackersFor", () => {
  it.each([
    { name: "none", tracking: {}, want: [] },
    { name: "MLflow", tracking: { mlflow: { trackingURI: "http://mlflow" } }, want: ["MLflow"] },
    { name: "Langfuse", tracking: { langfuse }, want: ["Langfuse"] },
    {
      name: "both: MLflow first",
      tracking: { langfuse, mlflow: { trackingURI: "http://mlflow" } },
      want: ["MLflow", "Langfuse"],
    },
  ] satisfies { name: string; tracking: ExperimentTracking; want: string[] }[])(
    "$name",
    ({ tracking, want }) => {
      expect(trackersFor(tracking).map((t) => t.label)).toEqual(want);
    },
  );
});

describe("the MLflow tracker", () => {
  const run: FinishedRun = {
    experiment: "team-a/triage",
    runKey: "uid-1/run-1",
    variants: [{ name: "control", params: { model: "m" }, metrics: { n: 3 }, tags: {} }],
    calls: [],
    items: [],
  };
  // No tokenSecretRef: nothing is read from the cluster.
  const context = { client: {} as KubeClient, namespace: "team-a" };

  it.each([
    { name: "experiment named after the Experiment", spec: {}, want: "team-a/triage" },
    { name: "spec.experimentName", spec: { experimentName: "triage-ab" }, want: "triage-ab" },
  ])("records the variants under $name; status gets the run URLs", async ({ spec, want }) => {
    const calls: { experimentName: string; runKey: string; runs: readonly TrackedRun[] }[] = [];
    const fake: ExperimentTracker = {
      record: (experimentName, runKey, runs) => {
        calls.push({ experimentName, runKey, runs });
        return Promise.resolve({ experimentId: "7", runURLs: ["http://mlflow/#/runs/1"] });
      },
    };
    const seen: { trackingURI: string; token: string | null }[] = [];
    const [mlflow] = trackersFor(
      { mlflow: { trackingURI: "http://mlflow", ...spec } },
      {
        mlflowFor: (options) => {
          seen.push(options);
          return fake;
        },
      },
    );
    const tracker = await mlflow?.open(context);
    await expect(tracker?.record(run)).resolves.toEqual({
      mlflowRunURLs: ["http://mlflow/#/runs/1"],
    });
    await tracker?.close();
    expect(seen).toEqual([{ trackingURI: "http://mlflow", token: null }]);
    expect(calls).toEqual([{ experimentName: want, runKey: "uid-1/run-1", runs: run.variants }]);
  });
});
