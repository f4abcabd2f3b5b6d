// The chart installed with the real helm into a control plane of this file's own (the CRDs it
// installs are cluster-wide, and a controller watching all namespaces must not see other files'
// objects), as one story: install → least privilege proven → upgrade → uninstall → each
// ci/*-values.yaml, as chart-testing's `ct install` would.
//
// Least privilege, proven: kwok runs no containers, so the controller runs here, outside the
// cluster, with a kubeconfig that holds nothing but a token of the chart's ServiceAccount
// (`kubectl create token`). It must reconcile a Prompt, an Experiment, a TrainingJob and a
// ModelDeployment end to end with only the chart's RBAC, first with the ClusterRole (all
// namespaces), then with the Roles of `watchNamespaces`; `kubectl auth can-i` shows what it may not.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { Agent, request } from "undici";
import { parse, parseAllDocuments, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelDeployment, TrainingJob } from "../../controller/api/generated/index.js";
import {
  ExperimentType,
  ModelDeploymentType,
  PromptType,
  TrainingJobType,
} from "../../controller/api/kinds.js";
import {
  defaultProgressAudience,
  progressCaConfigMapKey,
  progressPath,
} from "../../controller/backends/training/progress-receiver.js";
import type { TrainerEvent } from "../../controller/backends/training/trainer-contract.js";
import type { KubeClient } from "../../controller/kube/client.js";
import {
  ConfigMapType,
  PodType,
  type KubeObject,
  type ResourceType,
} from "../../controller/kube/resources.js";
import { HubTestServer } from "../servers/huggingface/server.js";
import { arithmeticDataset } from "../servers/openai/dataset.js";
import { startOpenAiTestServer, type OpenAiTestServer } from "../servers/openai/server.js";
import { helm, kubectl, usePrivateControlPlane } from "../support/cluster.js";
import {
  killAll,
  startControllerProcess,
  type ControllerProcess,
} from "../support/controller-process.js";
import { eventually, newClient } from "../runtime/helpers.js";
import { crdNames, waitForCrdsEstablished } from "../validate/install-crds.js";
import { repositoryRoot } from "../validate/fixtures.js";
import {
  datasetConfigMap,
  experimentManifest,
  jsonl,
  promptManifest,
} from "../experiment/harness.js";

const execFileAsync = promisify(execFile);
const chart = join(repositoryRoot, "charts", "llmops");
const release = "llmops";
const system = "llmops-system";
const serviceAccount = `system:serviceaccount:${system}:llmops`;

type Pod = KubeObject & { status?: { phase?: string } };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("helm install / upgrade / uninstall, and the chart's ServiceAccount is enough", () => {
  const plane = usePrivateControlPlane();
  let env: NodeJS.ProcessEnv = {};
  let client: KubeClient;
  let work = "";
  let saKubeconfig = "";
  let openai: OpenAiTestServer;
  const hub = new HubTestServer();
  let hubUrl = "";
  const processes: ControllerProcess[] = [];

  const k = (args: readonly string[], input?: string) =>
    kubectl(args, input === undefined ? { env } : { env, input });
  const h = (args: readonly string[]) => helm(args, { env });
  const applyAll = async (objects: unknown[]) => {
    const out = await k(
      ["apply", "-f", "-"],
      stringify({ apiVersion: "v1", kind: "List", items: objects }),
    );
    expect(out.code, out.stderr).toBe(0);
  };
  /** `kubectl auth can-i` as the chart's ServiceAccount: "yes" or "no". */
  const canI = async (...args: string[]) => {
    const out = await k(["auth", "can-i", `--as=${serviceAccount}`, ...args]);
    return out.stdout.trim();
  };

  beforeAll(async () => {
    const current = plane.current;
    if (current === undefined) throw new Error("no private control plane");
    env = { KUBECONFIG: current.kubeconfigPath };
    const kc = new KubeConfig();
    kc.loadFromFile(current.kubeconfigPath);
    client = newClient(kc, { fieldManager: "llmops-test" });
    work = await mkdtemp(join(tmpdir(), "llmops-helm-"));
    hubUrl = await hub.start();
    hub.addDataset({ repo: "acme/llama-70b", files: { "config.json": '{"model_type":"llama"}' } });
    hub.addDataset({ repo: "acme/coder", files: { "config.json": '{"model_type":"llama"}' } });
    openai = await startOpenAiTestServer({
      models: [
        { id: "model-weak", accuracy: 0.6, latencyMs: 5 },
        { id: "model-strong", accuracy: 0.9, latencyMs: 5 },
      ],
      dataset: arithmeticDataset(20, 7),
    });
    // The Gateway API's HTTPRoute (a cluster's own, not the chart's) for ModelDeployments.
    const gateway = join(
      repositoryRoot,
      "..",
      "shared",
      "crds",
      "gateway-api-v1.6.1",
      "httproutes.yaml",
    );
    const applied = await k(["apply", "--server-side", "-f", gateway]);
    expect(applied.code, applied.stderr).toBe(0);
    for (const ns of ["team-a", "team-b", "llmops-ci-team-a"]) {
      expect((await k(["create", "namespace", ns])).code).toBe(0);
    }
  }, 300_000);
  afterAll(async () => {
    await killAll(processes);
    await openai.close();
    await hub.stop();
    await client.close();
    if (work !== "") await rm(work, { recursive: true, force: true });
  });

  it("install: CRDs Established, RBAC and the Deployment created, pods Running on kwok, helm test passes", async () => {
    const install = await h([
      "install",
      release,
      chart,
      "-n",
      system,
      "--create-namespace",
      "--wait",
      "--timeout=3m",
    ]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain("STATUS: deployed");
    expect(install.stdout).toContain(
      "It reconciles Prompts, Experiments, TrainingJobs and ModelDeployments in all namespaces.",
    );
    await waitForCrdsEstablished(crdNames(), { env });

    for (const [kind, name, ns] of [
      ["serviceaccount", "llmops", system],
      ["clusterrole", "llmops-controller", ""],
      ["clusterrolebinding", "llmops-controller", ""],
      ["clusterrole", "llmops-view", ""],
      ["clusterrole", "llmops-edit", ""],
      ["role", "llmops-leader-election", system],
      ["rolebinding", "llmops-leader-election", system],
      ["service", "llmops", system],
      ["poddisruptionbudget", "llmops", system],
    ] as const) {
      const got = await k(["get", kind, name, ...(ns ? ["-n", ns] : [])]);
      expect(got.code, `${kind}/${name}: ${got.stderr}`).toBe(0);
    }
    const pods = await eventually("2 controller pods Running", async () => {
      const list = await client.list<Pod>(PodType, {
        namespace: system,
        labelSelector: "app.kubernetes.io/component=controller",
      });
      const running = list.items.filter((p) => p.status?.phase === "Running");
      return running.length === 2 ? running : undefined;
    });
    expect(pods).toHaveLength(2);
    // The aggregated roles reached Kubernetes' own: a namespace viewer may read Prompts.
    await eventually("view aggregates llmops-view", async () => {
      const view = await k(["get", "clusterrole", "view", "-o", "json"]);
      return view.stdout.includes('"prompts"') ? true : undefined;
    });

    // kwok completes the hook's Job; the check itself runs below against a live controller.
    const test = await h(["test", release, "-n", system, "--timeout=2m"]);
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/TEST SUITE:\s+llmops-test-readyz/);
    expect(test.stdout).toMatch(/Phase:\s+Succeeded/);
  }, 300_000);

  /** A kubeconfig holding only a fresh token of the chart's ServiceAccount. */
  async function serviceAccountKubeconfig(): Promise<string> {
    const token = await k(["create", "token", "llmops", "-n", system, "--duration=2h"]);
    expect(token.code, token.stderr).toBe(0);
    const admin = parse(await readFile(env.KUBECONFIG ?? "", "utf8")) as {
      clusters: { name: string; cluster: Record<string, unknown> }[];
    };
    const cluster = admin.clusters[0];
    if (cluster === undefined) throw new Error("admin kubeconfig has no cluster");
    const path = join(work, "sa-kubeconfig");
    await writeFile(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "test", cluster: cluster.cluster }],
        users: [{ name: "llmops", user: { token: token.stdout.trim() } }],
        contexts: [{ name: "llmops", context: { cluster: "test", user: "llmops" } }],
        "current-context": "llmops",
      }),
      { mode: 0o600 },
    );
    const whoami = await kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], {
      env: { KUBECONFIG: path },
    });
    expect(whoami.stdout).toBe(serviceAccount);
    return path;
  }

  /** `llmops controller` run here with only the ServiceAccount's token. */
  async function startController(
    namespaces: string,
    configFile?: string,
    extra: string[] = [],
  ): Promise<{ process: ControllerProcess; progressPort: number; apiPort: number }> {
    const progressPort = await freePort();
    const apiPort = await freePort();
    const process = await startControllerProcess(system, [
      ...(configFile === undefined ? [] : ["--config", configFile]),
      "--kubeconfig",
      saKubeconfig,
      "--namespaces",
      namespaces,
      "--hf-endpoint",
      hubUrl,
      "--trainer-image",
      "ghcr.io/llmops/trainer:0.1.0",
      "--training-backends",
      "kubernetes",
      "--training-progress-addr",
      `127.0.0.1:${String(progressPort)}`,
      "--api-addr",
      `127.0.0.1:${String(apiPort)}`,
      ...extra,
    ]);
    processes.push(process);
    await eventually(
      () => `the controller is ready; its output:\n${process.output.join("").slice(-3000)}`,
      async () => {
        const response = await fetch(`${process.url}/readyz`).catch(() => undefined);
        return response?.status === 200 ? true : undefined;
      },
      90_000,
    );
    // The mode the test means: every namespace (the ClusterRole), or only those listed.
    expect(process.output.join("")).toContain(
      `"namespaces":${namespaces === "" ? '"all"' : JSON.stringify(namespaces.split(","))}`,
    );
    return { process, progressPort, apiPort };
  }

  /** The four kinds in `namespace`, each reconciled to its end by `controller`. */
  async function reconcileFourKinds(
    namespace: string,
    suffix: string,
    controller: { process: ControllerProcess; progressPort: number },
  ): Promise<void> {
    const logs = () => controller.process.output.join("").slice(-4000);
    const items = arithmeticDataset(20, 7);
    const prompt = promptManifest(namespace, openai.baseURL);
    prompt.metadata = { ...prompt.metadata, name: "arith" };
    const experiment = experimentManifest(namespace, `ab-${suffix}`, {
      configMap: { name: `arith-${suffix}` },
    });
    const trainingJob: TrainingJob = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      metadata: { name: `llama-${suffix}`, namespace },
      spec: {
        baseModel: { repo: "acme/llama-70b", revision: "main", parametersBillions: 70 },
        method: "sft",
        dataset: { format: "chat", configMap: { name: `tickets-${suffix}` } },
        hyperparameters: { epochs: 1, maxSeqLength: 512 },
        lora: { rank: 8 },
        backend: { type: "kubernetes", kubernetes: { serviceAccountName: "trainer" } },
        output: { volume: { claimName: `models-${suffix}` } },
        budget: { maxCostUSD: 500, maxHours: 4 },
        maxAttempts: 1,
      },
    };
    const modelDeployment: ModelDeployment = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "ModelDeployment",
      metadata: { name: `coder-${suffix}`, namespace },
      spec: {
        model: { huggingFace: { repo: "acme/coder", revision: "main" } },
        runtime: { type: "vllm", replicas: 1, resources: { gpu: { count: 0 } } },
        route: {
          parentRefs: [{ name: "inference-gateway", namespace: "gateway-system" }],
          path: "/v1",
        },
        strategy: { type: "Immediate" },
      },
    };
    await applyAll([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "trainer", namespace } },
      datasetConfigMap(namespace, `arith-${suffix}`, jsonl(items)),
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `tickets-${suffix}`, namespace },
        data: { "dataset.jsonl": tickets(50) },
      },
      {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: `models-${namespace}-${suffix}` },
        spec: {
          capacity: { storage: "10Gi" },
          accessModes: ["ReadWriteOnce"],
          storageClassName: "",
          hostPath: { path: `/tmp/${namespace}-${suffix}` },
          claimRef: { namespace, name: `models-${suffix}` },
        },
      },
      {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: `models-${suffix}`, namespace },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: "",
          volumeName: `models-${namespace}-${suffix}`,
          resources: { requests: { storage: "10Gi" } },
        },
      },
      prompt,
      experiment,
      trainingJob,
      modelDeployment,
    ]);

    const get = <T extends KubeObject>(type: ResourceType, name: string) =>
      client.get<
        T & {
          status?: Record<string, unknown> & { conditions?: { type: string; status: string }[] };
        }
      >(type, { namespace, name });
    const ready = (o: { status?: { conditions?: { type: string; status: string }[] } }) =>
      o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;

    const readyPrompt = await eventually(
      () => `Prompt arith Ready; controller:\n${logs()}`,
      async () => {
        const p = await get(PromptType, "arith");
        return ready(p) ? p : undefined;
      },
    );
    expect(readyPrompt.status?.version).toBe(1);

    // TrainingJob: its Job's pod runs on kwok; the test plays the trainer in it.
    const running = await eventually(
      () => `TrainingJob Running; controller:\n${logs()}`,
      async () => {
        const tj = await get(TrainingJobType, `llama-${suffix}`);
        const job = (tj.status?.job as { name?: string } | undefined)?.name;
        return tj.status?.phase === "Running" && job ? { tj, job } : undefined;
      },
      90_000,
    );
    const runId = String(running.tj.status?.runId);
    const pod = await eventually(`a Running pod of Job ${running.job}`, async () => {
      const pods = await client.list<Pod>(PodType, {
        namespace,
        labelSelector: `job-name=${running.job}`,
      });
      return pods.items.find((p) => p.status?.phase === "Running");
    });
    const config = await client.get<KubeObject & { data?: Record<string, string> }>(ConfigMapType, {
      namespace,
      name: running.job,
    });
    const ca = config.data?.[progressCaConfigMapKey] ?? "";
    expect(ca).toContain("BEGIN CERTIFICATE");
    await report(namespace, pod, controller.progressPort, ca, [
      { llmops: 1, event: "started", runId, attempt: 1, totalSteps: 10 },
      { llmops: 1, event: "progress", step: 10, totalSteps: 10, epoch: 1, loss: 0.5 },
      {
        llmops: 1,
        event: "completed",
        output: { path: `/llmops/output/models/${runId}/model` },
        metrics: { trainLoss: 0.5, steps: 10, seconds: 30 },
      },
    ]);
    await endPod(pod);
    const trained = await eventually(
      () => `TrainingJob Succeeded; controller:\n${logs()}`,
      async () => {
        const tj = await get(TrainingJobType, `llama-${suffix}`);
        return tj.status?.phase === "Succeeded" ? tj : undefined;
      },
      90_000,
    );
    expect(ready(trained)).toBe(true);
    expect(trained.status?.output).toMatchObject({ path: `/llmops/output/models/${runId}/model` });

    const deployed = await eventually(
      () => `ModelDeployment Ready; controller:\n${logs()}`,
      async () => {
        const md = await get(ModelDeploymentType, `coder-${suffix}`);
        return ready(md) ? md : undefined;
      },
      90_000,
    );
    expect(deployed.status?.phase).toBe("Healthy");
    const route = await k(["get", "httproute", `coder-${suffix}`, "-n", namespace, "-o", "json"]);
    expect(route.code, route.stderr).toBe(0);

    const done = await eventually(
      () => `Experiment Completed; controller:\n${logs()}`,
      async () => {
        const e = await get(ExperimentType, `ab-${suffix}`);
        return e.status?.phase === "Completed" ? e : undefined;
      },
      120_000,
    );
    expect(ready(done)).toBe(true);
    expect((done.status?.progress as { completed?: number } | undefined)?.completed).toBe(40);

    // Nothing the controller did was refused.
    expect(controller.process.output.join("")).not.toMatch(/forbidden/i);
  }

  /** Posts trainer events to the controller's progress endpoint with a token bound to `pod`. */
  async function report(
    namespace: string,
    pod: Pod,
    port: number,
    ca: string,
    events: TrainerEvent[],
  ): Promise<void> {
    const minted = await k([
      "create",
      "token",
      "trainer",
      "-n",
      namespace,
      "--duration=10m",
      `--audience=${defaultProgressAudience}`,
      "--bound-object-kind=Pod",
      `--bound-object-name=${pod.metadata?.name ?? ""}`,
      `--bound-object-uid=${pod.metadata?.uid ?? ""}`,
    ]);
    expect(minted.code, minted.stderr).toBe(0);
    const dispatcher = new Agent({ connect: { ca } });
    try {
      for (const event of events) {
        const response = await request(`https://127.0.0.1:${String(port)}${progressPath}`, {
          method: "POST",
          dispatcher,
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${minted.stdout.trim()}`,
          },
          body: JSON.stringify(event),
        });
        const body = await response.body.text();
        expect(response.statusCode, body).toBe(204);
      }
    } finally {
      await dispatcher.close();
    }
  }

  /** Ends the pod as the trainer's exit would (kwok keeps training pods Running). */
  async function endPod(pod: Pod): Promise<void> {
    const now = new Date().toISOString();
    await client.mergePatchStatus(
      PodType,
      { namespace: pod.metadata?.namespace ?? "", name: pod.metadata?.name ?? "" },
      {
        phase: "Succeeded",
        containerStatuses: [
          {
            name: "trainer",
            image: "ghcr.io/llmops/trainer:0.1.0",
            imageID: "",
            ready: false,
            restartCount: 0,
            state: {
              terminated: { exitCode: 0, reason: "Completed", startedAt: now, finishedAt: now },
            },
          },
        ],
      },
    );
  }

  it("least privilege, all namespaces (ClusterRole): the ServiceAccount's token reconciles the four kinds; helm test's check passes against it", async () => {
    saKubeconfig = await serviceAccountKubeconfig();
    const controller = await startController("");
    await reconcileFourKinds("team-a", "c", controller);

    // The HTTP API checks callers with TokenReview and SubjectAccessReview as the chart's
    // ServiceAccount; Kubernetes' view role, which llmops-view joined, lets a reader in.
    await applyAll([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app", namespace: "team-a" } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "app-view", namespace: "team-a" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
        subjects: [{ kind: "ServiceAccount", name: "app", namespace: "team-a" }],
      },
    ]);
    const readPrompt = async (sa: string) => {
      const token = await k(["create", "token", sa, "-n", "team-a", "--duration=10m"]);
      expect(token.code, token.stderr).toBe(0);
      const response = await fetch(
        `http://127.0.0.1:${String(controller.apiPort)}/v1/prompts/team-a/arith`,
        { headers: { authorization: `Bearer ${token.stdout.trim()}` } },
      );
      return { status: response.status, body: await response.text() };
    };
    const viewer = await readPrompt("app");
    expect(viewer.status, viewer.body).toBe(200);
    expect(viewer.body).toContain("arith");
    const stranger = await readPrompt("trainer");
    expect(stranger.status, stranger.body).toBe(403);

    // helm test's command, run where it can run: against this controller's /readyz.
    const hook = (await hookJob()).spec.template.spec.containers[0];
    const url = hook?.env.find((e) => e.name === "READYZ_URL")?.value ?? "";
    expect(url).toBe(`http://llmops.${system}.svc:8080/readyz`);
    const script = hook?.args[0] ?? "";
    const live = await execFileAsync("sh", ["-c", script], {
      env: { ...process.env, READYZ_URL: `${controller.process.url}/readyz` },
    });
    expect(live.stdout).toContain("ok");
    const unused = await freePort();
    const dead = await execFileAsync("sh", ["-c", script.replace("--retry 5", "--retry 0")], {
      env: { ...process.env, READYZ_URL: `http://127.0.0.1:${String(unused)}/readyz` },
    }).catch((e: unknown) => e as { code: number });
    expect("code" in dead ? dead.code : 0).not.toBe(0);
    await killAll(processes);

    // What it may not do, all namespaces watched.
    expect(await canI("list", "secrets", "-A")).toBe("no");
    expect(await canI("watch", "secrets", "-n", "team-a")).toBe("no");
    expect(await canI("list", "secrets", "-n", "team-a")).toBe("no");
    expect(await canI("get", "secrets", "-n", "team-a")).toBe("yes");
    expect(await canI("*", "*")).toBe("no");
    expect(await canI("create", "leases", "-n", "team-a")).toBe("no");
    expect(await canI("update", "leases", "-n", system)).toBe("yes");
    expect(await canI("create", "clusterroles")).toBe("no");
    expect(await canI("delete", "namespaces")).toBe("no");
    expect(await canI("create", "pods", "-n", "team-a")).toBe("no");
  }, 420_000);

  async function hookJob() {
    const rendered = await h([
      "template",
      release,
      chart,
      "-n",
      system,
      "--show-only",
      "templates/tests/readyz.yaml",
    ]);
    expect(rendered.code, rendered.stderr).toBe(0);
    return parse(rendered.stdout) as {
      spec: {
        template: {
          spec: { containers: { args: string[]; env: { name: string; value: string }[] }[] };
        };
      };
    };
  }

  it("upgrade with changed values rolls the Deployment and upgrades a changed CRD; with watchNamespaces the Roles are enough and nothing outside is reachable", async () => {
    const before = await deploymentState();
    // A chart whose Prompt CRD has changed (a new short name), as the next release's would.
    const next = join(work, "chart");
    await cp(chart, next, { recursive: true });
    const crdFile = join(next, "templates", "crds", "llmops.dev_prompts.yaml");
    const crd = await readFile(crdFile, "utf8");
    expect(crd).toContain("shortNames: [prm]");
    await writeFile(crdFile, crd.replace("shortNames: [prm]", "shortNames: [prm, prmt]"));
    const upgrade = await h([
      "upgrade",
      release,
      next,
      "-n",
      system,
      "--set",
      "watchNamespaces={team-a}",
      "--set",
      "logLevel=debug",
      "--set",
      "priceTable=llmops-system/llm-prices",
      "--wait",
      "--timeout=3m",
    ]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toContain(
      "It reconciles Prompts, Experiments, TrainingJobs and ModelDeployments in: team-a.",
    );
    const after = await deploymentState();
    expect(after.generation).toBeGreaterThan(before.generation);
    expect(after.args).toContain("--log-level=debug");
    expect(after.args).toContain("--namespaces=team-a");
    expect(before.args).not.toContain("--log-level=debug");
    const rollout = await k([
      "rollout",
      "status",
      "deployment/llmops",
      "-n",
      system,
      "--timeout=120s",
    ]);
    expect(rollout.code, rollout.stderr).toBe(0);
    const replicaSets = await k([
      "get",
      "replicasets",
      "-n",
      system,
      "-l",
      "app.kubernetes.io/component=controller",
      "-o",
      "json",
    ]);
    const sets = (JSON.parse(replicaSets.stdout) as { items: { spec: { replicas: number } }[] })
      .items;
    expect(sets).toHaveLength(2);
    expect(sets.map((s) => s.spec.replicas).sort()).toEqual([0, 2]);
    const shortNames = await k([
      "get",
      "crd",
      "prompts.llmops.dev",
      "-o",
      "jsonpath={.spec.names.shortNames}",
    ]);
    expect(JSON.parse(shortNames.stdout)).toEqual(["prm", "prmt"]);
    // Served under its new short name.
    expect((await k(["get", "prmt", "-n", "team-a"])).stdout).toContain("arith");

    // RBAC now: Roles in team-a only.
    expect((await k(["get", "role", "llmops-controller", "-n", "team-a"])).code).toBe(0);
    expect(await canI("list", "prompts", "-n", "team-a")).toBe("yes");
    expect(await canI("list", "prompts", "-A")).toBe("no");
    for (const [verb, resource] of [
      ["get", "prompts"],
      ["create", "configmaps"],
      ["get", "secrets"],
      ["create", "deployments"],
      ["create", "jobs"],
    ]) {
      expect(
        await canI(verb ?? "", resource ?? "", "-n", "team-b"),
        `${verb} ${resource} in team-b`,
      ).toBe("no");
    }
    expect(await canI("list", "secrets", "-n", "team-a")).toBe("no");
    expect(await canI("*", "*", "-n", "team-a")).toBe("no");

    // The price table in a namespace that is not watched: that one ConfigMap, by name.
    expect(await canI("get", "configmaps/llm-prices", "-n", system)).toBe("yes");
    expect(await canI("get", "configmaps/other", "-n", system)).toBe("no");
    await applyAll([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "llm-prices", namespace: system },
        data: { "prices.yaml": "model-weak: { inputPerMillion: 1000000, outputPerMillion: 0 }\n" },
      },
    ]);

    // And the Roles are enough: the four kinds again, in the watched namespace.
    saKubeconfig = await serviceAccountKubeconfig();
    const controller = await startController("team-a", undefined, [
      "--price-table",
      "llmops-system/llm-prices",
    ]);
    await reconcileFourKinds("team-a", "n", controller);
    await killAll(processes);
    // The Experiment was priced from that table ($1 per input token of model-weak).
    const priced = await client.get<
      KubeObject & { status?: { results?: { variant: string; costUSD?: number }[] } }
    >(ExperimentType, { namespace: "team-a", name: "ab-n" });
    const baselineCost =
      priced.status?.results?.find((r) => r.variant === "baseline")?.costUSD ?? 0;
    expect(baselineCost).toBeGreaterThan(0);
    expect(Number.isInteger(baselineCost)).toBe(true);
  }, 480_000);

  async function deploymentState(): Promise<{ generation: number; args: string[] }> {
    const out = await k(["get", "deployment", "llmops", "-n", system, "-o", "json"]);
    const d = JSON.parse(out.stdout) as {
      metadata: { generation: number };
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    return {
      generation: d.metadata.generation,
      args: d.spec.template.spec.containers[0]?.args ?? [],
    };
  }

  it("git sync as the ServiceAccount: the chart's config file, its Secret by name, the status ConfigMap, apply and prune", async () => {
    // A repository the controller (running here) can clone: a local path is a valid source URL.
    const repo = join(work, "repo");
    const git = (...args: string[]) => execFileAsync("git", args, { cwd: repo });
    await execFileAsync("git", ["init", "-q", "-b", "main", repo]);
    await git("config", "user.email", "test@llmops.dev");
    await git("config", "user.name", "test");
    const synced = promptManifest("team-a", openai.baseURL);
    synced.metadata = { name: "synced", namespace: "team-a" };
    await execFileAsync("mkdir", ["-p", join(repo, "specs")]);
    await writeFile(join(repo, "specs", "synced.yaml"), stringify(synced));
    await git("add", ".");
    await git("commit", "-q", "-m", "a prompt");
    const secret = await k([
      "create",
      "secret",
      "generic",
      "git-credentials",
      "-n",
      system,
      "--from-literal=username=git",
      "--from-literal=password=not-needed-for-a-local-path",
    ]);
    expect(secret.code, secret.stderr).toBe(0);
    const source = {
      name: "main",
      url: repo,
      branch: "main",
      paths: ["specs/"],
      interval: "2s",
      targetNamespace: "team-a",
      secretRef: { name: "git-credentials" },
    };
    const upgrade = await h([
      "upgrade",
      release,
      chart,
      "-n",
      system,
      "--set",
      "watchNamespaces={team-a}",
      "--set-json",
      `gitSync.sources=${JSON.stringify([source])}`,
      "--wait",
      "--timeout=3m",
    ]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await canI("get", "secrets/git-credentials", "-n", system)).toBe("yes");
    expect(await canI("get", "secrets/other", "-n", system)).toBe("no");

    // The controller reads the config file the chart mounts, with its clone directory here.
    const rendered = await k(["get", "configmap", "llmops-config", "-n", system, "-o", "json"]);
    const configMap = JSON.parse(rendered.stdout) as { data: Record<string, string> };
    const config = parse(configMap.data["config.yaml"] ?? "") as { gitSync: { cacheDir: string } };
    expect(config.gitSync.cacheDir).toBe("/var/cache/llmops/git");
    config.gitSync.cacheDir = join(work, "git-cache");
    const configFile = join(work, "config.yaml");
    await writeFile(configFile, stringify(config));
    saKubeconfig = await serviceAccountKubeconfig();
    const controller = await startController("team-a", configFile);
    const logs = () => controller.process.output.join("").slice(-4000);
    await eventually(
      () => `the synced Prompt is Ready; controller:\n${logs()}`,
      async () => {
        const got = await k(["get", "prompt", "synced", "-n", "team-a", "-o", "json"]);
        if (got.code !== 0) return undefined;
        const prompt = JSON.parse(got.stdout) as {
          status?: { conditions?: { type: string; status: string }[] };
        };
        return prompt.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
          ? true
          : undefined;
      },
      90_000,
    );
    const status = await k(["get", "configmap", "llmops-sync-main", "-n", system, "-o", "json"]);
    expect(status.code, status.stderr).toBe(0);

    // Removed from git: pruned.
    await git("rm", "-q", "specs/synced.yaml");
    await git("commit", "-q", "-m", "no prompt");
    await eventually(
      () => `the synced Prompt is pruned; controller:\n${logs()}`,
      async () => {
        const got = await k(["get", "prompt", "synced", "-n", "team-a"]);
        return got.code !== 0 && got.stderr.includes("NotFound") ? true : undefined;
      },
      90_000,
    );
    expect(controller.process.output.join("")).not.toMatch(/forbidden/i);
    await killAll(processes);
  }, 300_000);

  it("uninstall keeps the CRDs and the users' objects", async () => {
    const uninstall = await h(["uninstall", release, "-n", system, "--wait", "--timeout=2m"]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    await waitForCrdsEstablished(crdNames(), { env });
    const kept = await k([
      "get",
      "prompts,experiments,trainingjobs,modeldeployments",
      "-n",
      "team-a",
      "-o",
      "name",
    ]);
    expect(kept.stdout.split("\n").filter(Boolean).sort()).toEqual(
      [
        "experiment.llmops.dev/ab-c",
        "experiment.llmops.dev/ab-n",
        "modeldeployment.llmops.dev/coder-c",
        "modeldeployment.llmops.dev/coder-n",
        "prompt.llmops.dev/arith",
        "trainingjob.llmops.dev/llama-c",
        "trainingjob.llmops.dev/llama-n",
      ].sort(),
    );
    for (const [kind, name, ns] of [
      ["deployment", "llmops", system],
      ["serviceaccount", "llmops", system],
      ["clusterrole", "llmops-controller", ""],
      ["role", "llmops-controller", "team-a"],
    ] as const) {
      const got = await k(["get", kind, name, ...(ns ? ["-n", ns] : [])]);
      expect(got.code, `${kind}/${name} is gone`).not.toBe(0);
      expect(got.stderr).toContain("NotFound");
    }
  }, 180_000);

  it("installs with each ci/*-values.yaml (as ct install does), and helm test passes for each", async () => {
    const { readdirSync } = await import("node:fs");
    const files = readdirSync(join(chart, "ci"))
      .filter((f) => f.endsWith("-values.yaml"))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      // The same release name and namespace each time: the CRDs kept by the last uninstall
      // belong to that release, and helm adopts them again only under its name.
      const install = await h([
        "install",
        release,
        chart,
        "-n",
        system,
        "-f",
        join(chart, "ci", file),
        "--wait",
        "--timeout=3m",
      ]);
      expect(install.code, `${file}: ${install.stderr}`).toBe(0);
      const manifest = await h(["get", "manifest", release, "-n", system]);
      const kinds = parseAllDocuments(manifest.stdout)
        .map((d) => (d.toJSON() as { kind?: string } | null)?.kind)
        .filter(Boolean);
      expect(kinds).toContain("Deployment");
      expect(kinds).toContain("CustomResourceDefinition");
      const test = await h(["test", release, "-n", system, "--timeout=2m"]);
      expect(test.code, `${file}: ${test.stdout}${test.stderr}`).toBe(0);
      const uninstall = await h(["uninstall", release, "-n", system, "--wait", "--timeout=2m"]);
      expect(uninstall.code, `${file}: ${uninstall.stderr}`).toBe(0);
    }
  }, 600_000);
});

function tickets(n: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `ticket ${String(i)}: the printer is on fire` },
        { role: "assistant", content: i % 2 === 0 ? "hardware" : "urgent" },
      ],
    }),
  ).join("\n");
}
