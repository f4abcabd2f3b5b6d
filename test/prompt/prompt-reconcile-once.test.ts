// A new Prompt costs one reconcile: the ADDED event of the ConfigMap the controller itself just
// created does not enqueue the Prompt again (Manager's recordCreate / ExpectedCreates), while a
// ConfigMap changed by someone else still does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Prompt } from "../../controller/api/generated/index.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { ConfigMapType, type KubeObject } from "../../controller/kube/resources.js";
import { PromptType, promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

function prompt(namespace: string, name: string): Prompt & KubeObject {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name, namespace },
    spec: {
      template: { messages: [{ role: "user", content: "{{question}}" }] },
      variables: [{ name: "question" }],
      model: { name: "gpt-4o-mini" },
      labels: ["production"],
    },
  };
}

describe("Prompt reconciles per change", () => {
  let namespace = "";
  let client: KubeClient;
  let manager: Manager;
  const stop = new AbortController();
  let done: Promise<unknown> = Promise.resolve();

  const reconciles = async () =>
    (await manager.metrics.reconcileTotal.get()).values
      .filter((v) => v.labels.kind === "Prompt")
      .reduce((sum, v) => sum + v.value, 0);
  const ready = (name: string) =>
    eventually(`${name} Ready`, async () => {
      const p = await client.get<Prompt & KubeObject>(PromptType, { namespace, name });
      return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
        ? p
        : undefined;
    });
  /** The ConfigMap as the manager's child cache holds it, once it holds the live version. */
  const cachedChild = (name: string) =>
    eventually(`prompt-${name} in the child cache`, async () => {
      const live = await client.get(ConfigMapType, { namespace, name: `prompt-${name}` });
      const cached = manager.cache.getChild?.(ConfigMapType, {
        namespace,
        name: `prompt-${name}`,
      });
      return cached?.metadata.resourceVersion === live.metadata.resourceVersion ? true : undefined;
    });

  beforeAll(async () => {
    await installCrds();
    namespace = await createTestNamespace("prompt-once");
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    const { logger } = memoryLogger("info");
    // One worker: keys are reconciled in the order they were enqueued.
    manager = new Manager({ client, logger, namespaces: [namespace], concurrency: { Prompt: 1 } });
    manager.add(promptController());
    done = manager.run(stop.signal);
  }, 120_000);
  afterAll(async () => {
    stop.abort();
    await done;
    await client.close();
    await deleteTestNamespace(namespace);
  });

  it("a new Prompt is reconciled once; a ConfigMap edited by someone else brings it back", async () => {
    await client.apply(PromptType, prompt(namespace, "once"));
    await ready("once");
    // Its ConfigMap's ADDED event has been handled (handlers run as the cache takes the event)...
    await cachedChild("once");
    // ...so anything it enqueued is ahead of a second Prompt in the queue: once that one is Ready
    // too, every reconcile the first one caused has finished.
    await client.apply(PromptType, prompt(namespace, "marker"));
    await ready("marker");
    await cachedChild("marker");
    expect(await reconciles()).toBe(2);

    // Someone else's edit of the ConfigMap is not ours: the Prompt is reconciled and repairs it.
    await client.mergePatch(
      ConfigMapType,
      { namespace, name: "prompt-once" },
      { data: { "prompt.json": "{}" } },
      { fieldManager: "someone-else" },
    );
    await eventually("prompt-once repaired", async () => {
      const cm = await client.get<KubeObject & { data?: Record<string, string> }>(ConfigMapType, {
        namespace,
        name: "prompt-once",
      });
      return cm.data?.["prompt.json"] !== "{}" ? true : undefined;
    });
    expect(await reconciles()).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
