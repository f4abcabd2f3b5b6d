// The experiment analysis provider on the real control plane: an Experiment applied and its status
// written through the status subresource (as the Experiment controller would), read back through
// a real informer's cache, which is how the ModelDeployment controller sees it.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Experiment, ExperimentStatus } from "../../controller/api/generated/index.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import {
  analysisProviders,
  measureMetric,
  type AnalysisMetric,
  type MeasurementContext,
} from "../../controller/backends/analysis/provider.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { objectKeyString, type KubeObject } from "../../controller/kube/resources.js";
import { systemClock } from "../../controller/runtime/clock.js";
import { Informer } from "../../controller/runtime/informer.js";
import type { CacheReader } from "../../controller/runtime/registry.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { installCrds } from "../validate/install-crds.js";

type StoredExperiment = Experiment & KubeObject;
const revision = "coder-7b-3f9a1c2d4e";

describe("experiment analysis metrics", () => {
  const ns = useTestNamespace("analysis-exp");
  let client: KubeClient;
  let informer: Informer<StoredExperiment>;
  let stop: AbortController;
  let running: Promise<void>;

  beforeAll(installCrds);
  beforeEach(async () => {
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    informer = new Informer<StoredExperiment>({
      client,
      type: ExperimentType,
      namespace: ns.name,
      clock: systemClock(),
      logger: memoryLogger().logger,
    });
    stop = new AbortController();
    running = informer.run(stop.signal);
    await informer.waitForSync();
  });
  afterEach(async () => {
    stop.abort();
    await running;
  });

  // The informer serves the one type it watches, as the manager's cache does.
  const cache = (): CacheReader => ({
    get: (_type, key) => informer.get(objectKeyString(key)) as never,
    list: () => informer.list() as never,
  });
  const context = (): MeasurementContext => ({
    client,
    cache: cache(),
    namespace: ns.name,
    revision,
    service: revision,
    now: Date.now(),
  });
  const metric = (
    experiment: Partial<NonNullable<AnalysisMetric["experiment"]>> = {},
  ): AnalysisMetric => ({
    name: "quality",
    successCondition: "result >= 0.9",
    failureCondition: "result < 0.7",
    experiment: { name: "canary-eval", metric: "correct", ...experiment },
  });
  const measure = (m: AnalysisMetric) => measureMetric(m, context(), analysisProviders());

  function manifest(repetitions = 1): StoredExperiment {
    return {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "canary-eval", namespace: ns.name },
      spec: {
        variants: [
          { name: "stable", control: true, prompt: { name: "coder", label: "production" } },
          { name: revision, prompt: { name: "coder" } },
        ],
        dataset: { inline: { items: [{ id: "1", vars: { q: "1+1" }, expected: "2" }] } },
        evaluators: [
          { name: "correct", type: "exactMatch" },
          { name: "latency", type: "latency" },
        ],
        analysis: { primaryMetric: "correct" },
        repetitions,
      },
    };
  }

  /** Applies the Experiment, then writes `status` for its current generation (or `observedGeneration`). */
  async function experimentWith(
    status: Omit<ExperimentStatus, "observedGeneration">,
    options: { repetitions?: number; observedGeneration?: number } = {},
  ): Promise<StoredExperiment> {
    const applied = await client.apply<StoredExperiment>(
      ExperimentType,
      manifest(options.repetitions),
    );
    const generation = applied.metadata.generation ?? 1;
    await client.applyStatus(ExperimentType, {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "canary-eval", namespace: ns.name },
      status: { ...status, observedGeneration: options.observedGeneration ?? generation },
    } as StoredExperiment);
    const written = await client.get<StoredExperiment>(ExperimentType, {
      namespace: ns.name,
      name: "canary-eval",
    });
    // Measurements read the cache: wait until it has this very version.
    await eventually("the informer to see the status", () =>
      informer.get(objectKeyString({ namespace: ns.name, name: "canary-eval" }))?.metadata
        .resourceVersion === written.metadata.resourceVersion
        ? true
        : undefined,
    );
    return written;
  }

  const results = (canaryPassRate: number): ExperimentStatus["results"] => [
    {
      variant: "stable",
      n: 40,
      metrics: [
        { name: "correct", mean: 0.8, passRate: 0.8 },
        { name: "latency", mean: 420 },
      ],
    },
    {
      variant: revision,
      n: 40,
      metrics: [
        { name: "correct", mean: canaryPassRate, passRate: canaryPassRate },
        { name: "latency", mean: 380.5 },
      ],
    },
  ];

  it("a Completed Experiment gives the canary variant's pass rate: Successful", async () => {
    await experimentWith({ phase: "Completed", results: results(0.95) });
    expect(await measure(metric())).toEqual({
      value: 0.95,
      verdict: "Successful",
      message: "quality = 0.95 (success: result >= 0.9, failure: result < 0.7): Successful",
    });
  });

  it("a low pass rate is Failed; in between is Inconclusive", async () => {
    await experimentWith({ phase: "Completed", results: results(0.6) });
    expect(await measure(metric())).toMatchObject({ verdict: "Failed", value: 0.6 });
    await experimentWith({ phase: "Completed", results: results(0.8) });
    expect(await measure(metric())).toMatchObject({ verdict: "Inconclusive", value: 0.8 });
  });

  it("a scored metric gives its mean; an explicit variant is honoured", async () => {
    await experimentWith({ phase: "Completed", results: results(0.95) });
    const latency: AnalysisMetric = {
      name: "latency",
      successCondition: "result < 400",
      experiment: { name: "canary-eval", metric: "latency" },
    };
    expect(await measure(latency)).toMatchObject({ verdict: "Successful", value: 380.5 });
    const stable = {
      ...latency,
      experiment: { name: "canary-eval", metric: "latency", variant: "stable" },
    };
    expect(await measure(stable)).toMatchObject({ verdict: "Failed", value: 420 });
  });

  it("a Running Experiment is an Error (not measurable yet), never a failure", async () => {
    await experimentWith({ phase: "Running", results: results(0.1) });
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(
      new RegExp(`Experiment ${ns.name}/canary-eval is Running, not Completed`),
    );
  });

  it("results of an older generation are an Error until the Experiment controller catches up", async () => {
    await experimentWith({ phase: "Completed", results: results(0.95) });
    // A spec change: generation 2, status still for generation 1.
    await experimentWith(
      { phase: "Completed", results: results(0.95) },
      { repetitions: 2, observedGeneration: 1 },
    );
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(
      /no results for its generation 2 yet \(results are for generation 1\)/,
    );
  });

  it("an Experiment that does not exist is an Error", async () => {
    const m = await measure(metric({ name: "missing" }));
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(new RegExp(`Experiment ${ns.name}/missing does not exist`));
  });

  it("an Experiment without a variant named after the revision is an Error that says what to do", async () => {
    await experimentWith({
      phase: "Completed",
      results: (results(0.95) ?? []).filter((r) => r.variant === "stable"),
    });
    const m = await measure(metric());
    expect(m.verdict).toBe("Error");
    expect(m.message).toMatch(/name a variant after the canary revision or set experiment.variant/);
  });
});
