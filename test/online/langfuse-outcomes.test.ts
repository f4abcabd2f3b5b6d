// Outcomes read from Langfuse (spec.traffic.langfuse) through the official client against the
// local Langfuse server: scores on traces tagged with the variant count once each, looks that read
// them again count nothing twice, other tags and other score names are left out, and refused keys
// show as a condition without stopping the analysis.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Experiment } from "../../controller/api/generated/index.js";
import { ExperimentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { SecretType } from "../../controller/kube/resources.js";
import { variantTag } from "../../controller/online/langfuse-outcomes.js";
import { readRunState } from "../../controller/online/store.js";
import { experimentController } from "../../controller/reconcilers/experiment/reconciler.js";
import { promptController } from "../../controller/reconcilers/prompt/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { LangfuseTestServer } from "../servers/langfuse/server.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeConfig,
} from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

const credentials = { publicKey: "pk-lf-online", secretKey: "sk-lf-online" };

describe("online outcomes from Langfuse", () => {
  let client: KubeClient;
  let server: LangfuseTestServer;
  let namespace = "";
  let stop: () => Promise<void>;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    namespace = await createTestNamespace("online-lf");
    server = new LangfuseTestServer(credentials);
    await server.start();
    await client.apply(SecretType, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "langfuse", namespace },
      stringData: { public: credentials.publicKey, secret: credentials.secretKey },
    });
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(promptController(), experimentController({ onlineAnalysisIntervalMs: 200 }));
    const abort = new AbortController();
    const done = manager.run(abort.signal);
    stop = async () => {
      abort.abort();
      await done;
    };
  });
  afterAll(async () => {
    await stop();
    await server.stop();
    await deleteTestNamespace(namespace);
  });

  it("counts each score once for the variant its trace is tagged with", async () => {
    const prompt = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: { name: "p", namespace },
      spec: { template: { text: "Hello" }, model: { name: "m" }, labels: ["production"] },
    };
    const experiment: Experiment = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "lf", namespace },
      spec: {
        variants: [
          { name: "a", control: true, prompt: { name: "p" } },
          { name: "b", prompt: { name: "p" } },
        ],
        evaluators: [
          { name: "helpful", type: "outcome", outcome: { kind: "binary" } },
          { name: "rating", type: "outcome" },
        ],
        analysis: { primaryMetric: "helpful", minSamples: 1000 },
        traffic: {
          weights: [
            { variant: "a", weight: 50 },
            { variant: "b", weight: 50 },
          ],
          langfuse: {
            baseURL: server.baseUrl,
            publicKeySecretRef: { name: "langfuse", key: "public" },
            secretKeySecretRef: { name: "langfuse", key: "secret" },
          },
        },
      },
    };
    // Traces (started after the run, which starts when the Experiment is first reconciled).
    const result = await kubectl(["apply", "-f", "-"], {
      input: `${stringify(prompt)}---\n${stringify(experiment)}`,
    });
    expect(result.code, result.stderr).toBe(0);
    await eventually("the run", async () => {
      const e = await client.get<Experiment & { metadata: { uid: string } }>(ExperimentType, {
        namespace,
        name: "lf",
      });
      return e.status?.online?.runId;
    });
    const later = new Date(Date.now() + 1000).toISOString();
    const seed = (id: string, variant: string | null, user?: string) => {
      server.seedTrace({
        id,
        tags: variant === null ? ["other"] : [variantTag(namespace, "lf", variant)],
        ...(user ? { userId: user } : {}),
        timestamp: later,
      });
    };
    seed("t-a1", "a", "alice");
    seed("t-a2", "a", "alice");
    seed("t-b1", "b", "bob");
    seed("t-x", null, "carol");
    server.seedScore({ traceId: "t-a1", name: "helpful", value: 1, dataType: "BOOLEAN", id: "s1" });
    server.seedScore({ traceId: "t-a2", name: "helpful", value: 0, dataType: "BOOLEAN", id: "s2" });
    server.seedScore({ traceId: "t-a1", name: "rating", value: 4, id: "s3" });
    server.seedScore({ traceId: "t-b1", name: "helpful", value: 1, dataType: "BOOLEAN", id: "s4" });
    server.seedScore({ traceId: "t-b1", name: "unrelated", value: 1, id: "s5" });
    server.seedScore({ traceId: "t-x", name: "helpful", value: 1, dataType: "BOOLEAN", id: "s6" });

    const counted = await eventually(
      "the scores counted",
      async () => {
        const state = await readRunState(client, namespace, "lf");
        return state?.outcomes === 4 ? state : undefined;
      },
      30_000,
    );
    expect(counted.variants.a?.metrics.helpful).toMatchObject({ n: 2, mean: 0.5 });
    expect(counted.variants.a?.metrics.rating).toMatchObject({ n: 1, mean: 4 });
    expect(counted.variants.b?.metrics.helpful).toMatchObject({ n: 1, mean: 1 });
    // One unit per user: alice's two traces are one exposure.
    expect(counted.variants.a?.exposures).toBe(1);
    expect(counted.variants.b?.exposures).toBe(1);
    // Several more looks read the same scores again; none counts twice.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readRunState(client, namespace, "lf"))?.outcomes).toBe(4);
    const e = await client.get<Experiment>(ExperimentType, { namespace, name: "lf" });
    expect(e.status?.conditions?.find((c) => c.type === "LangfuseOutcomes")).toMatchObject({
      status: "True",
    });
    expect(e.status?.results?.find((r) => r.variant === "a")).toMatchObject({ n: 2, exposures: 1 });

    // Keys Langfuse refuses: a condition says so, the Experiment keeps running.
    await client.apply(SecretType, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "langfuse", namespace },
      stringData: { public: "pk-wrong", secret: "sk-wrong" },
    });
    const refused = await eventually(
      "the condition",
      async () => {
        const x = await client.get<Experiment>(ExperimentType, { namespace, name: "lf" });
        const c = x.status?.conditions?.find((k) => k.type === "LangfuseOutcomes");
        return c?.status === "False" ? x : undefined;
      },
      30_000,
    );
    expect(refused.status?.phase).toBe("Running");
  });
});
