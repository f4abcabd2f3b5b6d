// The TrainingJob reconciler with the kubernetes backend on the real control plane. kwok places
// the attempt's pod on its fake GPU node and keeps it Running (test/env/control-plane.ts); the
// test plays the trainer: it reports progress to the controller's progress endpoint with a token
// the apiserver minted for that pod, and ends the pod as a real trainer's exit would. The Job
// controller of kube-controller-manager turns the pod's end into the Job's.
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainingJob } from "../../controller/api/generated/index.js";
import { TrainingJobType } from "../../controller/api/kinds.js";
import {
  approvedRunAnnotation,
  runIdLabel,
  trainingJobLabel,
} from "../../controller/api/well-known.js";
import type { KubeClient } from "../../controller/kube/client.js";
import {
  JobType,
  PodType,
  type KubeObject,
  type StoredObject,
} from "../../controller/kube/resources.js";
import {
  ProgressStore,
  defaultProgressAudience,
  progressPath,
  startProgressReceiver,
  type ProgressReceiver,
} from "../../controller/backends/training/progress-receiver.js";
import type { TrainerEvent } from "../../controller/backends/training/trainer-contract.js";
import { trainingBackends } from "../../controller/reconcilers/training-job/backends.js";
import { trainingJobController } from "../../controller/reconcilers/training-job/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { HubTestServer } from "../servers/huggingface/server.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeConfig,
} from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import { installCrds } from "../validate/install-crds.js";

type Stored = StoredObject<TrainingJob>;
type Pod = KubeObject & {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    containers: { resources?: { limits?: Record<string, string> } }[];
  };
  status?: { phase?: string };
};
type Job = KubeObject & { spec?: { backoffLimit?: number; activeDeadlineSeconds?: number } };

describe("TrainingJob reconciler (kubernetes backend)", () => {
  let client: KubeClient;
  const hub = new HubTestServer();
  let hubUrl = "";
  let receiver: ProgressReceiver;
  let dispatcher: Agent;
  const store = new ProgressStore();
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    await installCrds();
    hubUrl = await hub.start();
    hub.addDataset({ repo: "acme/llama-70b", files: { "config.json": '{"model_type":"llama"}' } });
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    receiver = await startProgressReceiver({
      client,
      logger: memoryLogger("info").logger,
      listen: { host: "127.0.0.1", port: 0 },
      audience: defaultProgressAudience,
      onEvent: (e) => {
        store.record(e);
      },
    });
    dispatcher = new Agent({ connect: { ca: receiver.caPem } });
  }, 330_000);
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await dispatcher.close();
    await receiver.close();
    await hub.stop();
  });

  /** A controller for `namespace`; returns its stop function (a kill, for the restart test). */
  function startController(namespace: string): () => Promise<void> {
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(
      trainingJobController({
        huggingFaceEndpoint: hubUrl,
        backends: trainingBackends({
          enabled: ["kubernetes"],
          trainerImage: "ghcr.io/llmops/trainer:test",
          localRunsDir: "/nonexistent",
          progress: {
            store,
            url: receiver.url + progressPath,
            audience: defaultProgressAudience,
            caPem: receiver.caPem,
          },
        }),
      }),
    );
    const stop = new AbortController();
    const done = manager.run(stop.signal);
    return async () => {
      stop.abort();
      await done;
    };
  }

  async function setUp(prefix: string): Promise<{ namespace: string; stop: () => Promise<void> }> {
    const namespace = await createTestNamespace(prefix);
    currentNamespace = namespace;
    const sa = await kubectl(["create", "serviceaccount", "trainer", "-n", namespace]);
    expect(sa.code, sa.stderr).toBe(0);
    const data = await kubectl([
      "create",
      "configmap",
      "tickets",
      "-n",
      namespace,
      "--from-literal=dataset.jsonl=" + tickets(200),
    ]);
    expect(data.code, data.stderr).toBe(0);
    // The output volume: a PersistentVolume bound to the claim the TrainingJob names.
    const volume = await kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          {
            apiVersion: "v1",
            kind: "PersistentVolume",
            metadata: { name: `models-${namespace}` },
            spec: {
              capacity: { storage: "10Gi" },
              accessModes: ["ReadWriteOnce"],
              storageClassName: "",
              hostPath: { path: `/tmp/${namespace}` },
              claimRef: { namespace, name: "models" },
            },
          },
          {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: "models", namespace },
            spec: {
              accessModes: ["ReadWriteOnce"],
              storageClassName: "",
              volumeName: `models-${namespace}`,
              resources: { requests: { storage: "10Gi" } },
            },
          },
        ],
      }),
    });
    expect(volume.code, volume.stderr).toBe(0);
    cleanups.push(async () => {
      await kubectl(["delete", "pv", `models-${namespace}`, "--wait=false"]);
    });
    let stop = startController(namespace);
    cleanups.push(async () => {
      await stop();
      await deleteTestNamespace(namespace);
    });
    return {
      namespace,
      stop: async () => {
        await stop();
        stop = () => Promise.resolve();
      },
    };
  }

  const manifest = (
    namespace: string,
    name: string,
    spec: Partial<TrainingJob["spec"]> = {},
  ): TrainingJob => ({
    apiVersion: "llmops.dev/v1alpha1",
    kind: "TrainingJob",
    metadata: { name, namespace },
    spec: {
      baseModel: { repo: "acme/llama-70b", revision: "main", parametersBillions: 70 },
      method: "sft",
      dataset: { format: "chat", configMap: { name: "tickets" } },
      hyperparameters: { epochs: 1, maxSeqLength: 512 },
      lora: { rank: 8 },
      backend: { type: "kubernetes", kubernetes: { serviceAccountName: "trainer" } },
      output: { volume: { claimName: "models" } },
      budget: { maxCostUSD: 500, maxHours: 4 },
      maxAttempts: 2,
      ...spec,
    },
  });
  const apply = (tj: TrainingJob) =>
    client.apply(TrainingJobType, tj, { force: true, fieldManager: "test" });
  const get = (namespace: string, name: string) =>
    client.get<Stored>(TrainingJobType, { namespace, name });
  const jobs = async (namespace: string, name: string) =>
    (await client.list<Job>(JobType, { namespace, labelSelector: `${trainingJobLabel}=${name}` }))
      .items;
  let currentNamespace = "default";
  /** Waits for `check`; on a timeout the error shows the namespace's objects and events. */
  const until = <T>(what: string, check: () => Promise<T | undefined>, ms = 60_000) =>
    eventually(what, check, ms).catch(async (error: unknown) => {
      const namespace = currentNamespace;
      const seen = await kubectl([
        "get",
        "trainingjobs,pods,jobs,events",
        "-n",
        namespace,
        "-o",
        "wide",
      ]);
      const status = await kubectl([
        "get",
        "trainingjobs",
        "-n",
        namespace,
        "-o",
        "jsonpath={.items[*].status}",
      ]);
      throw new Error(`${String(error)}\n${seen.stdout}${seen.stderr}\n${status.stdout}`);
    });

  /** The running pod of the attempt's Job. */
  const podOf = (namespace: string, job: string) =>
    until(`a Running pod of Job ${job}`, async () => {
      const pods = await client.list<Pod>(PodType, { namespace, labelSelector: `job-name=${job}` });
      return pods.items.find((p) => p.status?.phase === "Running");
    });

  /** Plays the trainer in `pod`: posts events with a token the apiserver bound to the pod. */
  async function report(namespace: string, pod: Pod, events: TrainerEvent[]): Promise<void> {
    const minted = await kubectl([
      "create",
      "token",
      "trainer",
      "-n",
      namespace,
      "--duration",
      "10m",
      "--audience",
      defaultProgressAudience,
      "--bound-object-kind",
      "Pod",
      "--bound-object-name",
      pod.metadata?.name ?? "",
      "--bound-object-uid",
      pod.metadata?.uid ?? "",
    ]);
    expect(minted.code, minted.stderr).toBe(0);
    for (const event of events) {
      const response = await request(receiver.url + progressPath, {
        method: "POST",
        dispatcher,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${minted.stdout.trim()}`,
        },
        body: JSON.stringify(event),
      });
      await response.body.text();
      expect(response.statusCode).toBe(204);
    }
  }

  /** Ends the pod as the trainer's exit would: Succeeded, or Failed with the container's reason. */
  async function endPod(pod: Pod, outcome: "Succeeded" | "OOMKilled"): Promise<void> {
    const terminated =
      outcome === "Succeeded"
        ? { exitCode: 0, reason: "Completed" }
        : { exitCode: 137, reason: "OOMKilled" };
    const now = new Date().toISOString();
    await client.mergePatchStatus(
      PodType,
      { namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "" },
      {
        phase: outcome === "Succeeded" ? "Succeeded" : "Failed",
        containerStatuses: [
          {
            name: "trainer",
            image: "ghcr.io/llmops/trainer:test",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: { terminated: { ...terminated, startedAt: now, finishedAt: now } },
          },
        ],
      },
    );
  }

  it("estimates, waits for approval in an annotation, runs one Job per attempt across a controller restart, retries an OOM-killed pod, succeeds with progress; a spec change is a new run and a revert trains nothing", async () => {
    const { namespace, stop } = await setUp("tj-k8s");
    // Above the approval threshold: nothing starts until the run is approved.
    await apply(
      manifest(namespace, "llama", {
        budget: { maxCostUSD: 500, approvalThresholdUSD: 0.5, maxHours: 4 },
      }),
    );
    const waiting = await until("AwaitingApproval", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.phase === "AwaitingApproval" ? tj : undefined;
    });
    const runId = waiting.status?.runId ?? "";
    expect(runId).toMatch(/^[0-9a-f]{16}$/);
    expect(waiting.status?.estimate).toMatchObject({ gpuType: "nvidia-h100-80gb" });
    const gpus = waiting.status?.estimate?.gpuCount ?? 0;
    expect(gpus).toBeGreaterThanOrEqual(2);
    const ready = waiting.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.reason).toBe("AwaitingApproval");
    expect(ready?.message).toContain(`llmops approve trainingjob/llama`);
    expect(await jobs(namespace, "llama")).toHaveLength(0);

    // Approved for another run: still waiting. Approved for this one: it starts.
    await kubectl([
      "annotate",
      "-n",
      namespace,
      "trainingjob/llama",
      `${approvedRunAnnotation}=0000000000000000`,
    ]);
    await until("the message to name the approved run", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.conditions
        ?.find((c) => c.type === "Ready")
        ?.message.includes("approves run 0000000000000000")
        ? tj
        : undefined;
    });
    expect(await jobs(namespace, "llama")).toHaveLength(0);
    await kubectl([
      "annotate",
      "--overwrite",
      "-n",
      namespace,
      "trainingjob/llama",
      `${approvedRunAnnotation}=${runId}`,
    ]);
    const running = await until("Running", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.phase === "Running" && tj.status.job?.name ? tj : undefined;
    });
    const first = running.status?.job?.name ?? "";
    expect(first).toBe(`llama-${runId.slice(0, 10)}-1`);
    const [job] = await jobs(namespace, "llama");
    expect(job?.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 4 * 3600 });
    const pod = await podOf(namespace, first);
    // On the GPU node, with the GPUs the estimate chose.
    expect(pod.spec?.nodeName).toBe("kwok-gpu-0");
    expect(pod.spec?.serviceAccountName).toBe("trainer");
    expect(pod.spec?.containers[0]?.resources?.limits?.["nvidia.com/gpu"]).toBe(String(gpus));

    // Progress from the pod reaches status.
    await report(namespace, pod, [
      { llmops: 1, event: "started", runId, attempt: 1, totalSteps: 100 },
      { llmops: 1, event: "progress", step: 20, totalSteps: 100, epoch: 0.2, loss: 2.5 },
      { llmops: 1, event: "checkpoint", step: 20, path: "/llmops/output/models/x/checkpoint-20" },
    ]);
    const progressed = await until("progress in status", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.progress?.step === 20 ? tj : undefined;
    });
    expect(progressed.status?.progress).toMatchObject({ percent: 20, loss: 2.5, totalSteps: 100 });
    expect(progressed.status?.progress?.eta).toBeDefined();
    expect(progressed.status?.conditions?.find((c) => c.type === "Reconciling")?.message).toContain(
      "step 20/100",
    );

    // The controller dies mid-run; a new one finds the same Job and makes no second.
    await stop();
    const restarted = startController(namespace);
    cleanups.push(restarted);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await jobs(namespace, "llama")).map((j) => j.metadata.name)).toEqual([first]);
    expect((await get(namespace, "llama")).status?.job?.name).toBe(first);

    // The pod is OOM-killed: attempt 2 starts (a new Job), from the checkpoint.
    await endPod(pod, "OOMKilled");
    const second = await until("attempt 2", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.job?.attempt === 2 && tj.status.job.name ? tj : undefined;
    });
    expect(second.status?.attempts).toBe(2);
    expect(second.status?.runId).toBe(runId);
    const secondJob = second.status?.job?.name ?? "";
    expect(secondJob).toBe(`llama-${runId.slice(0, 10)}-2`);
    const pod2 = await podOf(namespace, secondJob);
    await report(namespace, pod2, [
      { llmops: 1, event: "started", runId, attempt: 2, totalSteps: 100, resumedFromStep: 20 },
      { llmops: 1, event: "progress", step: 100, totalSteps: 100, epoch: 1, loss: 0.4 },
      {
        llmops: 1,
        event: "completed",
        output: { path: `/llmops/output/models/${runId}/model` },
        metrics: { trainLoss: 0.4, steps: 100, seconds: 60 },
      },
    ]);
    await endPod(pod2, "Succeeded");
    const done = await until("Succeeded", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.phase === "Succeeded" ? tj : undefined;
    });
    expect(done.status?.output).toMatchObject({
      path: `/llmops/output/models/${runId}/model`,
      volume: "models",
    });
    expect(done.status?.progress?.percent).toBe(100);
    expect(done.status?.history?.[0]).toMatchObject({ runId, phase: "Succeeded" });
    expect(done.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(await jobs(namespace, "llama")).toHaveLength(2);

    // A spec change is a new run: it starts its own Job.
    await apply(
      manifest(namespace, "llama", {
        hyperparameters: { epochs: 2, maxSeqLength: 512 },
        budget: { maxCostUSD: 500, maxHours: 4 },
      }),
    );
    const changed = await until("a new run", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.runId !== runId && tj.status?.phase === "Running" && tj.status.job?.name
        ? tj
        : undefined;
    });
    const newRun = changed.status?.runId ?? "";
    const newJob = changed.status?.job?.name ?? "";
    expect(newJob).toBe(`llama-${newRun.slice(0, 10)}-1`);
    await podOf(namespace, newJob);

    // A revert while the new run trains: the new run's Job is cancelled, the old output serves.
    await apply(manifest(namespace, "llama", { budget: { maxCostUSD: 500, maxHours: 4 } }));
    const reverted = await until("the earlier run reused", async () => {
      const tj = await get(namespace, "llama");
      return tj.status?.runId === runId && tj.status.phase === "Succeeded" ? tj : undefined;
    });
    expect(reverted.status?.output?.path).toBe(`/llmops/output/models/${runId}/model`);
    await until("the superseded run's Job deleted", async () => {
      const names = (await jobs(namespace, "llama"))
        .filter((j) => j.metadata.deletionTimestamp === undefined)
        .map((j) => j.metadata.name);
      return names.includes(newJob) ? undefined : names;
    });
    const byRun = (await jobs(namespace, "llama")).filter(
      (j) => j.metadata.labels?.[runIdLabel] === runId,
    );
    expect(byRun).toHaveLength(2); // nothing trained again
    expect(reverted.status?.history?.map((h) => [h.runId, h.phase])).toEqual(
      expect.arrayContaining([
        [newRun, "Cancelled"],
        [runId, "Succeeded"],
      ]),
    );
    const events = await kubectl(["get", "events", "-n", namespace, "-o", "json"]);
    const reasons = (
      JSON.parse(events.stdout) as { items: { reason?: string; note?: string; message?: string }[] }
    ).items;
    expect(reasons.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        "AwaitingApproval",
        "Started",
        "AttemptFailed",
        "Succeeded",
        "RunSuperseded",
        "RunReused",
      ]),
    );
    const retried = reasons.find((e) => e.reason === "AttemptFailed");
    expect(`${retried?.note ?? ""}${retried?.message ?? ""}`).toContain("OOMKilled");
    expect(`${retried?.note ?? ""}${retried?.message ?? ""}`).toContain("checkpoint at step 20");
    const superseded = reasons.find((e) => e.reason === "RunSuperseded");
    expect(`${superseded?.note ?? ""}${superseded?.message ?? ""}`).toContain(newRun);
    expect(`${superseded?.note ?? ""}${superseded?.message ?? ""}`).toContain(runId);
  }, 240_000);

  it("refuses a run above budget.maxCostUSD, and suspend stops a running attempt", async () => {
    const { namespace } = await setUp("tj-budget");
    await apply(manifest(namespace, "pricey", { budget: { maxCostUSD: 0.01 } }));
    const refused = await until("Stalled BudgetExceeded", async () => {
      const tj = await get(namespace, "pricey");
      return tj.status?.conditions?.find(
        (c) => c.type === "Stalled" && c.reason === "BudgetExceeded",
      )
        ? tj
        : undefined;
    });
    const message = refused.status?.conditions?.find((c) => c.type === "Stalled")?.message ?? "";
    expect(message).toContain("above budget.maxCostUSD 0.01 USD");
    expect(message).toContain(`${(refused.status?.estimate?.costUSD ?? 0).toFixed(2)} USD`);
    expect(await jobs(namespace, "pricey")).toHaveLength(0);

    await apply(manifest(namespace, "paused"));
    const running = await until("Running", async () => {
      const tj = await get(namespace, "paused");
      return tj.status?.phase === "Running" && tj.status.job?.name ? tj : undefined;
    });
    await podOf(namespace, running.status?.job?.name ?? "");
    await apply(manifest(namespace, "paused", { suspend: true }));
    const cancelled = await until("Cancelled", async () => {
      const tj = await get(namespace, "paused");
      return tj.status?.phase === "Cancelled" ? tj : undefined;
    });
    // A suspension the user asked for is not a failure: Ready=False reason Suspended, neither
    // Stalled (kstatus: Failed) nor Reconciling (InProgress), and this generation is handled.
    expect(
      cancelled.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
    ).toEqual([["Ready", "False", "Suspended", cancelled.metadata.generation]]);
    expect(cancelled.status?.observedGeneration).toBe(cancelled.metadata.generation);
    await until("the Job gone", async () => {
      const live = (await jobs(namespace, "paused")).filter(
        (j) => j.metadata.deletionTimestamp === undefined,
      );
      return live.length === 0 ? true : undefined;
    });
  }, 120_000);
});

/** JSON Lines of chat rows: support tickets and their category. */
function tickets(n: number): string {
  const categories = ["billing", "bug", "account", "feature"];
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        {
          role: "user",
          content: `Ticket ${String(i)}: something about ${categories[i % 4] ?? ""}`,
        },
        { role: "assistant", content: categories[i % 4] ?? "" },
      ],
    }),
  ).join("\n");
}
