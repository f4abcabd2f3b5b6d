// The local serving backend end to end: a real `llmops controller --serving-backend local` process
// against the real control plane, real llmops-serve processes (trainer/) on two tiny models made
// by llmops-create-model (same tokenizer, different random weights, so their answers tell them
// apart), and real HTTP requests through the local proxy. A canary step's split is checked against
// the weight within a binomial tolerance; promotion, a revert onto the warm revision (its process,
// not a new one), streaming, the proxy's metrics and the clean-up on delete are checked too. Needs
// the trainer's venv (trainer/setup-venv.sh); without it the test fails.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelDeployment, TrainingJob } from "../../controller/api/generated/index.js";
import { ModelDeploymentType, TrainingJobType } from "../../controller/api/kinds.js";
import { servingBackends, type ServingBackends } from "../../controller/backends/serving/index.js";
import { localServingFiles } from "../../controller/backends/serving/local.js";
import { modelDeploymentController } from "../../controller/reconcilers/model-deployment/reconciler.js";
import { Manager } from "../../controller/runtime/manager.js";
import { revisionHeader } from "../../controller/backends/traffic/local-proxy.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { installCrds } from "../validate/install-crds.js";
import { eventually, memoryLogger, newClient } from "../runtime/helpers.js";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeConfig,
} from "../support/cluster.js";
import {
  killAll,
  startControllerProcess,
  type ControllerProcess,
} from "../support/controller-process.js";
import { repositoryRoot } from "../validate/fixtures.js";
import type { StoredModelDeployment } from "./harness.js";

const run = promisify(execFile);
const venv = process.env.LLMOPS_TRAINER_VENV ?? join(homedir(), ".cache", "llmops", "trainer-venv");
const bin = (tool: string) => join(venv, "bin", tool);

const question = {
  messages: [
    { role: "system", content: "Classify the support ticket." },
    { role: "user", content: "I was charged twice this month" },
  ],
  max_tokens: 4,
  temperature: 0,
};

interface Answer {
  revision: string;
  content: string;
}

async function ask(baseURL: string, body: object = question): Promise<Answer> {
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${String(response.status)}: ${text}`);
  const parsed = JSON.parse(text) as { choices: { message: { content: string } }[] };
  return {
    revision: response.headers.get(revisionHeader) ?? "",
    content: parsed.choices[0]?.message.content ?? "",
  };
}

/** Whether the process runs (a zombie waiting to be reaped does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** The sample value of `name{labels…}` in a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf("}"));
    const found = Object.fromEntries(
      inside.split(",").map((pair) => {
        const [key = "", value = ""] = pair.split("=");
        return [key, value.replace(/^"|"$/g, "")];
      }),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
      return Number(line.slice(line.indexOf("}") + 1).trim());
    }
  }
  return 0;
}

describe("ModelDeployment on the local serving backend: real processes, real proxy", () => {
  let client: KubeClient;
  let root = "";
  let namespace = "";
  const controllers: ControllerProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(bin("llmops-serve"))) {
      throw new Error(
        `the trainer's venv is missing (${venv}): run bash trainer/setup-venv.sh (npm run check does)`,
      );
    }
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    // The controller's --local-root: spec.model.path resolves here, run state goes to .llmops/.
    root = await mkdtemp(join(tmpdir(), "llmops-local-serving-"));
    const data = join(repositoryRoot, "examples/local/data/tickets-train.jsonl");
    await Promise.all(
      ["a", "b"].map((name, seed) =>
        run(bin("llmops-create-model"), [
          "--data",
          data,
          "--out",
          join(root, "models", name),
          "--seed",
          String(seed),
        ]),
      ),
    );
    namespace = await createTestNamespace("md-local");
    controllers.push(await startControllerProcess(namespace, controllerFlags()));
  }, 330_000);

  afterAll(async () => {
    await killAll(controllers);
    // Whatever a failed test left running.
    const servingDir = join(root, ".llmops", "serving");
    for (const pidFile of await pidFiles(servingDir)) {
      const pid = Number((await readFile(pidFile, "utf8")).trim());
      if (alive(pid)) process.kill(-pid, "SIGKILL");
    }
    if (namespace) await deleteTestNamespace(namespace);
    if (root) await rm(root, { recursive: true, force: true });
  });

  const controllerFlags = () => [
    "--serving-backend",
    "local",
    "--serving-command",
    bin("llmops-serve"),
    "--local-root",
    root,
  ];

  async function pidFiles(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    return entries.filter((e) => e.endsWith(`/${localServingFiles.pid}`)).map((e) => join(dir, e));
  }
  const revisionDir = (revision: string) =>
    join(root, ".llmops", "serving", namespace, "tickets", revision);
  const pidOf = async (revision: string) =>
    Number((await readFile(join(revisionDir(revision), localServingFiles.pid), "utf8")).trim());

  const get = () =>
    client.get<StoredModelDeployment>(ModelDeploymentType, { namespace, name: "tickets" });
  const apply = (model: string, annotations: Record<string, string> = {}) =>
    client.apply(
      ModelDeploymentType,
      {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: "tickets", namespace, annotations },
        spec: {
          model: { path: model, servedName: "tickets" },
          strategy: {
            type: "Canary",
            canary: { steps: [{ setWeight: 25 }, { pause: {} }] },
          },
          rollbackWindow: { revisions: 1 },
        },
      } satisfies ModelDeployment,
      { force: true, fieldManager: "test" },
    );
  const until = <T>(what: string, check: () => Promise<T | undefined>, ms = 120_000) =>
    eventually(
      () =>
        `${what}; controller output:\n${controllers.at(-1)?.output.join("").slice(-3000) ?? ""}`,
      check,
      ms,
    );

  it("serves model A, canaries B at 25% (binomial), promotes, reverts onto A's warm process, and cleans up on delete", async () => {
    // 1. Model A: Ready, with the proxy's URL and the revision's own.
    await apply("models/a");
    const first = await until("model A to be Ready", async () => {
      const md = await get();
      const ready = md.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      return ready && md.status?.url !== undefined ? md : undefined;
    });
    const a = first.status?.stableRevision ?? "";
    const proxy = first.status?.url ?? "";
    expect(proxy).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(first.status?.revisions).toEqual([
      expect.objectContaining({
        name: a,
        role: "Stable",
        weight: 100,
        ready: true,
        model: "models/a",
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/) as unknown,
      }),
    ]);
    // kubectl explain documents both URLs.
    for (const [field, words] of [
      ["status.url", "Where clients send requests"],
      ["status.revisions.url", "own OpenAI-compatible base URL"],
      ["spec.model.path", "relative to the controller's --local-root"],
    ] as const) {
      const explained = await kubectl(["explain", `modeldeployment.${field}`]);
      expect(explained.code, explained.stderr).toBe(0);
      expect(explained.stdout.replace(/\s+/g, " ")).toContain(words);
    }
    const aURL = first.status?.revisions?.[0]?.url ?? "";
    expect(aURL).not.toBe(proxy);
    const aPid = await pidOf(a);
    expect(alive(aPid)).toBe(true);
    const answerA = (await ask(aURL)).content;
    const viaProxy = await ask(proxy);
    expect(viaProxy).toEqual({ revision: a, content: answerA });
    const sent: Record<string, number> = { [a]: 1 };
    const models = (await (await fetch(`${proxy}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["tickets"]);
    sent[a] = (sent[a] ?? 0) + 1; // every proxied request counts, whatever its path

    // 2. Model B: a canary revision, at 25% once its process answers.
    await apply("models/b");
    const canary = await until("model B's canary at 25%", async () => {
      const md = await get();
      const b = md.status?.canaryRevision;
      const listed = md.status?.revisions?.find((r) => r.name === b);
      return b !== undefined && md.status?.canaryWeight === 25 && listed?.ready === true
        ? md
        : undefined;
    });
    const b = canary.status?.canaryRevision ?? "";
    expect(b).not.toBe(a);
    expect(canary.status?.url).toBe(proxy);
    expect(canary.status?.phase).toBe("Paused");
    const bURL = canary.status?.revisions?.find((r) => r.name === b)?.url ?? "";
    const answerB = (await ask(bURL)).content;
    // The two models answer differently, so an answer says which one gave it.
    expect(answerB).not.toBe(answerA);
    const answerOf: Record<string, string> = { [a]: answerA, [b]: answerB };

    // 400 requests through the proxy: the canary's share within 4σ of 25%.
    const n = 400;
    const answers: Answer[] = [];
    for (let i = 0; i < n; i += 4) {
      answers.push(...(await Promise.all([0, 1, 2, 3].map(() => ask(proxy)))));
    }
    for (const answer of answers) {
      expect(answer.content, `an answer from ${answer.revision}`).toBe(answerOf[answer.revision]);
      sent[answer.revision] = (sent[answer.revision] ?? 0) + 1;
    }
    const onCanary = answers.filter((x) => x.revision === b).length;
    console.log(`local proxy split at 25%: ${String(onCanary)} of ${String(n)} on the canary`);
    const sigma = Math.sqrt(n * 0.25 * 0.75);
    expect(onCanary).toBeGreaterThan(n * 0.25 - 4 * sigma);
    expect(onCanary).toBeLessThan(n * 0.25 + 4 * sigma);
    expect(answers.filter((x) => x.revision === a).length).toBe(n - onCanary);

    // Streaming passes through: server-sent events, ending with [DONE], adding up to the answer.
    const streamed = await fetch(`${proxy}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...question, stream: true }),
    });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("content-type")).toBe("text/event-stream");
    const streamedBy = streamed.headers.get(revisionHeader) ?? "";
    sent[streamedBy] = (sent[streamedBy] ?? 0) + 1;
    const events = (await streamed.text()).split("\n\n").filter((e) => e !== "");
    expect(events.at(-1)).toBe("data: [DONE]");
    const text = events
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e.slice("data: ".length)) as { choices: { delta: { content?: string } }[] })
            .choices[0]?.delta.content ?? "",
      )
      .join("");
    expect(text).toBe(answerOf[streamedBy]);

    // A body over the limit is refused by the proxy, and counted nowhere.
    const big = await fetch(`${proxy}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "x".repeat(2 << 20) }] }),
    });
    expect(big.status).toBe(413);

    // The metrics count what was sent, per revision, on the proxy and in the controller.
    const origin = new URL(proxy).origin;
    const proxyMetrics = await (await fetch(`${origin}/metrics`)).text();
    const controllerMetrics = await (await fetch(`${controllers[0]?.url ?? ""}/metrics`)).text();
    for (const metrics of [proxyMetrics, controllerMetrics]) {
      for (const revision of [a, b]) {
        const labels = { namespace, model_deployment: "tickets", revision };
        expect(sample(metrics, "llmops_proxy_requests_total", { ...labels, code: "200" })).toBe(
          sent[revision],
        );
        expect(sample(metrics, "llmops_proxy_request_duration_seconds_count", labels)).toBe(
          sent[revision],
        );
        expect(sample(metrics, "llmops_proxy_errors_total", labels)).toBe(0);
      }
    }

    // 3. Promotion: all traffic on B, A kept warm (its process still the same one).
    await client.mergePatch(
      ModelDeploymentType,
      { namespace, name: "tickets" },
      { metadata: { annotations: { "llmops.dev/promote": b } } },
    );
    await until("B to be stable at 100%", async () => {
      const md = await get();
      return md.status?.stableRevision === b && md.status.phase === "Healthy" ? md : undefined;
    });
    const promoted = await Promise.all(Array.from({ length: 20 }, () => ask(proxy)));
    expect(new Set(promoted.map((x) => x.revision))).toEqual(new Set([b]));
    expect(await pidOf(a)).toBe(aPid);
    expect(alive(aPid)).toBe(true);
    const bPid = await pidOf(b);

    // A controller restart (SIGKILL): the servers outlive it, and the new controller's proxy
    // listens on the port the old one had, with the same weights.
    await killAll(controllers);
    controllers.push(await startControllerProcess(namespace, controllerFlags()));
    const afterRestart = await until("the proxy to answer again after the restart", async () =>
      ask(proxy).catch(() => undefined),
    );
    expect(afterRestart).toEqual({ revision: b, content: answerB });
    expect(await pidOf(a)).toBe(aPid);
    expect(await pidOf(b)).toBe(bPid);

    // 4. A revert to model A: the warm revision takes all traffic back, no process started.
    const revertedAt = Date.now();
    await apply("models/a");
    await until("the proxy to send traffic to A", async () =>
      (await ask(proxy)).revision === a ? true : undefined,
    );
    console.log(
      `revert → first proxied answer from the warm revision: ${String(Date.now() - revertedAt)} ms`,
    );
    const reverted = await until("A to be stable again", async () => {
      const md = await get();
      return md.status?.stableRevision === a && md.status.phase === "Healthy" ? md : undefined;
    });
    expect(reverted.status?.revisions?.map((r) => [r.name, r.role, r.weight])).toEqual([
      [a, "Stable", 100],
      [b, "Warm", 0],
    ]);
    const back = await Promise.all(Array.from({ length: 20 }, () => ask(proxy)));
    expect(back.every((x) => x.revision === a && x.content === answerA)).toBe(true);
    expect(await pidOf(a)).toBe(aPid);
    expect(await pidOf(b)).toBe(bPid);
    expect((await pidFiles(join(root, ".llmops", "serving"))).length).toBe(2);

    // 5. Delete: the finalizer stops both processes and the proxy.
    await client.delete(ModelDeploymentType, { namespace, name: "tickets" });
    await until("the ModelDeployment to be gone", async () =>
      (await client.tryGet(ModelDeploymentType, { namespace, name: "tickets" })) === undefined
        ? true
        : undefined,
    );
    expect(alive(aPid)).toBe(false);
    expect(alive(bPid)).toBe(false);
    expect(existsSync(join(root, ".llmops", "serving", namespace, "tickets"))).toBe(false);
    await expect(fetch(`${origin}/metrics`)).rejects.toThrow();
  }, 600_000);
});

describe("the local serving backends in-process (as llmops up runs them): a TrainingJob's LoRA output", () => {
  let client: KubeClient;
  let root = "";
  let namespace = "";
  let stop: () => Promise<void> = () => Promise.resolve();
  let backends: ServingBackends | undefined;

  beforeAll(async () => {
    await installCrds();
    client = newClient(testKubeConfig(), { fieldManager: "llmops-controller" });
    root = await mkdtemp(join(tmpdir(), "llmops-local-lora-"));
    await run(bin("llmops-create-model"), [
      "--data",
      join(repositoryRoot, "examples/local/data/tickets-train.jsonl"),
      "--out",
      join(root, "models", "base"),
    ]);
    // A LoRA adapter on it, as a LoRA TrainingJob writes one (B off zero, so it changes answers).
    await run(bin("python"), [
      "-c",
      [
        "import sys, torch",
        "from peft import LoraConfig, get_peft_model",
        "from transformers import AutoModelForCausalLM",
        "m = get_peft_model(AutoModelForCausalLM.from_pretrained(sys.argv[1]), LoraConfig(r=4, lora_alpha=8, target_modules=['q_proj', 'v_proj']))",
        "torch.manual_seed(3)",
        "[p.data.normal_(0, 2.0) for n, p in m.named_parameters() if 'lora_B' in n]",
        "m.save_pretrained(sys.argv[2])",
      ].join("\n"),
      join(root, "models", "base"),
      join(root, "trained", "run-1"),
    ]);
    namespace = await createTestNamespace("md-lora");
    backends = servingBackends({
      type: "local",
      localRoot: root,
      servingCommand: [bin("llmops-serve")],
    });
    // Only the ModelDeployment controller: the TrainingJob's status below is the test's.
    const manager = new Manager({
      client,
      logger: memoryLogger("info").logger,
      namespaces: [namespace],
    });
    manager.add(modelDeploymentController({ backends }));
    const abort = new AbortController();
    const done = manager.run(abort.signal);
    stop = async () => {
      abort.abort();
      await done;
      await backends?.close({ stopServers: true });
    };
  }, 330_000);
  afterAll(async () => {
    await stop();
    if (namespace) await deleteTestNamespace(namespace);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("serves the adapter on its base model, at the TrainingJob's run", async () => {
    await client.apply(
      TrainingJobType,
      {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "TrainingJob",
        metadata: { name: "tuned", namespace },
        spec: {
          baseModel: { path: "models/base" },
          method: "sft",
          dataset: { format: "chat", path: "data.jsonl" },
          lora: { rank: 4, alpha: 8 },
          backend: { type: "local" },
          output: { path: "trained" },
        },
      } satisfies TrainingJob,
      { force: true, fieldManager: "test" },
    );
    await client.applyStatus(
      TrainingJobType,
      {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "TrainingJob",
        metadata: { name: "tuned", namespace },
        status: {
          phase: "Succeeded",
          runId: "run-1",
          output: { path: join(root, "trained", "run-1") },
        },
      },
      { force: true, fieldManager: "test" },
    );
    await client.apply(
      ModelDeploymentType,
      {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "ModelDeployment",
        metadata: { name: "tuned", namespace },
        spec: { model: { trainingJobRef: { name: "tuned" } } },
      } satisfies ModelDeployment,
      { force: true, fieldManager: "test" },
    );
    const ready = await eventually(
      "the LoRA revision to be Ready",
      async () => {
        const md = await client.get<StoredModelDeployment>(ModelDeploymentType, {
          namespace,
          name: "tuned",
        });
        return md.status?.conditions?.find((c) => c.type === "Ready")?.status === "True"
          ? md
          : undefined;
      },
      120_000,
    );
    const revision = ready.status?.revisions?.[0];
    expect(revision).toMatchObject({
      model: "trainingjob/tuned@run-1",
      ready: true,
      role: "Stable",
    });
    expect(ready.status?.url).toBe(backends?.proxy?.urlOf(namespace, "tuned"));
    const dir = join(root, ".llmops", "serving", namespace, "tuned", revision?.name ?? "");
    const argv = JSON.parse(await readFile(join(dir, "serve.json"), "utf8")) as string[];
    expect(argv.slice(1)).toEqual([
      "--model",
      join(root, "models", "base"),
      "--adapter",
      join(root, "trained", "run-1"),
      "--served-name",
      "tuned",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ]);
    // It answers through the proxy, from the revision that serves base + adapter.
    const tuned = await ask(ready.status?.url ?? "");
    expect(tuned.revision).toBe(revision?.name);
    const pid = await readFile(join(dir, localServingFiles.pid), "utf8");
    expect(alive(Number(pid.trim()))).toBe(true);
  });
});
