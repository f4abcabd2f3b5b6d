// The ModelDeployment reconciler on the real control plane: kwok makes the revisions' Deployments
// Available, the Gateway API CRDs (shared/crds) take the HTTPRoute the controller writes, and model
// revisions resolve through @huggingface/hub against the local Hub server. No Gateway controller
// runs here, so the tests check the route's weights, which is what a Gateway acts on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelDeployment } from "../../controller/api/generated/index.js";
import { ModelDeploymentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { DeploymentType, type KubeObject } from "../../controller/kube/resources.js";
import {
  localServingFinalizer,
  modelDeploymentController,
} from "../../controller/reconcilers/model-deployment/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { HubTestServer } from "../servers/huggingface/server.js";
import { runLlmops } from "../support/cli.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testCluster,
  testKubeConfig,
} from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installModelDeploymentCrds, routeWeights, type StoredModelDeployment } from "./harness.js";

type Stored = StoredModelDeployment;

describe("ModelDeployment reconciler", () => {
  let client: KubeClient;
  const hub = new HubTestServer();
  let hubUrl = "";
  let commits: { main: string; branches: Record<string, string> };
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    await installModelDeploymentCrds();
    hubUrl = await hub.start();
    commits = hub.addDataset({
      repo: "acme/coder",
      files: { "config.json": '{"model_type":"llama"}' },
      branches: { v2: { "config.json": '{"model_type":"llama","v":2}' } },
    });
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
  }, 330_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await hub.stop();
  });

  async function start(prefix: string): Promise<string> {
    const namespace = await createTestNamespace(prefix);
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(modelDeploymentController({ huggingFaceEndpoint: hubUrl }));
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    cleanups.push(async () => {
      stop.abort();
      await done;
      await deleteTestNamespace(namespace);
    });
    return namespace;
  }

  const manifest = (
    namespace: string,
    name: string,
    spec: Partial<ModelDeployment["spec"]> & { revision?: string },
  ): ModelDeployment => {
    const { revision, ...rest } = spec;
    return {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { name, namespace },
      spec: {
        model: { huggingFace: { repo: "acme/coder", revision: revision ?? "main" } },
        runtime: { type: "vllm", replicas: 2, resources: { gpu: { count: 0 } } },
        route: {
          parentRefs: [{ name: "inference-gateway", namespace: "gateway-system" }],
          path: "/v1",
        },
        rollbackWindow: { revisions: 1 },
        ...rest,
      },
    };
  };
  const apply = (md: ModelDeployment) =>
    client.apply(ModelDeploymentType, md, {
      force: true,
      fieldManager: "test",
    });
  const get = (namespace: string, name: string) =>
    client.get<Stored>(ModelDeploymentType, { namespace, name });
  const weights = (namespace: string, name: string) => routeWeights(client, namespace, name);

  const until = <T>(what: string, check: () => Promise<T | undefined>, ms = 60_000) =>
    eventually(what, check, ms);

  it("Immediate: the first revision takes all traffic; a new model moves it once Available; a revert flips back at once", async () => {
    const namespace = await start("md-immediate");
    await apply(manifest(namespace, "coder", { strategy: { type: "Immediate" } }));
    const ready = await kubectl([
      "wait",
      "--for=condition=Ready",
      "--timeout=90s",
      "-n",
      namespace,
      "modeldeployment/coder",
    ]);
    expect(ready.code, ready.stderr).toBe(0);
    const first = await get(namespace, "coder");
    const v1 = first.status?.stableRevision ?? "";
    expect(v1).toMatch(/^coder-[0-9a-f]{10}$/);
    expect(first.status?.phase).toBe("Healthy");
    // The branch was resolved once for this generation, and the commit recorded.
    expect(first.status?.resolvedModel).toEqual({
      generation: first.metadata.generation,
      requested: "acme/coder@main",
      commit: commits.main,
    });
    expect(first.status?.revisions?.[0]).toMatchObject({
      name: v1,
      model: `acme/coder@${commits.main}`,
      role: "Stable",
      weight: 100,
      ready: true,
    });
    expect(await weights(namespace, "coder")).toEqual({ [v1]: 100 });
    const deployment = await client.get<KubeObject & { spec?: Record<string, unknown> }>(
      DeploymentType,
      {
        namespace,
        name: v1,
      },
    );
    const container = (
      deployment.spec as { template: { spec: { containers: { args: string[] }[] } } }
    ).template.spec.containers[0];
    expect(container?.args.slice(0, 6)).toEqual([
      "--model",
      "acme/coder",
      "--revision",
      commits.main,
      "--served-model-name",
      "coder",
    ]);

    await apply(manifest(namespace, "coder", { strategy: { type: "Immediate" }, revision: "v2" }));
    const second = await until("v2 stable", async () => {
      const md = await get(namespace, "coder");
      return md.status?.stableRevision !== v1 && md.status?.phase === "Healthy" ? md : undefined;
    });
    const v2 = second.status?.stableRevision ?? "";
    expect(await weights(namespace, "coder")).toEqual({ [v2]: 100 });
    expect(second.status?.revisions?.find((r) => r.name === v1)).toMatchObject({
      role: "Warm",
      weight: 0,
    });
    // The warm revision runs one replica.
    await until("v1 scaled to 1", async () => {
      const d = await client.get<KubeObject & { spec?: { replicas?: number } }>(DeploymentType, {
        namespace,
        name: v1,
      });
      return d.spec?.replicas === 1 ? true : undefined;
    });

    // git revert: back to main, which is warm: traffic flips without a rollout.
    await apply(manifest(namespace, "coder", { strategy: { type: "Immediate" } }));
    await until("reverted to v1", async () =>
      (await weights(namespace, "coder"))[v1] === 100 ? true : undefined,
    );
    // The route is written before the status (act, then the one status write): wait for both.
    const reverted = await until("status to say so", async () => {
      const md = await get(namespace, "coder");
      return md.status?.stableRevision === v1 ? md : undefined;
    });
    expect(reverted.status?.stableRevision).toBe(v1);
    expect(reverted.status?.revisions?.find((r) => r.name === v2)?.role).toBe("Warm");
  }, 240_000);

  it("Canary: setWeight and pause steps move the weights; promote finishes; abort puts traffic on stable and a cleared abort retries", async () => {
    const namespace = await start("md-canary");
    const canary = (revision: string, extra: Partial<ModelDeployment["spec"]> = {}) =>
      manifest(namespace, "svc", {
        revision,
        strategy: {
          type: "Canary",
          canary: {
            steps: [
              { setWeight: 10 },
              { pause: { duration: "2s" } },
              { setWeight: 50 },
              { pause: {} },
            ],
          },
        },
        ...extra,
      });
    await apply(canary("main"));
    const stable = await until("stable", async () => {
      const md = await get(namespace, "svc");
      return md.status?.phase === "Healthy" ? (md.status.stableRevision ?? "") : undefined;
    });

    await apply(canary("v2"));
    const at10 = await until("canary at 10%", async () => {
      const md = await get(namespace, "svc");
      return md.status?.canaryRevision !== undefined && md.status.canaryWeight === 10
        ? md
        : undefined;
    });
    const next = at10.status?.canaryRevision ?? "";
    expect(await weights(namespace, "svc")).toEqual({ [stable]: 90, [next]: 10 });
    const paused = await until("paused at 50% for a promotion", async () => {
      const md = await get(namespace, "svc");
      return md.status?.canaryWeight === 50 && md.status.currentStep === 3 ? md : undefined;
    });
    expect(paused.status?.phase).toBe("Paused");
    expect(await weights(namespace, "svc")).toEqual({ [stable]: 50, [next]: 50 });

    // Abort: all traffic back on stable at once; clearing abort starts again at the first step.
    await apply(canary("v2", { abort: true }));
    await until("aborted", async () => {
      const md = await get(namespace, "svc");
      return md.status?.phase === "Aborted" && (await weights(namespace, "svc"))[stable] === 100
        ? true
        : undefined;
    });
    await apply(canary("v2", { abort: false }));
    await until("retried from the first step, paused again at 50%", async () => {
      const md = await get(namespace, "svc");
      return md.status?.phase === "Paused" && md.status.canaryWeight === 50 ? true : undefined;
    });

    // `llmops promote modeldeployment/svc` annotates the canary: the rest of the steps are skipped.
    const kubeconfig = testCluster().kubeconfigPath;
    const dry = await runLlmops([
      "promote",
      "md/svc",
      "-n",
      namespace,
      "--kubeconfig",
      kubeconfig,
      "--dry-run",
      "-o",
      "json",
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      revision: next,
      annotated: false,
      dryRun: true,
    });
    const promote = await runLlmops([
      "promote",
      "modeldeployment/svc",
      "-n",
      namespace,
      "--kubeconfig",
      kubeconfig,
    ]);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout).toContain(`promoted ${next}`);
    const promoted = await until("promoted", async () => {
      const md = await get(namespace, "svc");
      return md.status?.stableRevision === next && md.status.phase === "Healthy" ? md : undefined;
    });
    expect(promoted.status?.canaryRevision).toBeUndefined();
    expect(await weights(namespace, "svc")).toEqual({ [next]: 100 });
    // Nothing is rolling out now: nothing to promote, exit 1.
    const again = await runLlmops([
      "promote",
      "md/svc",
      "-n",
      namespace,
      "--kubeconfig",
      kubeconfig,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/has no rollout in progress/);
  }, 240_000);

  it("a revision that never becomes Available is Degraded after the progress deadline; traffic stays on stable", async () => {
    const namespace = await start("md-deadline");
    await apply(manifest(namespace, "slow", { strategy: { type: "Immediate" } }));
    const stable = await until("stable", async () => {
      const md = await get(namespace, "slow");
      return md.status?.phase === "Healthy" ? (md.status.stableRevision ?? "") : undefined;
    });
    // No node has this GPU: the pods stay Pending.
    await apply(
      manifest(namespace, "slow", {
        strategy: { type: "Immediate" },
        revision: "v2",
        progressDeadlineSeconds: 10,
        runtime: { type: "vllm", replicas: 1, resources: { gpu: { type: "nvidia-l4", count: 1 } } },
      }),
    );
    const degraded = await until("Degraded", async () => {
      const md = await get(namespace, "slow");
      return md.status?.phase === "Degraded" ? md : undefined;
    });
    const ready = degraded.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready).toMatchObject({ status: "False", reason: "ProgressDeadlineExceeded" });
    expect(ready?.message).toMatch(/is not available after \d+ s/);
    const waiting = degraded.status?.canaryRevision ?? "";
    expect(waiting).not.toBe(stable);
    // The unavailable revision is in the route with no weight: nothing is sent to it.
    expect(await weights(namespace, "slow")).toEqual({ [stable]: 100, [waiting]: 0 });
  }, 180_000);

  it("adds no finalizer, and deletes a ModelDeployment that still carries the local backend's from a local run", async () => {
    const namespace = await start("md-finalizer");
    await apply(manifest(namespace, "plain", { strategy: { type: "Immediate" } }));
    const healthy = await until("Healthy", async () => {
      const md = await get(namespace, "plain");
      return md.status?.phase === "Healthy" ? md : undefined;
    });
    expect(healthy.metadata.finalizers ?? []).toEqual([]);
    await client.mergePatch(
      ModelDeploymentType,
      { namespace, name: "plain" },
      { metadata: { finalizers: [localServingFinalizer] } },
    );
    await client.delete(ModelDeploymentType, { namespace, name: "plain" });
    await until("the ModelDeployment to be gone", async () =>
      (await client.tryGet(ModelDeploymentType, { namespace, name: "plain" })) === undefined
        ? true
        : undefined,
    );
  }, 120_000);
});
