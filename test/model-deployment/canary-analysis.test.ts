// Canaries gated by a real Prometheus (Debian's binary, test/servers/prometheus/install.sh)
// scraping a local exporter whose per-revision error ratio the test sets: a healthy canary goes
// 10 → 50 → 100 and becomes stable, a bad one aborts at its first analysis with traffic back on
// stable, an unreachable Prometheus aborts only past consecutiveErrorLimit, and a controller
// restarted during a pause resumes the pause instead of starting it again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelDeployment } from "../../controller/api/generated/index.js";
import { ModelDeploymentType } from "../../controller/api/kinds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { modelDeploymentController } from "../../controller/reconcilers/model-deployment/reconciler.js";
import { revisionName } from "../../controller/reconcilers/model-deployment/workloads.js";
import { Manager } from "../../controller/runtime/manager.js";
import { startExporter, type MetricsExporter } from "../servers/exporter/server.js";
import { HubTestServer } from "../servers/huggingface/server.js";
import { startPrometheus, type PrometheusTestServer } from "../servers/prometheus/server.js";
import { createTestNamespace, deleteTestNamespace, testKubeConfig } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import {
  installModelDeploymentCrds,
  recordRouteWeights,
  routeWeights,
  type StoredModelDeployment,
} from "./harness.js";

type Stored = StoredModelDeployment;

const errorRate =
  'sum(rate(llm_requests_total{revision="{{revision}}",code="500"}[5s])) / ' +
  'sum(rate(llm_requests_total{revision="{{revision}}"}[5s]))';

describe("canary analysis against a real Prometheus", () => {
  let client: KubeClient;
  const hub = new HubTestServer();
  let hubUrl = "";
  let commits: { main: string; branches: Record<string, string> };
  let exporter: MetricsExporter;
  let prometheus: PrometheusTestServer;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    await installModelDeploymentCrds();
    hubUrl = await hub.start();
    commits = hub.addDataset({
      repo: "acme/coder",
      files: { "config.json": "{}" },
      branches: { good: { "config.json": '{"v":"good"}' }, bad: { "config.json": '{"v":"bad"}' } },
    });
    exporter = await startExporter();
    prometheus = await startPrometheus({ targets: [exporter.target], scrapeIntervalMs: 1000 });
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
  }, 330_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await prometheus.stop();
    await exporter.stop();
    await hub.stop();
  });

  function startController(namespace: string): () => Promise<void> {
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(
      modelDeploymentController({
        huggingFaceEndpoint: hubUrl,
        analysis: { defaultPrometheusAddress: prometheus.url },
      }),
    );
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    return async () => {
      stop.abort();
      await done;
    };
  }
  async function namespaceWithController(prefix: string): Promise<string> {
    const namespace = await createTestNamespace(prefix);
    const stop = startController(namespace);
    cleanups.push(async () => {
      await stop();
      await deleteTestNamespace(namespace);
    });
    return namespace;
  }

  const manifest = (
    namespace: string,
    revision: string,
    steps: NonNullable<NonNullable<ModelDeployment["spec"]["strategy"]>["canary"]>["steps"],
    analysis: Partial<
      NonNullable<NonNullable<ModelDeployment["spec"]["strategy"]>["canary"]>["analysis"]
    > = {},
  ): ModelDeployment => ({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name: "coder", namespace },
    spec: {
      model: { huggingFace: { repo: "acme/coder", revision } },
      runtime: { replicas: 1, resources: { gpu: { count: 0 } } },
      route: { parentRefs: [{ name: "gw" }] },
      strategy: {
        type: "Canary",
        canary: {
          steps,
          analysis: {
            interval: "1s",
            failureLimit: 0,
            consecutiveErrorLimit: 8,
            metrics: [
              {
                name: "error-rate",
                successCondition: "result < 0.05",
                prometheus: { query: errorRate },
              },
            ],
            ...analysis,
          },
        },
      },
    },
  });
  /**
   * The revision name the controller will give `md` (the same pure function it uses, on the
   * object as the apiserver stores it: with the CRD's defaults, from a server-side dry run).
   */
  const revisionOf = async (md: ModelDeployment): Promise<string> => {
    const stored = await client.apply<Stored>(ModelDeploymentType, md, {
      force: true,
      fieldManager: "test",
      dryRun: true,
    });
    const branch = md.spec.model.huggingFace?.revision ?? "main";
    const commit = branch === "main" ? commits.main : (commits.branches[branch] ?? "");
    return revisionName(stored, {
      source: `acme/coder@${commit}`,
      model: { repo: "acme/coder", revision: commit },
    });
  };
  const apply = (md: ModelDeployment) =>
    client.apply(ModelDeploymentType, md, {
      force: true,
      fieldManager: "test",
    });
  const get = (namespace: string) =>
    client.get<Stored>(ModelDeploymentType, { namespace, name: "coder" });
  const weights = (namespace: string) => routeWeights(client, namespace, "coder");
  async function stableOn(
    namespace: string,
    branch: string,
    steps: Parameters<typeof manifest>[2],
  ) {
    await apply(manifest(namespace, branch, steps));
    return eventually("first revision stable", async () => {
      const md = await get(namespace);
      return md.status?.phase === "Healthy" ? (md.status.stableRevision ?? "") : undefined;
    });
  }

  it("a healthy canary goes 10 → 50 → 100 through its analyses and becomes stable", async () => {
    const namespace = await namespaceWithController("canary-good");
    const steps = [
      { setWeight: 10 },
      { analysis: { metrics: ["error-rate"], count: 2 } },
      { setWeight: 50 },
      { analysis: { metrics: ["error-rate"] } },
    ];
    const stable = await stableOn(namespace, "main", steps);
    const canary = await revisionOf(manifest(namespace, "good", steps));
    exporter.setErrorRatio(canary, 0.001);
    const route = await recordRouteWeights(client, namespace, "coder");
    await apply(manifest(namespace, "good", steps));
    const done = await eventually(
      "the canary is stable",
      async () => {
        const md = await get(namespace);
        return md.status?.stableRevision === canary && md.status.phase === "Healthy"
          ? md
          : undefined;
      },
      120_000,
    );
    route.stop();
    // Every version of the route, from a watch: it went through both steps, in order.
    const pairs = route.pairOf(stable, canary);
    expect(pairs).toContain("90/10");
    expect(pairs).toContain("50/50");
    expect(pairs.indexOf("90/10")).toBeLessThan(pairs.indexOf("50/50"));
    expect(await weights(namespace)).toEqual({ [canary]: 100 });
    expect(done.status?.revisions?.find((r) => r.name === stable)?.role).toBe("Warm");
  }, 240_000);

  it("a bad canary aborts at its first analysis and traffic goes back to stable", async () => {
    const namespace = await namespaceWithController("canary-bad");
    const steps = [
      { setWeight: 20 },
      { analysis: { metrics: ["error-rate"], count: 3 } },
      { setWeight: 100 },
    ];
    const stable = await stableOn(namespace, "main", steps);
    const canary = await revisionOf(manifest(namespace, "bad", steps));
    exporter.setErrorRatio(canary, 0.3);
    await apply(manifest(namespace, "bad", steps));
    const aborted = await eventually(
      "aborted",
      async () => {
        const md = await get(namespace);
        return md.status?.phase === "Aborted" ? md : undefined;
      },
      120_000,
    );
    expect(aborted.status?.rollout?.abortedRevision).toBe(canary);
    expect(aborted.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "AnalysisFailed",
    });
    const measured = aborted.status?.measurements?.find((m) => m.metric === "error-rate");
    expect(measured?.successful).toBe(false);
    expect(measured?.value).toBeGreaterThan(0.05);
    expect(await weights(namespace)).toEqual({ [stable]: 100, [canary]: 0 });
    expect(aborted.status?.stableRevision).toBe(stable);
  }, 240_000);

  it("an unreachable Prometheus errors without failing, and aborts only past consecutiveErrorLimit", async () => {
    const namespace = await namespaceWithController("canary-down");
    const steps = [{ setWeight: 10 }, { analysis: { metrics: ["error-rate"], count: 50 } }];
    await apply(manifest(namespace, "main", steps, { consecutiveErrorLimit: 3 }));
    await eventually("first revision stable", async () =>
      (await get(namespace)).status?.phase === "Healthy" ? true : undefined,
    );
    const canary = await revisionOf(
      manifest(namespace, "good", steps, { consecutiveErrorLimit: 3 }),
    );
    exporter.setErrorRatio(canary, 0.001);
    await prometheus.halt();
    try {
      await apply(manifest(namespace, "good", steps, { consecutiveErrorLimit: 3 }));
      const erroring = await eventually(
        "a measurement errored",
        async () => {
          const md = await get(namespace);
          return (md.status?.rollout?.consecutiveErrors ?? 0) >= 1 ? md : undefined;
        },
        60_000,
      );
      // An error is not a failure.
      expect(erroring.status?.phase).not.toBe("Aborted");
      expect(erroring.status?.rollout?.failures ?? 0).toBe(0);
      const aborted = await eventually(
        "aborted past the error limit",
        async () => {
          const md = await get(namespace);
          return md.status?.phase === "Aborted" ? md : undefined;
        },
        60_000,
      );
      expect(aborted.status?.rollout?.consecutiveErrors).toBe(4);
      expect(aborted.status?.rollout?.message).toMatch(
        /errored 4 times in a row \(consecutiveErrorLimit 3\)/,
      );
    } finally {
      await prometheus.resume();
    }
  }, 240_000);

  it("a controller restarted during a pause resumes the pause where it was", async () => {
    const namespace = await createTestNamespace("canary-restart");
    let stop = startController(namespace);
    cleanups.push(async () => {
      await stop();
      await deleteTestNamespace(namespace);
    });
    const steps = [{ setWeight: 30 }, { pause: { duration: "12s" } }, { setWeight: 100 }];
    await stableOn(namespace, "main", steps);
    await apply(manifest(namespace, "good", steps));
    const paused = await eventually("paused", async () => {
      const md = await get(namespace);
      return md.status?.phase === "Paused" ? md : undefined;
    });
    const began = paused.status?.rollout?.stepStartedAt;
    expect(began).toBeDefined();
    await stop();
    stop = startController(namespace);
    // The new controller keeps the pause's start from status: while it is paused, the step's
    // start never moves (a restarted pause would start again from the restart).
    const starts = new Set<string>();
    const done = await eventually(
      "rolled out",
      async () => {
        const md = await get(namespace);
        if (md.status?.phase === "Paused") starts.add(md.status.rollout?.stepStartedAt ?? "");
        return md.status?.phase === "Healthy" ? md : undefined;
      },
      60_000,
    );
    expect([...starts]).toEqual([began]);
    expect(done.status?.stableRevision).toBe(await revisionOf(manifest(namespace, "good", steps)));
  }, 180_000);
});
