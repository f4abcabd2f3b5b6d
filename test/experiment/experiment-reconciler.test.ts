// The Experiment reconciler end to end on the real control plane: kubectl applies a Prompt and an
// Experiment, the Prompt and Experiment controllers run in a Manager, models are served by the local
// OpenAI-protocol server with known accuracies, and results go to a real MLflow server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decideWinner, type VariantObservations } from "../../controller/analysis/index.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, EventType, type KubeObject } from "../../controller/kube/resources.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { arithmeticDataset, type DatasetItem } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import { startMlflowServer, type MlflowTestServer } from "../servers/mlflow/server.js";
import {
  apply,
  condition,
  datasetConfigMap,
  experimentManifest,
  inline,
  jsonl,
  promptManifest,
  startManager,
  type StoredExperiment,
} from "./harness.js";

describe("Experiment reconciler", () => {
  let client: KubeClient;
  let mlflow: MlflowTestServer | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  const getExperiment = (namespace: string, name: string) =>
    client.get<StoredExperiment>(ExperimentType, { namespace, name });

  async function setup(
    prefix: string,
    models: { id: string; accuracy: number; latencyMs?: number }[],
    dataset: DatasetItem[],
  ): Promise<{ namespace: string; server: OpenAiTestServer }> {
    const namespace = await createTestNamespace(prefix);
    const server = await startOpenAiTestServer({ models, dataset });
    cleanups.push(async () => {
      await server.close();
      await deleteTestNamespace(namespace);
    });
    await apply(promptManifest(namespace, server.baseURL));
    return { namespace, server };
  }

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    mlflow = await startMlflowServer();
  }, 330_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await mlflow?.stop();
  });

  it("runs every item × variant, reports the numbers controller/analysis gives independently, and records MLflow runs", async () => {
    const items = arithmeticDataset(40, 7);
    const { namespace, server } = await setup(
      "exp-win",
      [
        { id: "model-weak", accuracy: 0.5 },
        { id: "model-strong", accuracy: 0.9 },
      ],
      items,
    );
    const running = startManager(client, namespace);
    try {
      await apply(
        experimentManifest(namespace, "arith-ab", inline(items), {
          tracking: { mlflow: { trackingURI: mlflow?.url ?? "", experimentName: "arith-ab" } },
        }),
      );
      const done = await eventually(
        "arith-ab Completed and Ready",
        async () => {
          const e = await getExperiment(namespace, "arith-ab");
          return e.status?.phase === "Completed" && condition(e, "Ready")?.status === "True"
            ? e
            : undefined;
        },
        120_000,
      );
      const status = done.status ?? {};

      // Independent: the server's known answers → observations → controller/analysis.
      const observations = (model: string, name: string): VariantObservations => {
        const correct = server.correctIds(model);
        return {
          name,
          observations: items.map((i) => ({
            key: `${i.id}#0`,
            score: correct.has(i.id) ? 1 : 0,
            passed: correct.has(i.id),
            latencyMs: null,
            costUSD: null,
          })),
        };
      };
      const expected = decideWinner(
        [observations("model-weak", "baseline"), observations("model-strong", "strong")],
        {
          control: "baseline",
          primary: { name: "correct", kind: "proportion" },
          minimumSamples: 10,
        },
      );
      expect(expected.winner).toBe("strong");
      expect(status.winner).toBe("strong");
      expect(status.observedGeneration).toBe(done.metadata.generation);
      expect(status.progress).toMatchObject({ completed: 80, total: 80, failed: 0, percent: 100 });
      const metric = (variant: string) =>
        status.results
          ?.find((r) => r.variant === variant)
          ?.metrics?.find((m) => m.name === "correct");
      expect(status.results?.map((r) => [r.variant, r.n, r.promptVersion])).toEqual([
        ["baseline", 40, 1],
        ["strong", 40, 1],
      ]);
      expect(metric("baseline")?.passRate).toBe(0.5);
      expect(metric("strong")?.passRate).toBe(0.9);
      const ci = expected.variants.find((v) => v.name === "strong")?.passRate?.ci;
      expect(metric("strong")?.ciLow).toBeCloseTo(ci?.lower ?? -1, 6);
      expect(metric("strong")?.ciHigh).toBeCloseTo(ci?.upper ?? -1, 6);
      const comparison = expected.comparisons[0];
      expect(status.comparisons).toEqual([
        {
          variant: "strong",
          metric: "correct",
          test: comparison?.result.test,
          delta: 0.4,
          pValue: Math.round((comparison?.adjustedPValue ?? -1) * 1e8) / 1e8,
          significant: true,
        },
      ]);
      expect(status.recommendation).toBe(expected.recommendation);
      // Each item was sent once to each model.
      for (const model of ["model-weak", "model-strong"]) {
        const calls = server.callsPerItem({ model });
        expect(calls.size).toBe(40);
        expect([...calls.values()].every((n) => n === 1)).toBe(true);
      }
      // Results kept in an owned ConfigMap.
      const chunk = await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
        namespace,
        name: "arith-ab-results-0",
      });
      expect(chunk.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Experiment" });
      expect(chunk.data["results.jsonl"]?.trim().split("\n")).toHaveLength(80);

      // MLflow holds one finished run per variant with params, metrics and tags.
      expect(status.tracking?.mlflowRunURLs).toHaveLength(2);
      const byName = await fetch(
        `${mlflow?.url ?? ""}/api/2.0/mlflow/experiments/get-by-name?experiment_name=arith-ab`,
      );
      const experimentId = ((await byName.json()) as { experiment: { experiment_id: string } })
        .experiment.experiment_id;
      const search = await fetch(`${mlflow?.url ?? ""}/api/2.0/mlflow/runs/search`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ experiment_ids: [experimentId] }),
      });
      type Kv = { key: string; value: string | number };
      const runs = (
        (await search.json()) as {
          runs: { info: { status: string }; data: { params: Kv[]; metrics: Kv[]; tags: Kv[] } }[];
        }
      ).runs;
      expect(runs).toHaveLength(2);
      const run = (variant: string) =>
        runs.find((r) =>
          r.data.tags.some((t) => t.key === "llmops.variant" && t.value === variant),
        );
      const strong = run("strong");
      expect(strong?.info.status).toBe("FINISHED");
      expect(strong?.data.params).toEqual(
        expect.arrayContaining([
          { key: "model", value: "model-strong" },
          { key: "prompt", value: "arith" },
          { key: "prompt_version", value: "1" },
        ]),
      );
      expect(strong?.data.metrics).toEqual(
        expect.arrayContaining([expect.objectContaining({ key: "correct.pass_rate", value: 0.9 })]),
      );
      expect(strong?.data.tags).toEqual(
        expect.arrayContaining([{ key: "llmops.winner", value: "true" }]),
      );
      expect(run("baseline")?.data.metrics).toEqual(
        expect.arrayContaining([expect.objectContaining({ key: "correct.pass_rate", value: 0.5 })]),
      );
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("resumes after a restart without sending any item to a model twice", async () => {
    const items = arithmeticDataset(60, 11);
    const { namespace, server } = await setup(
      "exp-restart",
      [
        { id: "model-weak", accuracy: 0.6, latencyMs: 150 },
        { id: "model-strong", accuracy: 0.8, latencyMs: 150 },
      ],
      items,
    );
    await apply(datasetConfigMap(namespace, "arith-data", jsonl(items)));
    // Batches of 64 calls (32 per slot), so the first one's results are saved long before the run
    // is done: with the default (128 per slot, or 10 s) the whole run can be a single batch.
    const first = startManager(client, namespace, { batchFactor: 32 });
    let stoppedAt: number | undefined;
    try {
      await apply(
        experimentManifest(
          namespace,
          "restart",
          { configMap: { name: "arith-data" } },
          {
            concurrency: 2,
          },
        ),
      );
      const partway = await eventually(
        "restart has results from its first batches",
        async () => {
          const e = await getExperiment(namespace, "restart");
          return (e.status?.progress?.completed ?? 0) >= 16 ? e : undefined;
        },
        120_000,
      );
      stoppedAt = partway.status?.progress?.completed ?? 0;
    } finally {
      await first.stop();
    }
    const afterStop = await getExperiment(namespace, "restart");
    // Stopped partway: the second controller has work left to do.
    expect(afterStop.status?.phase).toBe("Running");
    expect(afterStop.status?.progress?.completed ?? 0).toBeLessThan(120);
    expect(stoppedAt).toBeGreaterThanOrEqual(16);
    const callsBeforeRestart = server.requests.filter((r) => r.status === 200).length;
    expect(callsBeforeRestart).toBeLessThan(120);

    const second = startManager(client, namespace);
    try {
      const done = await eventually(
        "restart Completed",
        async () => {
          const e = await getExperiment(namespace, "restart");
          return e.status?.phase === "Completed" ? e : undefined;
        },
        180_000,
      );
      expect(done.status?.progress).toMatchObject({ completed: 120, total: 120 });
      expect(done.status?.winner).toBeDefined();
    } finally {
      await second.stop();
    }
    for (const model of ["model-weak", "model-strong"]) {
      const calls = server.callsPerItem({ model });
      expect(calls.size).toBe(60);
      expect([...calls.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    }
  }, 420_000);

  it("stops cleanly when the budget is reached, keeping the results so far", async () => {
    const items = arithmeticDataset(30, 3);
    const { namespace, server } = await setup(
      "exp-budget",
      [
        { id: "model-weak", accuracy: 0.5 },
        { id: "model-strong", accuracy: 0.9 },
      ],
      items,
    );
    const running = startManager(client, namespace);
    try {
      // Each call costs about $0.015 at the test price: the budget allows a handful of 60 calls.
      await apply(
        experimentManifest(namespace, "budget", inline(items), {
          concurrency: 1,
          budget: { maxCostUSD: 0.1, warnAtCostUSD: 0.05 },
        }),
      );
      const stalled = await eventually(
        "budget Stalled with BudgetExceeded",
        async () => {
          const e = await getExperiment(namespace, "budget");
          return condition(e, "Stalled")?.status === "True" ? e : undefined;
        },
        120_000,
      );
      expect(stalled.status?.phase).toBe("Failed");
      expect(condition(stalled, "Stalled")?.reason).toBe("BudgetExceeded");
      expect(condition(stalled, "Ready")).toMatchObject({
        status: "False",
        reason: "BudgetExceeded",
      });
      expect(condition(stalled, "Stalled")?.message).toMatch(
        /budget reached: spent \$0\.\d+ of the \$0\.1 budget \(spec\.budget\.maxCostUSD\); stopped after \d+ of 60 calls, results so far kept/,
      );
      const progress = stalled.status?.progress ?? {};
      expect(progress.costUSD ?? 0).toBeGreaterThanOrEqual(0.1);
      expect(progress.completed ?? 0).toBeGreaterThan(0);
      expect(progress.completed ?? 0).toBeLessThan(60);
      expect(stalled.status?.winner).toBeUndefined();
      // Crossing warnAtCostUSD left one Warning Event on the way.
      const warnings = await eventually("a BudgetWarning Event", async () => {
        const events = await client.list<KubeObject & { reason?: string; note?: string }>(
          EventType,
          { namespace },
        );
        const found = events.items.filter((e) => e.reason === "BudgetWarning");
        return found.length > 0 ? found : undefined;
      });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.note).toMatch(
        /past spec\.budget\.warnAtCostUSD \(\$0\.05\); the run stops at \$0\.1/,
      );
      // Every call paid for is a kept result, and none was made after the stop.
      const billed = server.requests.filter((r) => r.status === 200).length;
      expect(billed).toBe(progress.completed);
      const chunk = await client.get<KubeObject & { data: Record<string, string> }>(ConfigMapType, {
        namespace,
        name: "budget-results-0",
      });
      expect(chunk.data["results.jsonl"]?.trim().split("\n")).toHaveLength(billed);
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("stalls on a ConfigMap dataset that does not parse, naming the line", async () => {
    const items = arithmeticDataset(5, 5);
    const { namespace, server } = await setup(
      "exp-bad",
      [{ id: "model-weak", accuracy: 1 }],
      items,
    );
    const lines = jsonl(items).split("\n");
    lines.splice(2, 1, '{"id": "broken", "vars": {');
    await apply(datasetConfigMap(namespace, "bad-data", lines.join("\n")));
    const running = startManager(client, namespace);
    try {
      await apply(experimentManifest(namespace, "bad", { configMap: { name: "bad-data" } }));
      const stalled = await eventually(
        "bad Stalled",
        async () => {
          const e = await getExperiment(namespace, "bad");
          return condition(e, "Stalled")?.status === "True" ? e : undefined;
        },
        60_000,
      );
      expect(condition(stalled, "Stalled")).toMatchObject({ reason: "InvalidDataset" });
      expect(condition(stalled, "Stalled")?.message).toMatch(
        /^configmap\/bad-data key dataset\.jsonl line 3: not valid JSON/,
      );
      expect(stalled.status?.observedGeneration).toBe(stalled.metadata.generation);
      expect(server.requests.filter((r) => r.path.endsWith("/chat/completions"))).toEqual([]);
    } finally {
      await running.stop();
    }
  }, 120_000);
});
