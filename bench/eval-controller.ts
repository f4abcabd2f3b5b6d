// Evaluation throughput of the Experiment controller end to end (issue 6, item 7): `llmops
// controller` as its own process against a private control plane runs one Experiment (2 variants ×
// N items, concurrency 32) against the local OpenAI-protocol server in another process with a fixed
// 50 ms latency and 32 requests in flight at most (ideal: 32 / 0.05 s = 640 requests/s). Everything
// the controller does per call is in the measured time: rendering, the call, scoring, the
// write-ahead journal, results chunks and status writes. Reports achieved/ideal and the
// controller's CPU per call and the apiserver's and etcd's (from /proc). Baseline in the same run: the model client alone (what
// `npm run bench:eval` measures: the same calls, models, concurrency and scoring, without the
// controller), against the same server, right before and right after each of --rounds runs of a
// fresh Experiment; a round's ratio is the controller's throughput over the mean of the two, and
// `ratio` is the median round's (issue 16: at least 0.8, without weakening "never pay twice").
// Prints numbers; never fails. Run with
// `npm run bench:eval-controller [-- --items 1600 --latency-ms 50 --concurrency 32 --rounds 3]`.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { Experiment, Prompt } from "../controller/api/generated/index.js";
import { ConfigMapType, NamespaceType, type KubeObject } from "../controller/kube/resources.js";
import { ExperimentType } from "../controller/api/kinds.js";
import { PromptType } from "../controller/api/kinds.js";
import { freePorts } from "../test/env/control-plane.js";
import { withPrivateCluster, type PrivateCluster } from "./private-cluster.js";
import { arithmeticDataset } from "../test/servers/openai/dataset.js";
import { EndpointConcurrency, createOpenAiChatClient } from "../controller/backends/llm/index.js";
import { createEvaluator } from "../controller/evaluators/index.js";

const root = new URL("..", import.meta.url).pathname;
function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw === undefined ? fallback : Number(raw);
}
const items = argValue("--items", 1600);
const latencyMs = argValue("--latency-ms", 50);
const concurrency = argValue("--concurrency", 32);
const calls = items * 2;
const roundCount = argValue("--rounds", 3);
const ideal = concurrency / (latencyMs / 1000);

function cpuSeconds(pid: number): number {
  const fields =
    readFileSync(`/proc/${String(pid)}/stat`, "utf8")
      .split(") ")[1]
      ?.split(" ") ?? [];
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after "pid (comm) ").
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/**
 * The model client alone: `count` calls alternating the two variants' models, at most
 * `concurrency` in flight, each answer scored with exactMatch, as the controller does them.
 * Resolves to calls per second.
 */
function clientAloneRate(baseURL: string): (count: number) => Promise<number> {
  const dataset = arithmeticDataset(items, 42);
  const client = createOpenAiChatClient({
    baseURL,
    concurrency: new EndpointConcurrency({ defaultLimit: concurrency }),
    timeoutMs: 30_000,
  });
  const exact = createEvaluator({ name: "correct", type: "exactMatch" });
  return async (count) => {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const item = dataset[Math.floor(i / 2) % dataset.length];
        const reply = await client.complete({
          model: i % 2 === 0 ? "acc-70" : "acc-90",
          temperature: 0,
          messages: [
            { role: "system", content: "Answer with the number only." },
            { role: "user", content: item?.input ?? "" },
          ],
        });
        await exact.evaluate({
          item: { id: item?.id ?? "", expected: item?.expected },
          output: reply.content,
          latencyMs: reply.latencyMs,
          costUSD: reply.costUSD,
        });
      }),
    );
    return count / ((performance.now() - started) / 1000);
  };
}

async function main(cluster: PrivateCluster): Promise<void> {
  const { client, kubeconfigPath } = cluster;
  const controlPlaneCpu = () =>
    Object.values(cluster.controlPlaneCpuSeconds()).reduce((sum, s) => sum + s, 0);
  const [metricsPort = 0] = await freePorts(1);
  const server = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "test/servers/openai/cli.ts",
      "--models",
      "acc-90:0.9,acc-70:0.7",
      "--latency-ms",
      String(latencyMs),
      "--max-concurrency",
      String(concurrency),
      "--dataset",
      String(items),
    ],
    { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
  );
  let controller: ReturnType<typeof spawn> | undefined;
  try {
    const firstLine = await new Promise<string>((resolve) => {
      createInterface({ input: server.stdout }).once("line", resolve);
    });
    const { baseURL } = JSON.parse(firstLine) as { baseURL: string };
    const clientAlone = clientAloneRate(baseURL);
    await clientAlone(concurrency * 2); // warm-up: connections and the JIT
    const clientBefore = await clientAlone(calls);
    await client.apply(NamespaceType, {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "bench" },
    });
    const dataset = arithmeticDataset(items, 42);
    await client.apply(ConfigMapType, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "arith", namespace: "bench" },
      data: {
        "dataset.jsonl": dataset
          .map((i) =>
            JSON.stringify({ id: i.id, vars: { question: i.input }, expected: i.expected }),
          )
          .join("\n"),
      },
    });
    const prompt: Prompt & KubeObject = {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: { name: "arith", namespace: "bench" },
      spec: {
        template: {
          messages: [
            { role: "system", content: "Answer with the number only." },
            { role: "user", content: "{{question}}" },
          ],
        },
        variables: [{ name: "question", required: true }],
        model: { name: "acc-70", endpoint: { baseURL }, parameters: { temperature: 0 } },
        labels: ["production"],
      },
    };
    await client.apply(PromptType, prompt);

    controller = spawn(
      process.execPath,
      [
        join(root, "bin", "llmops.js"),
        "controller",
        `--kubeconfig=${kubeconfigPath}`,
        "--namespaces=bench",
        "--no-leader-elect",
        `--metrics-addr=127.0.0.1:${String(metricsPort)}`,
        "--log-level=warn",
      ],
      {
        stdio: ["ignore", "ignore", "inherit"],
        env: { ...process.env, NODE_OPTIONS: process.env.LLMOPS_CONTROLLER_NODE_OPTIONS ?? "" },
      },
    );
    await sleep(4000); // start-up, cache sync and the Prompt's first version: not measured
    const rounds: {
      seconds: number;
      requestsPerSecond: number;
      clientAloneRequestsPerSecond: number;
      ratio: number;
      controllerCpuMsPerCall: number;
      apiserverEtcdCpuMsPerCall: number;
    }[] = [];
    let clientPrevious = clientBefore;
    let status: Experiment["status"];
    for (let round = 0; round < roundCount; round++) {
      const name = `bench-${String(round)}`;
      const cpuBefore = cpuSeconds(controller.pid ?? 0);
      const controlPlaneBefore = controlPlaneCpu();
      const experiment: Experiment & KubeObject = {
        apiVersion: "llmops.dev/v1alpha1",
        kind: "Experiment",
        metadata: { name, namespace: "bench" },
        spec: {
          variants: [
            { name: "control", control: true, prompt: { name: "arith" } },
            { name: "candidate", prompt: { name: "arith" }, model: { name: "acc-90" } },
          ],
          dataset: { configMap: { name: "arith" } },
          evaluators: [{ name: "correct", type: "exactMatch" }],
          analysis: { primaryMetric: "correct" },
          concurrency,
        },
      };
      const start = performance.now();
      await client.apply(ExperimentType, experiment);
      for (;;) {
        status = (
          await client.get<Experiment & KubeObject>(ExperimentType, { namespace: "bench", name })
        ).status;
        if (status?.phase === "Completed" || status?.phase === "Failed") break;
        await sleep(50);
      }
      const seconds = (performance.now() - start) / 1000;
      const cpu = cpuSeconds(controller.pid ?? 0) - cpuBefore;
      const controlPlane = controlPlaneCpu() - controlPlaneBefore;
      // The client alone right before and right after: load on the machine hits both alike.
      const clientAfter = await clientAlone(calls);
      const clientRate = (clientPrevious + clientAfter) / 2;
      clientPrevious = clientAfter;
      rounds.push({
        seconds: Number(seconds.toFixed(2)),
        requestsPerSecond: Number((calls / seconds).toFixed(1)),
        clientAloneRequestsPerSecond: Number(clientRate.toFixed(1)),
        ratio: Number((calls / seconds / clientRate).toFixed(3)),
        controllerCpuMsPerCall: Number(((cpu * 1000) / calls).toFixed(3)),
        // What the journal, results chunks and status writes cost the control plane.
        apiserverEtcdCpuMsPerCall: Number(((controlPlane * 1000) / calls).toFixed(3)),
      });
    }
    const ratios = rounds.map((r) => r.ratio).sort((a, b) => a - b);
    const middle = <T>(sorted: T[]): T => sorted[Math.floor(sorted.length / 2)] as T;
    const rate = middle(rounds.map((r) => r.requestsPerSecond).sort((a, b) => a - b));
    const clientRate = middle(
      rounds.map((r) => r.clientAloneRequestsPerSecond).sort((a, b) => a - b),
    );
    const result = {
      calls,
      concurrency,
      endpointLatencyMs: latencyMs,
      phase: status?.phase,
      completed: status?.progress?.completed,
      rounds,
      requestsPerSecond: rate,
      idealRequestsPerSecond: ideal,
      idealRatio: Number((rate / ideal).toFixed(3)),
      clientAloneRequestsPerSecond: clientRate,
      clientAloneIdealRatio: Number((clientRate / ideal).toFixed(3)),
      // The controller over the client alone: the median of the rounds, and their spread.
      ratio: middle(ratios),
      ratioSpread: [ratios[0], ratios.at(-1)],
      winner: status?.winner,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    controller?.kill("SIGTERM");
    server.kill("SIGTERM");
  }
}

await withPrivateCluster({ fieldManager: "llmops-bench" }, main);
