// Where an Experiment's variants and items come from, end to end on the real control plane: an
// earlier Prompt version evaluated from its snapshot while a later one is live, a JSON Lines file on
// a Hugging Face Hub (local server, official @huggingface/hub client) pinned to the commit it was
// read at, and prices overridden from a ConfigMap.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, type KubeObject } from "../../controller/kube/resources.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import { PromptType } from "../../controller/api/kinds.js";
import type { Prompt } from "../../controller/api/generated/index.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import { HubTestServer } from "../servers/huggingface/server.js";
import { LangfuseTestServer } from "../servers/langfuse/server.js";
import {
  apply,
  condition,
  experimentManifest,
  inline,
  jsonl,
  promptManifest,
  startManager,
  type StoredExperiment,
} from "./harness.js";

type StoredPrompt = Prompt & KubeObject;

describe("Experiment sources", () => {
  let client: KubeClient;
  const cleanups: (() => Promise<void>)[] = [];
  const getExperiment = (namespace: string, name: string) =>
    client.get<StoredExperiment>(ExperimentType, { namespace, name });
  const completed = (namespace: string, name: string) =>
    eventually(
      `${name} Completed`,
      async () => {
        const e = await getExperiment(namespace, name);
        return e.status?.phase === "Completed" ? e : undefined;
      },
      120_000,
    );

  async function setup(prefix: string, items = arithmeticDataset(20, 3)) {
    const namespace = await createTestNamespace(prefix);
    const server: OpenAiTestServer = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.5 },
        { id: "model-strong", accuracy: 0.9 },
      ],
      dataset: items,
    });
    cleanups.push(async () => {
      await server.close();
      await deleteTestNamespace(namespace);
    });
    return { namespace, server, items };
  }

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
  }, 120_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it("evaluates the production version from its snapshot against a newer staging version that is live", async () => {
    const { namespace, server, items } = await setup("exp-versions");
    const running = startManager(client, namespace);
    try {
      const v1 = promptManifest(namespace, server.baseURL);
      await apply(v1);
      await eventually("arith version 1", async () => {
        const p = await client.get<StoredPrompt>(PromptType, { namespace, name: "arith" });
        return p.status?.version === 1 ? p : undefined;
      });
      // Version 2: new wording, labelled staging; production stays on version 1.
      const v2: Prompt = structuredClone(v1);
      const first = v2.spec.template.messages?.[0];
      if (first) first.content = "Reply with just the number, nothing else.";
      v2.spec.labels = ["staging"];
      await apply(v2);
      const live = await eventually("arith version 2", async () => {
        const p = await client.get<StoredPrompt>(PromptType, { namespace, name: "arith" });
        return p.status?.version === 2 ? p : undefined;
      });
      expect(live.status?.history?.map((h) => [h.version, h.labels])).toEqual([
        [2, ["staging"]],
        [1, ["production"]],
      ]);
      const snapshots = await client.list<KubeObject>(ConfigMapType, {
        namespace,
        labelSelector: "llmops.dev/prompt=arith,llmops.dev/prompt-version",
      });
      // The outgoing version 1 got its own snapshot; the live one rides in the published ConfigMap.
      expect(snapshots.items.map((c) => c.metadata.name)).toEqual(["prompt-arith-v1"]);

      await apply(
        experimentManifest(namespace, "versions", inline(items), {
          variants: [
            { name: "production", control: true, prompt: { name: "arith", label: "production" } },
            {
              name: "staging",
              prompt: { name: "arith", version: 2 },
              model: { name: "model-strong" },
            },
          ],
        }),
      );
      const done = await completed(namespace, "versions");
      expect(done.status?.results?.map((r) => [r.variant, r.promptVersion, r.n])).toEqual([
        ["production", 1, 20],
        ["staging", 2, 20],
      ]);
      expect(done.status?.winner).toBe("staging");
      // Policy manual (the default): the decision waits in status for `llmops promote`.
      expect(done.status?.promotion).toMatchObject({
        state: "Pending",
        prompt: "arith",
        version: 2,
        label: "production",
      });
      expect(done.status?.promotion?.message).toMatch(/run `llmops promote experiment\/versions/);
      // Each variant sent its own version's text.
      const systemTexts = (model: string) =>
        new Set(
          server.requests
            .filter((r) => r.model === model && r.status === 200)
            .map((r) => r.body?.messages[0]?.content),
        );
      expect(systemTexts("model-weak")).toEqual(new Set(["Answer with the number only."]));
      expect(systemTexts("model-strong")).toEqual(
        new Set(["Reply with just the number, nothing else."]),
      );
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("reads a JSON Lines dataset from the Hub, pinned to the commit it resolved", async () => {
    const { namespace, server, items } = await setup("exp-hub");
    const hub = new HubTestServer();
    await hub.start();
    cleanups.push(() => hub.stop());
    const { main } = hub.addDataset({
      repo: "acme/arith",
      files: { "data/test.jsonl": jsonl(items) },
    });
    // Small batches (4 calls each): the run takes 10 reconciles, and the file is read once.
    const running = startManager(client, namespace, { batchFactor: 1 });
    try {
      await apply(promptManifest(namespace, server.baseURL));
      await apply(
        experimentManifest(namespace, "hub", {
          huggingFace: {
            repo: "acme/arith",
            file: "data/test.jsonl",
            revision: "main",
            endpoint: hub.baseUrl,
          },
        }),
      );
      const done = await completed(namespace, "hub");
      expect(done.status?.dataset).toEqual({
        source: "hf://datasets/acme/arith/data/test.jsonl",
        revision: main,
        generation: done.metadata.generation,
        items: 20,
      });
      expect(done.status?.progress).toMatchObject({ completed: 40, total: 40, failed: 0 });
      expect(server.callsPerItem({ model: "model-strong" }).size).toBe(20);
      const downloads = hub.requests.filter(
        (r) => r.method === "GET" && r.url.includes("/resolve/") && r.range === null,
      );
      expect(downloads).toHaveLength(1);

      // A file that does not exist stalls with the Hub's answer, naming the file.
      await apply(
        experimentManifest(namespace, "hub-missing", {
          huggingFace: { repo: "acme/arith", file: "data/nope.jsonl", endpoint: hub.baseUrl },
        }),
      );
      const stalled = await eventually("hub-missing Stalled", async () => {
        const e = await getExperiment(namespace, "hub-missing");
        return condition(e, "Stalled")?.status === "True" ? e : undefined;
      });
      expect(condition(stalled, "Stalled")?.reason).toBe("InvalidDataset");
      expect(condition(stalled, "Stalled")?.message).toMatch(/data\/nope\.jsonl/);
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("prices calls from the operator's ConfigMap, and says so when the table is invalid", async () => {
    const { namespace, server, items } = await setup("exp-prices", arithmeticDataset(6, 2));
    await apply(promptManifest(namespace, server.baseURL));
    const table = (text: string) => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "llm-prices", namespace },
      data: { "prices.yaml": text },
    });
    await apply(table("model-weak: { inputPerMillion: 1000000, outputPerMillion: 0 }\n"));
    // No built-in price for the test models: only the ConfigMap prices model-weak.
    const running = startManager(client, namespace, {
      prices: {},
      priceTableConfigMap: { namespace, name: "llm-prices" },
    });
    try {
      await apply(experimentManifest(namespace, "priced", inline(items)));
      const done = await completed(namespace, "priced");
      const cost = (variant: string) =>
        done.status?.results?.find((r) => r.variant === variant)?.costUSD;
      // $1 per input token: the cost is the number of prompt tokens, a whole number above 0.
      expect(cost("baseline")).toBeGreaterThan(0);
      expect(Number.isInteger(cost("baseline"))).toBe(true);
      expect(cost("strong")).toBeUndefined();

      await apply(table("model-weak: { inputPerMillion: cheap }\n"));
      await apply(experimentManifest(namespace, "badly-priced", inline(items)));
      const failed = await eventually("badly-priced InvalidPriceTable", async () => {
        const e = await getExperiment(namespace, "badly-priced");
        return condition(e, "Ready")?.reason === "InvalidPriceTable" ? e : undefined;
      });
      expect(condition(failed, "Ready")?.message).toMatch(
        new RegExp(`configmap/${namespace}/llm-prices key prices\\.yaml: model-weak`),
      );
      expect(server.requests.filter((r) => r.status === 200)).toHaveLength(12);
    } finally {
      await running.stop();
    }
  }, 240_000);
});

describe("Experiment with Langfuse (dataset and tracking)", () => {
  let client: KubeClient;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
  }, 120_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it("evaluates a Langfuse dataset and records a generation per call, scores, and experiment items", async () => {
    const items = arithmeticDataset(12, 9);
    const namespace = await createTestNamespace("exp-langfuse");
    const server = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.5 },
        { id: "model-strong", accuracy: 1 },
      ],
      dataset: items,
    });
    const langfuse = new LangfuseTestServer({ publicKey: "pk-lf-test", secretKey: "sk-lf-test" });
    await langfuse.start();
    cleanups.push(async () => {
      await server.close();
      await langfuse.stop();
      await deleteTestNamespace(namespace);
    });
    // The dataset lives in Langfuse, with one archived item that must not be evaluated.
    langfuse.seedDataset("arith-golden", [
      ...items.map((i) => ({
        id: `lf-${i.id}`,
        input: { question: i.input },
        expectedOutput: i.expected,
      })),
      {
        id: "lf-archived",
        input: { question: "1+1" },
        expectedOutput: "2",
        status: "ARCHIVED" as const,
      },
    ]);
    await apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "langfuse-keys", namespace },
      stringData: { public: "pk-lf-test", secret: "sk-lf-test" },
    });
    const keys = {
      baseURL: langfuse.baseUrl,
      publicKeySecretRef: { name: "langfuse-keys", key: "public" },
      secretKeySecretRef: { name: "langfuse-keys", key: "secret" },
    };
    await apply(promptManifest(namespace, server.baseURL));
    const running = startManager(client, namespace);
    try {
      await apply(
        experimentManifest(
          namespace,
          "golden",
          { langfuse: { name: "arith-golden", ...keys } },
          { tracking: { langfuse: keys } },
        ),
      );
      const done = await eventually(
        "golden Completed",
        async () => {
          const e = await getExperimentIn(client, namespace, "golden");
          return e.status?.phase === "Completed" ? e : undefined;
        },
        120_000,
      );
      expect(done.status?.dataset).toMatchObject({
        source: "langfuse dataset arith-golden",
        items: 12,
      });
      expect(done.status?.progress).toMatchObject({ completed: 24, total: 24, failed: 0 });
      expect(done.status?.tracking?.langfuseURL).toMatch(new RegExp(`^${langfuse.baseUrl}/`));

      // One generation span per call, linked to its Langfuse dataset item, with usage and cost.
      const spans = [...langfuse.spans.values()];
      expect(spans).toHaveLength(24);
      const linked = new Set(spans.map((s) => s.attributes["langfuse.experiment.item.id"]));
      expect(linked).toEqual(new Set(items.map((i) => `lf-${i.id}`)));
      const strong = spans.filter(
        (s) => s.attributes["langfuse.observation.model.name"] === "model-strong",
      );
      expect(strong).toHaveLength(12);
      expect(strong[0]?.attributes["langfuse.observation.type"]).toBe("generation");
      expect(String(strong[0]?.attributes["langfuse.observation.usage_details"])).toMatch(/input/);
      // One score per call for the exactMatch evaluator, with the verdicts the status reports.
      const scores = [...langfuse.scores.values()].filter((s) => s.name === "correct");
      expect(scores).toHaveLength(24);
      const strongTraces = new Set(strong.map((s) => s.traceId));
      const strongPassRate =
        scores
          .filter((s) => strongTraces.has(s.traceId ?? ""))
          .reduce((a, s) => a + Number(s.value), 0) / 12;
      const reported = done.status?.results
        ?.find((r) => r.variant === "strong")
        ?.metrics?.find((m) => m.name === "correct")?.passRate;
      expect(strongPassRate).toBe(reported);
      // The secret key never reaches status.
      expect(JSON.stringify(done.status)).not.toContain("sk-lf-test");
    } finally {
      await running.stop();
    }
  }, 240_000);
});

const getExperimentIn = (client: KubeClient, namespace: string, name: string) =>
  client.get<StoredExperiment>(ExperimentType, { namespace, name });
