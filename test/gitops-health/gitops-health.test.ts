// Flux and Argo CD decide health from status. Here the real `llmops controller` (a child process)
// reconciles each of the four kinds into a Ready, an in-progress and a stalled state on the real
// control plane; `kubectl get -o json` fetches them, and the Go checker (test/gitops-health) reads
// each with kstatus, as Flux's health checks and `wait: true` do, and with our Argo CD Lua health
// checks in gopher-lua, as Argo CD runs them. Nothing here writes a status by hand.
//
// LLMOPS_WRITE_GITOPS_FIXTURES=1 also saves the fetched objects as the Argo CD health checks' test
// data (deploy/argocd/resource_customizations/llmops.dev/<Kind>/testdata/<name>.yaml) and writes
// each kind's health_test.yaml from what the scripts returned, Argo CD's own test layout.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HubTestServer } from "../servers/huggingface/server.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import { installModelDeploymentCrds } from "../model-deployment/harness.js";
import { eventually } from "../runtime/helpers.js";
import { createTestNamespace, deleteTestNamespace, kubectl } from "../support/cluster.js";
import {
  killAll,
  startControllerProcess,
  type ControllerProcess,
} from "../support/controller-process.js";
import { stringify } from "yaml";
import { checkHealth, gitopsHealthChecker, luaDir, type HealthReport } from "./checker.js";
import { expectations } from "./expectations.js";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Live {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; generation?: number } & Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: {
    phase?: string;
    conditions?: Condition[];
    job?: { name?: string };
    canaryWeight?: number;
  } & Record<string, unknown>;
}

const api = "llmops.dev/v1alpha1";
const resource: Record<string, string> = {
  Prompt: "prompts.llmops.dev",
  Experiment: "experiments.llmops.dev",
  TrainingJob: "trainingjobs.llmops.dev",
  ModelDeployment: "modeldeployments.llmops.dev",
};

describe("GitOps tools read our status: kstatus and the Argo CD health checks", () => {
  const hub = new HubTestServer();
  let llm: OpenAiTestServer | undefined;
  let namespace = "";
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    // The checker builds while the cluster side is set up (once per source hash; then cached).
    const built = gitopsHealthChecker();
    await installModelDeploymentCrds();
    const hubUrl = await hub.start();
    hub.addDataset({
      repo: "acme/coder",
      files: { "config.json": '{"model_type":"llama"}' },
      branches: { v2: { "config.json": '{"model_type":"llama","v":2}' } },
    });
    hub.addDataset({ repo: "acme/llama-1b", files: { "config.json": '{"model_type":"llama"}' } });
    const items = arithmeticDataset(12, 3);
    llm = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.5 },
        { id: "model-strong", accuracy: 0.9 },
      ],
      dataset: items,
    });
    namespace = await createTestNamespace("gitops");
    await prepareTrainingNamespace(namespace);
    controllers.push(
      await startControllerProcess(namespace, [
        "--hf-endpoint",
        hubUrl,
        "--training-backends",
        "kubernetes",
        "--trainer-image",
        "ghcr.io/llmops/trainer:test",
        "--log-level",
        "warn",
      ]),
    );
    await apply(manifests(namespace, llm.baseURL, items));
    await built;
  }, 600_000);

  afterAll(async () => {
    await killAll(controllers);
    await kubectl(["delete", "pv", `models-${namespace}`, "--wait=false"]);
    if (namespace !== "") await deleteTestNamespace(namespace);
    await llm?.close();
    await hub.stop();
  });

  it("reads a Ready, an in-progress and a stalled object of each kind as kstatus and Argo CD should", async () => {
    // Prompt and Experiment.
    await until("Prompt", "ready", (o) => condition(o, "Ready")?.status === "True");
    await until("Prompt", "invalid", (o) => condition(o, "Stalled")?.status === "True");
    await until(
      "Prompt",
      "retrying",
      (o) => condition(o, "Reconciling")?.reason === "ProgressingWithRetry",
    );
    await until(
      "Experiment",
      "ready",
      (o) => o.status?.phase === "Completed" && condition(o, "Ready")?.status === "True",
      150_000,
    );
    await until(
      "Experiment",
      "waiting",
      (o) => condition(o, "Reconciling")?.reason === "DependencyNotReady",
    );
    await until("Experiment", "invalid", (o) => condition(o, "Stalled")?.status === "True");

    // TrainingJob: kwok keeps each attempt's pod Running; this test ends a pod as the trainer's
    // exit would, and kube-controller-manager's Job controller ends the Job.
    await until(
      "TrainingJob",
      "over-budget",
      (o) => condition(o, "Stalled")?.reason === "BudgetExceeded",
    );
    await until("TrainingJob", "approval", (o) => o.status?.phase === "AwaitingApproval");
    await until("TrainingJob", "suspended", (o) => condition(o, "Ready")?.reason === "Suspended");
    for (const name of ["ready", "running", "failed"]) {
      const running = await until(
        "TrainingJob",
        name,
        (o) => o.status?.phase === "Running" && o.status.job?.name !== undefined,
      );
      await runningPod(running.status?.job?.name ?? "");
    }
    await endPod((await get("TrainingJob", "ready")).status?.job?.name ?? "", "Succeeded");
    await endPod((await get("TrainingJob", "failed")).status?.job?.name ?? "", "OOMKilled");
    await until("TrainingJob", "ready", (o) => o.status?.phase === "Succeeded", 90_000);
    await until("TrainingJob", "failed", (o) => o.status?.phase === "Failed", 90_000);

    // ModelDeployment: two canaries start from a revision serving all traffic.
    await until(
      "ModelDeployment",
      "ready",
      (o) => condition(o, "Ready")?.status === "True",
      90_000,
    );
    await until("ModelDeployment", "missing", (o) => condition(o, "Stalled")?.status === "True");
    for (const name of ["canary", "held"]) {
      await until("ModelDeployment", name, (o) => condition(o, "Ready")?.status === "True", 90_000);
      const md = await get("ModelDeployment", name);
      const model = md.spec?.model as { huggingFace: { repo: string; revision: string } };
      await apply([
        {
          ...md,
          metadata: { name, namespace },
          spec: { ...md.spec, model: { huggingFace: { ...model.huggingFace, revision: "v2" } } },
          status: undefined,
        },
      ]);
      await until(
        "ModelDeployment",
        name,
        (o) => o.status?.phase === "Paused" && o.status.canaryWeight === 25,
        90_000,
      );
    }

    // Every object, fetched as a user would, read by both.
    const fetched = await kubectl([
      "get",
      Object.values(resource).join(","),
      "-n",
      namespace,
      "-o",
      "json",
    ]);
    expect(fetched.code, fetched.stderr).toBe(0);
    const reports = await checkHealth(fetched.stdout);
    const seen = reports.map((r) => ({
      kind: r.kind,
      name: r.name,
      kstatus: r.kstatus.status,
      argocd: r.argocd?.status,
    }));
    const want = expectations.map((e) => ({
      kind: e.kind,
      name: e.name,
      kstatus: e.kstatus,
      argocd: e.argocd,
    }));
    const byKey = (a: { kind: string; name: string }, b: { kind: string; name: string }) =>
      `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`);
    expect(seen.sort(byKey)).toEqual(want.sort(byKey));
    // The messages are the controller's own, not a generic word.
    const failed = reports.find((r) => r.kind === "TrainingJob" && r.name === "over-budget");
    expect(failed?.kstatus.message).toContain("above budget.maxCostUSD");
    expect(failed?.argocd?.message).toBe(failed?.kstatus.message);
    const suspended = reports.find((r) => r.kind === "TrainingJob" && r.name === "suspended");
    expect(suspended?.kstatus.message).toContain("spec.suspend is true");
    expect(suspended?.argocd?.message).toBe(suspended?.kstatus.message);
    const held = reports.find((r) => r.kind === "ModelDeployment" && r.name === "held");
    expect(held?.argocd?.message).toContain("until it is promoted");

    if (process.env.LLMOPS_WRITE_GITOPS_FIXTURES === "1") {
      const list = JSON.parse(fetched.stdout) as { items: Live[] };
      await writeFixtures(list.items, reports);
    }
  }, 420_000);

  it("a new object of each kind, before the controller's first status write, is in progress for both", async () => {
    // A namespace the controller does not watch: nothing ever writes these objects' status, so
    // what the apiserver serves is the CRDs' schema default alone (observedGeneration -1, as Flux's
    // own kinds), and Flux's `wait: true` keeps waiting instead of passing at once.
    const unwatched = await createTestNamespace("gitops-new");
    try {
      const fresh = manifests(unwatched, llm?.baseURL ?? "", arithmeticDataset(12, 3)).filter(
        (o) => (o as Live).metadata.name === "ready",
      );
      expect(fresh).toHaveLength(4);
      await apply(fresh);
      const fetched = await kubectl([
        "get",
        Object.values(resource).join(","),
        "-n",
        unwatched,
        "-o",
        "json",
      ]);
      expect(fetched.code, fetched.stderr).toBe(0);
      const { items } = JSON.parse(fetched.stdout) as { items: Live[] };
      expect(items.map((o) => [o.kind, o.status]).sort()).toEqual(
        Object.keys(resource)
          .sort()
          .map((kind) => [kind, { observedGeneration: -1 }]),
      );
      const reports = await checkHealth(fetched.stdout);
      expect(
        reports
          .map((r) => ({ kind: r.kind, kstatus: r.kstatus, argocd: r.argocd?.status }))
          .sort((a, b) => a.kind.localeCompare(b.kind)),
      ).toEqual(
        Object.keys(resource)
          .sort()
          .map((kind) => ({
            kind,
            kstatus: {
              status: "InProgress",
              message: `${kind} generation is 1, but latest observed generation is -1`,
            },
            argocd: "Progressing",
          })),
      );
    } finally {
      await deleteTestNamespace(unwatched);
    }
  }, 120_000);

  // --- helpers ---

  async function get(kind: string, name: string): Promise<Live> {
    const result = await kubectl([
      "get",
      resource[kind] ?? kind,
      name,
      "-n",
      namespace,
      "-o",
      "json",
    ]);
    if (result.code !== 0) throw new Error(result.stderr);
    return JSON.parse(result.stdout) as Live;
  }

  /** Waits for the controller to bring `kind/name` to the state `check` looks for. */
  function until(
    kind: string,
    name: string,
    check: (o: Live) => boolean,
    ms = 60_000,
  ): Promise<Live> {
    return eventually(
      `${kind}/${name}`,
      async () => {
        const o = await get(kind, name);
        return check(o) ? o : undefined;
      },
      ms,
    ).catch(async (error: unknown) => {
      const o = await get(kind, name).catch(() => undefined);
      throw new Error(
        `${String(error)}\nstatus: ${JSON.stringify(o?.status)}\ncontroller: ${controllers[0]?.output.join("").slice(-4000) ?? ""}`,
      );
    });
  }

  async function runningPod(job: string): Promise<string> {
    return eventually(
      `a Running pod of Job ${job}`,
      async () => {
        const pods = await kubectl([
          "get",
          "pods",
          "-n",
          namespace,
          "-l",
          `job-name=${job}`,
          "-o",
          "json",
        ]);
        const list = JSON.parse(pods.stdout) as {
          items: { metadata: { name: string }; status?: { phase?: string } }[];
        };
        return list.items.find((p) => p.status?.phase === "Running")?.metadata.name;
      },
      60_000,
    ).catch(async (error: unknown) => {
      const seen = await kubectl(["get", "pods,jobs,pvc,events", "-n", namespace, "-o", "wide"]);
      throw new Error(`${String(error)}\n${seen.stdout}${seen.stderr}`);
    });
  }

  /** Ends the attempt's pod as the trainer's exit would: Succeeded, or OOM-killed. */
  async function endPod(job: string, outcome: "Succeeded" | "OOMKilled"): Promise<void> {
    const pod = await runningPod(job);
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const terminated =
      outcome === "Succeeded"
        ? { exitCode: 0, reason: "Completed" }
        : { exitCode: 137, reason: "OOMKilled" };
    const patched = await kubectl([
      "patch",
      "pod",
      pod,
      "-n",
      namespace,
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
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
      }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
  }
});

async function apply(objects: readonly unknown[]): Promise<void> {
  const result = await kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
  expect(result.code, result.stderr).toBe(0);
}

function condition(o: Live, type: string): Condition | undefined {
  return o.status?.conditions?.find((c) => c.type === type);
}

/** What a TrainingJob with the kubernetes backend needs: its ServiceAccount, dataset and volume. */
async function prepareTrainingNamespace(namespace: string): Promise<void> {
  const rows = Array.from({ length: 50 }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `Ticket ${String(i)}: the invoice is wrong` },
        { role: "assistant", content: "billing" },
      ],
    }),
  ).join("\n");
  await apply([
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "trainer", namespace } },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "tickets", namespace },
      data: { "dataset.jsonl": rows },
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `models-${namespace}` },
      spec: {
        capacity: { storage: "10Gi" },
        accessModes: ["ReadWriteMany"],
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
        accessModes: ["ReadWriteMany"],
        storageClassName: "",
        volumeName: `models-${namespace}`,
        resources: { requests: { storage: "10Gi" } },
      },
    },
  ]);
}

/** The objects under test, in the states their names say once the controller has reconciled them. */
function manifests(
  namespace: string,
  baseURL: string,
  items: ReturnType<typeof arithmeticDataset>,
): unknown[] {
  const meta = (name: string) => ({ name, namespace });
  const prompt = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: api,
    kind: "Prompt",
    metadata: meta(name),
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
      ...spec,
    },
  });
  const experiment = (name: string, promptName: string, dataset: unknown) => ({
    apiVersion: api,
    kind: "Experiment",
    metadata: meta(name),
    spec: {
      variants: [
        { name: "baseline", control: true, prompt: { name: promptName, label: "production" } },
        { name: "strong", prompt: { name: promptName }, model: { name: "model-strong" } },
      ],
      dataset,
      evaluators: [{ name: "correct", type: "exactMatch" }],
      analysis: { primaryMetric: "correct", minSamples: 10 },
      concurrency: 4,
    },
  });
  const inline = {
    inline: {
      items: items.map((i) => ({ id: i.id, vars: { question: i.input }, expected: i.expected })),
    },
  };
  const trainingJob = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: api,
    kind: "TrainingJob",
    metadata: meta(name),
    spec: {
      baseModel: { repo: "acme/llama-1b", revision: "main", parametersBillions: 1 },
      method: "sft",
      dataset: { format: "chat", configMap: { name: "tickets" } },
      hyperparameters: { epochs: 1, maxSeqLength: 512 },
      lora: { rank: 8 },
      // The GPU type kwok's GPU node offers (test/env/control-plane.ts).
      resources: { gpu: { type: "nvidia-h100-80gb", count: 1 } },
      backend: { type: "kubernetes", kubernetes: { serviceAccountName: "trainer" } },
      output: { volume: { claimName: "models" } },
      budget: { maxCostUSD: 500, maxHours: 4 },
      maxAttempts: 1,
      ...spec,
    },
  });
  const modelDeployment = (name: string, spec: Record<string, unknown> = {}) => ({
    apiVersion: api,
    kind: "ModelDeployment",
    metadata: meta(name),
    spec: {
      model: { huggingFace: { repo: "acme/coder", revision: "main" } },
      runtime: { type: "vllm", replicas: 1, resources: { gpu: { count: 0 } } },
      route: {
        parentRefs: [{ name: "inference-gateway", namespace: "gateway-system" }],
        path: "/v1",
      },
      rollbackWindow: { revisions: 1 },
      strategy: { type: "Immediate" },
      ...spec,
    },
  });
  const canary = (pause: Record<string, unknown>) => ({
    strategy: { type: "Canary", canary: { steps: [{ setWeight: 25 }, { pause }] } },
  });
  return [
    prompt("ready", {}),
    prompt("invalid", {
      template: { messages: [{ role: "user", content: "Summarize {{ticket}}" }] },
      variables: [{ name: "question", required: true }],
    }),
    prompt("retrying", {
      publish: {
        langfuse: {
          baseURL: "http://127.0.0.1:9",
          publicKeySecretRef: { name: "langfuse", key: "public" },
          secretKeySecretRef: { name: "langfuse", key: "secret" },
        },
      },
    }),
    experiment("ready", "ready", inline),
    experiment("waiting", "not-there", inline),
    experiment("invalid", "ready", {
      inline: {
        items: items.slice(0, 10).map((i) => ({ id: i.id, vars: {}, expected: i.expected })),
      },
    }),
    trainingJob("ready"),
    trainingJob("running"),
    trainingJob("failed"),
    trainingJob("over-budget", { budget: { maxCostUSD: 0.0001 } }),
    trainingJob("approval", { budget: { maxCostUSD: 500, approvalThresholdUSD: 0.0001 } }),
    trainingJob("suspended", { suspend: true }),
    modelDeployment("ready"),
    modelDeployment("missing", {
      model: { huggingFace: { repo: "acme/not-on-the-hub", revision: "main" } },
    }),
    modelDeployment("canary", canary({ duration: "1h" })),
    modelDeployment("held", canary({})),
  ];
}

/**
 * Saves the fetched objects as Argo CD test data, without what changes from run to run that health
 * does not read, and each kind's health_test.yaml with the health the scripts gave them.
 */
async function writeFixtures(objects: Live[], reports: HealthReport[]): Promise<void> {
  const tests = new Map<string, { healthStatus: unknown; inputPath: string }[]>();
  for (const o of objects) {
    const { name, generation, deletionTimestamp } = o.metadata;
    const fixture = {
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: {
        name,
        namespace: "demo",
        ...(generation !== undefined ? { generation } : {}),
        ...(deletionTimestamp !== undefined ? { deletionTimestamp } : {}),
      },
      spec: o.spec,
      status: o.status,
    };
    const live = o.metadata.namespace;
    const json = JSON.stringify(fixture);
    const text = live === undefined || live === "" ? json : json.replaceAll(live, "demo");
    const dir = join(luaDir, "llmops.dev", o.kind, "testdata");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${name}.yaml`), stringify(JSON.parse(text), { lineWidth: 0 }));
    const report = reports.find((r) => r.kind === o.kind && r.name === name);
    const health = report?.argocd ?? { status: "", message: "" };
    const message =
      live === undefined || live === "" ? health.message : health.message.replaceAll(live, "demo");
    const list = tests.get(o.kind) ?? [];
    list.push({
      healthStatus: { status: health.status, message },
      inputPath: `testdata/${name}.yaml`,
    });
    tests.set(o.kind, list);
  }
  for (const [kind, list] of tests) {
    await writeFile(
      join(luaDir, "llmops.dev", kind, "health_test.yaml"),
      stringify(
        { tests: list.sort((a, b) => a.inputPath.localeCompare(b.inputPath)) },
        { lineWidth: 0 },
      ),
    );
  }
}
