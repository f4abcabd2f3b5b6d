// Shared pieces of the Experiment tests: a Manager running the Prompt and Experiment controllers,
// kubectl apply, and manifests for an arithmetic Prompt and an A/B Experiment.
import { expect } from "vitest";
import { stringify } from "yaml";
import type { Experiment, Prompt } from "../../controller/api/generated/index.js";
import type { KubeClient } from "../../controller/kube/client.js";
import type { KubeObject } from "../../controller/kube/resources.js";
import {
  experimentController,
  type ExperimentControllerOptions,
} from "../../controller/reconcilers/experiment/reconciler.js";
import { promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { kubectl } from "../support/cluster.js";
import { memoryLogger } from "../runtime/helpers.js";
import type { DatasetItem } from "../servers/openai/dataset.js";

export type StoredExperiment = Experiment & KubeObject;

// Local models get a price, so cost and budgets are known.
export const prices: ExperimentControllerOptions["prices"] = {
  "model-strong": { inputPerMillion: 1000, outputPerMillion: 1000 },
  "model-weak": { inputPerMillion: 1000, outputPerMillion: 1000 },
};

export function startManager(
  client: KubeClient,
  namespace: string,
  options: ExperimentControllerOptions = {},
): { stop: () => Promise<void> } {
  const { logger } = memoryLogger("info");
  const manager = new Manager({ client, logger, namespaces: [namespace] });
  manager.add(
    promptController(),
    experimentController({ prices, clientOptions: { retry: { baseDelayMs: 50 } }, ...options }),
  );
  const stop = new AbortController();
  const done = manager.run(stop.signal);
  return {
    stop: async () => {
      stop.abort();
      await done;
    },
  };
}

export async function apply(manifest: unknown): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], { input: stringify(manifest) });
  expect(result.code, result.stderr).toBe(0);
}

export function promptManifest(namespace: string, baseURL: string): Prompt {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: "arith", namespace, annotations: { "llmops.dev/revision": "rev-1" } },
    spec: {
      template: {
        messages: [
          { role: "system", content: "Answer with the number only." },
          { role: "user", content: "{{question}}" },
        ],
      },
      variables: [{ name: "question", required: true }],
      model: { name: "model-weak", endpoint: { baseURL }, parameters: { temperature: 0 } },
      labels: ["production"],
    },
  };
}

export function experimentManifest(
  namespace: string,
  name: string,
  dataset: Experiment["spec"]["dataset"],
  extra: Partial<Experiment["spec"]> = {},
): Experiment {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Experiment",
    metadata: { name, namespace },
    spec: {
      variants: [
        { name: "baseline", control: true, prompt: { name: "arith", label: "production" } },
        { name: "strong", prompt: { name: "arith" }, model: { name: "model-strong" } },
      ],
      dataset,
      evaluators: [{ name: "correct", type: "exactMatch" }],
      analysis: { primaryMetric: "correct", minSamples: 10 },
      concurrency: 4,
      ...extra,
    },
  };
}

export const inline = (items: readonly DatasetItem[]): Experiment["spec"]["dataset"] => ({
  inline: {
    items: items.map((i) => ({ id: i.id, vars: { question: i.input }, expected: i.expected })),
  },
});

export const jsonl = (items: readonly DatasetItem[]): string =>
  items
    .map((i) => JSON.stringify({ id: i.id, vars: { question: i.input }, expected: i.expected }))
    .join("\n");

export function datasetConfigMap(namespace: string, name: string, text: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: { "dataset.jsonl": text },
  };
}

export function condition(e: StoredExperiment, type: string) {
  return e.status?.conditions?.find((c) => c.type === type);
}
