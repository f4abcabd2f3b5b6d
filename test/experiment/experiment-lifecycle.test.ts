// The Experiment's lifecycle on the shared reconciler skeleton, against the real control plane:
// a Prompt that does not exist yet is a dependency to wait for (kstatus: Reconciling, not
// Stalled), and an Experiment being deleted starts no new model call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExperimentType, ModelDeploymentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import {
  apply,
  condition,
  experimentManifest,
  inline,
  promptManifest,
  startManager,
  type StoredExperiment,
} from "./harness.js";

describe("Experiment lifecycle", () => {
  let client: KubeClient;
  const cleanups: (() => Promise<void>)[] = [];

  const getExperiment = (namespace: string, name: string) =>
    client.get<StoredExperiment>(ExperimentType, { namespace, name });

  async function setup(
    prefix: string,
    latencyMs: number,
    items: ReturnType<typeof arithmeticDataset>,
  ): Promise<{ namespace: string; server: OpenAiTestServer }> {
    const namespace = await createTestNamespace(prefix);
    const server = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.5, latencyMs },
        { id: "model-strong", accuracy: 0.9, latencyMs },
      ],
      dataset: items,
    });
    cleanups.push(async () => {
      await server.close();
      await deleteTestNamespace(namespace);
    });
    return { namespace, server };
  }

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
  }, 330_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it("waits for a Prompt that does not exist yet (Reconciling, not Stalled), then runs", async () => {
    const items = arithmeticDataset(10, 5);
    const { namespace, server } = await setup("exp-wait", 0, items);
    const running = startManager(client, namespace);
    try {
      await apply(experimentManifest(namespace, "early", inline(items)));
      const waiting = await eventually(
        "early waits for its Prompt",
        async () => {
          const e = await getExperiment(namespace, "early");
          return condition(e, "Ready")?.reason === "DependencyNotReady" ? e : undefined;
        },
        60_000,
      );
      expect(condition(waiting, "Ready")).toMatchObject({ status: "False" });
      expect(condition(waiting, "Ready")?.message).toMatch(/Prompt arith does not exist/);
      expect(condition(waiting, "Reconciling")).toMatchObject({
        status: "True",
        reason: "DependencyNotReady",
      });
      // kstatus reads Stalled as Failed; a missing dependency is not a failure.
      expect(condition(waiting, "Stalled")).toBeUndefined();
      expect(waiting.status?.phase).toBe("Pending");
      expect(server.requests).toHaveLength(0);

      // The Prompt watch brings the Experiment back once the Prompt is versioned.
      await apply(promptManifest(namespace, server.baseURL));
      const done = await eventually(
        "early Completed",
        async () => {
          const e = await getExperiment(namespace, "early");
          return e.status?.phase === "Completed" ? e : undefined;
        },
        120_000,
      );
      expect(condition(done, "Ready")).toMatchObject({ status: "True", reason: "Completed" });
      expect(done.status?.progress).toMatchObject({ completed: 20, total: 20 });
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("a variant served by a ModelDeployment waits for its revision, then calls that revision's Service", async () => {
    const items = arithmeticDataset(4, 2);
    const { namespace, server } = await setup("exp-md", 0, items);
    await apply(promptManifest(namespace, server.baseURL));
    const running = startManager(client, namespace);
    try {
      const manifest = experimentManifest(namespace, "vs-deployed", inline(items));
      manifest.spec.variants[1] = {
        name: "deployed",
        prompt: { name: "arith" },
        model: { name: "coder", modelDeployment: { name: "coder" } },
      };
      await apply(manifest);
      const waiting = await eventually(
        "waits for the ModelDeployment",
        async () => {
          const e = await getExperiment(namespace, "vs-deployed");
          return condition(e, "Ready")?.reason === "DependencyNotReady" ? e : undefined;
        },
        60_000,
      );
      expect(condition(waiting, "Ready")?.message).toMatch(
        /spec\.variants\[1\]\.model\.modelDeployment: ModelDeployment coder does not exist/,
      );
      // The ModelDeployment and the status its controller writes (a ready stable revision).
      await client.apply(ModelDeploymentType, {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: "coder", namespace },
        spec: { model: { huggingFace: { repo: "acme/coder", revision: "a".repeat(40) } } },
      });
      await client.applyStatus(
        ModelDeploymentType,
        {
          apiVersion: "llmops.dev/v1alpha1",
          kind: "ModelDeployment",
          metadata: { name: "coder", namespace },
          status: {
            phase: "Healthy",
            stableRevision: "coder-0123456789",
            revisions: [{ name: "coder-0123456789", role: "Stable", weight: 100, ready: true }],
          },
        },
        { force: true },
      );
      // The watch on ModelDeployments brings the Experiment back; it now calls the revision's
      // Service, which this machine cannot resolve (it is in-cluster DNS): the calls fail.
      const calling = await eventually(
        "the Experiment calls the deployed revision",
        async () => {
          const e = await getExperiment(namespace, "vs-deployed");
          const reason = condition(e, "Ready")?.reason;
          return reason !== undefined && reason !== "DependencyNotReady" ? e : undefined;
        },
        60_000,
      );
      expect(calling.status?.phase).toBe("Running");
      const failing = await eventually(
        "the call to coder-0123456789's Service fails",
        async () => {
          const e = await getExperiment(namespace, "vs-deployed");
          return condition(e, "Ready")?.reason === "ModelCallFailed" ? e : undefined;
        },
        120_000,
      );
      expect(condition(failing, "Ready")?.message).toMatch(/coder-0123456789/);
    } finally {
      await running.stop();
    }
  }, 240_000);

  it("a variant that follows the canary by role waits for one, runs on it, and runs again on a new canary", async () => {
    const items = arithmeticDataset(6, 3);
    const { namespace, server } = await setup("exp-canary", 0, items);
    await apply(promptManifest(namespace, server.baseURL));
    const running = startManager(client, namespace);
    // Revisions report their URL (as local serving does): the same test server under two host
    // names, so that each canary is a different endpoint.
    const byLocalhost = server.baseURL.replace("127.0.0.1", "localhost");
    const deploymentStatus = async (canary?: { name: string; url: string }) => {
      await client.applyStatus(
        ModelDeploymentType,
        {
          apiVersion: "llmops.dev/v1alpha1",
          kind: "ModelDeployment",
          metadata: { name: "coder", namespace },
          status: {
            phase: canary ? "Progressing" : "Healthy",
            stableRevision: "coder-a",
            ...(canary ? { canaryRevision: canary.name } : {}),
            revisions: [
              { name: "coder-a", role: "Stable", weight: 100, ready: true, url: server.baseURL },
              ...(canary
                ? [
                    {
                      name: canary.name,
                      role: "Canary" as const,
                      weight: 0,
                      ready: true,
                      url: canary.url,
                    },
                  ]
                : []),
            ],
          },
        },
        { force: true },
      );
    };
    try {
      await client.apply(ModelDeploymentType, {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: "coder", namespace },
        spec: { model: { huggingFace: { repo: "acme/coder", revision: "a".repeat(40) } } },
      });
      await deploymentStatus();
      const manifest = experimentManifest(namespace, "follows-canary", inline(items));
      manifest.spec.variants = [
        {
          name: "base",
          control: true,
          prompt: { name: "arith" },
          model: { name: "model-weak", modelDeployment: { name: "coder" } },
        },
        {
          name: "finetuned",
          prompt: { name: "arith" },
          model: { name: "model-strong", modelDeployment: { name: "coder", role: "Canary" } },
        },
      ];
      await apply(manifest);
      const waiting = await eventually(
        "waits for a canary",
        async () => {
          const e = await getExperiment(namespace, "follows-canary");
          return condition(e, "Ready")?.reason === "DependencyNotReady" ? e : undefined;
        },
        60_000,
      );
      expect(condition(waiting, "Ready")?.message).toMatch(
        /spec\.variants\[1\]\.model\.modelDeployment: ModelDeployment coder has no canary revision yet/,
      );
      expect(server.requests).toHaveLength(0);

      // The ModelDeployment watch brings it back once the rollout has a canary.
      const completedOn = async (canary: string) =>
        eventually(
          `Completed on ${canary}`,
          async () => {
            const e = await getExperiment(namespace, "follows-canary");
            const finetuned = e.status?.results?.find((r) => r.variant === "finetuned");
            return e.status?.phase === "Completed" && finetuned?.revision === canary
              ? e
              : undefined;
          },
          120_000,
        );
      await deploymentStatus({ name: "coder-b", url: server.baseURL });
      const first = await completedOn("coder-b");
      expect(first.status?.results?.map((r) => [r.variant, r.revision, r.n])).toEqual([
        ["base", "coder-a", 6],
        ["finetuned", "coder-b", 6],
      ]);
      const callsFirst = server.requests.length;
      expect(callsFirst).toBe(12);

      // A new canary (same generation, no spec change): a new run, on the new revision.
      await deploymentStatus({ name: "coder-c", url: byLocalhost });
      const second = await completedOn("coder-c");
      expect(second.metadata.generation).toBe(first.metadata.generation);
      expect(second.status?.results?.find((r) => r.variant === "base")?.revision).toBe("coder-a");
      expect(server.requests.length).toBe(callsFirst + 12);

      // The canary promoted away (none now): the finished run stays as it is.
      await deploymentStatus();
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const after = await getExperiment(namespace, "follows-canary");
      expect(after.status?.phase).toBe("Completed");
      expect(after.status?.results?.find((r) => r.variant === "finetuned")?.revision).toBe(
        "coder-c",
      );
      expect(server.requests.length).toBe(callsFirst + 12);
    } finally {
      await running.stop();
    }
  }, 300_000);

  it("starts no new call once the Experiment is being deleted", async () => {
    const items = arithmeticDataset(200, 9);
    const { namespace, server } = await setup("exp-delete", 100, items);
    await apply(promptManifest(namespace, server.baseURL));
    // Short batches (1 s), so the batch in flight at the deletion ends soon.
    const running = startManager(client, namespace, { batchSeconds: 1 });
    try {
      const manifest = experimentManifest(namespace, "going", inline(items), { concurrency: 2 });
      // Another controller's finalizer holds the object in deletion (as a foreground delete does).
      manifest.metadata = { ...manifest.metadata, finalizers: ["test.llmops.dev/hold"] };
      await apply(manifest);
      await eventually(
        "going has results",
        async () => {
          const e = await getExperiment(namespace, "going");
          return (e.status?.progress?.completed ?? 0) >= 4 ? e : undefined;
        },
        60_000,
      );
      await client.delete(ExperimentType, { namespace, name: "going" });
      const deleting = await getExperiment(namespace, "going");
      expect(deleting.metadata.deletionTimestamp).toBeDefined();

      // The batch in flight ends by its 1 s deadline plus one call (100 ms) per worker; wait
      // until the request count has stood still for 2 s, then for 5 more seconds (five batch
      // lengths): a reconcile that ignored the deletion would have started calls by then.
      let settled = server.requests.length;
      let stillSince = Date.now();
      await eventually(
        "calls stop after the deletion",
        () => {
          if (server.requests.length !== settled) {
            settled = server.requests.length;
            stillSince = Date.now();
          }
          return Promise.resolve(Date.now() - stillSince >= 2000 ? true : undefined);
        },
        30_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(server.requests.length).toBe(settled);
      expect(settled).toBeLessThan(400);
    } finally {
      await running.stop();
      await client.mergePatch(
        ExperimentType,
        { namespace, name: "going" },
        { metadata: { finalizers: null } },
      );
    }
  }, 240_000);
});
