// Evaluation throughput against the endpoint's own capacity (issue 6, item 7). The local
// OpenAI-protocol server runs in a separate process with a fixed 50 ms latency and 32 requests
// in flight at most, so its ideal is 32 / 0.05 s = 640 requests/s. The client (concurrency 32)
// sends every dataset item, scores each answer with exactMatch and keeps the per-item record the
// analysis needs. Reports achieved/ideal and the client's CPU per call (the server's CPU is in
// the other process). A baseline from the same run, plain fetch at the same concurrency with no
// SDK, retries or scoring, shows what this machine can drive at all, so a low ratio on a busy
// machine can be told apart from client overhead. Prints numbers; never fails. Run with
// `npm run bench:eval [-- --requests 3200 --latency-ms 50 --concurrency 32]`.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { percentile, type Observation } from "../controller/analysis/index.js";
import { EndpointConcurrency, createOpenAiChatClient } from "../controller/backends/llm/index.js";
import { createEvaluator } from "../controller/evaluators/index.js";
import { arithmeticDataset } from "../test/servers/openai/dataset.js";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw === undefined ? fallback : Number(raw);
}

const requests = argValue("--requests", 3200);
const latencyMs = argValue("--latency-ms", 50);
const concurrency = argValue("--concurrency", 32);
const datasetSize = 500;

const child = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "test/servers/openai/cli.ts",
    "--models",
    "acc-90:0.9",
    "--latency-ms",
    String(latencyMs),
    "--max-concurrency",
    String(concurrency),
    "--dataset",
    String(datasetSize),
  ],
  { cwd: repoRoot, stdio: ["pipe", "pipe", "inherit"] },
);
const firstLine = await new Promise<string>((resolve, reject) => {
  const lines = createInterface({ input: child.stdout });
  lines.once("line", resolve);
  child.once("exit", (code) => {
    reject(new Error(`test server exited with ${String(code)}`));
  });
});
const { baseURL } = JSON.parse(firstLine) as { baseURL: string };

try {
  const dataset = arithmeticDataset(datasetSize, 42);
  const client = createOpenAiChatClient({
    baseURL,
    concurrency: new EndpointConcurrency({ defaultLimit: concurrency }),
    timeoutMs: 10_000,
  });
  const exact = createEvaluator({ name: "correct", type: "exactMatch", normalize: { trim: true } });

  const runOne = async (i: number): Promise<Observation> => {
    const item = dataset[i % dataset.length] ?? { id: "none", input: "", expected: "" };
    const reply = await client.complete({
      model: "acc-90",
      temperature: 0,
      messages: [
        { role: "system", content: "Answer with the number only." },
        { role: "user", content: item.input },
      ],
    });
    const verdict = await exact.evaluate({
      item: { id: item.id, expected: item.expected },
      output: reply.content,
      latencyMs: reply.latencyMs,
      costUSD: reply.costUSD,
    });
    return {
      key: `${item.id}#${String(Math.floor(i / dataset.length))}`,
      score: verdict.score,
      passed: verdict.passed,
      latencyMs: reply.latencyMs,
      costUSD: reply.costUSD,
    };
  };

  /** Plain fetch: no SDK, no limiter object, no evaluation; `concurrency` workers in a loop. */
  const rawRate = async (count: number): Promise<number> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const item = dataset[next++ % dataset.length];
        const response = await fetch(`${baseURL}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "acc-90",
            messages: [{ role: "user", content: item?.input ?? "" }],
          }),
        });
        await response.json();
      }
    };
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return count / (Number(process.hrtime.bigint() - t0) / 1e9);
  };

  // Warm-up: open the keep-alive connections and JIT the hot path.
  await Promise.all(Array.from({ length: concurrency * 2 }, (_, i) => runOne(i)));
  await rawRate(concurrency * 2);
  const baseline = await rawRate(requests);

  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const observations = await Promise.all(Array.from({ length: requests }, (_, i) => runOne(i)));
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);

  const achieved = requests / wallS;
  const ideal = concurrency / (latencyMs / 1000);
  const latencies = observations.map((o) => o.latencyMs ?? 0);
  const passRate = observations.filter((o) => o.passed === true).length / observations.length;
  const result = {
    requests,
    endpoint: { latencyMs, concurrency },
    wallSeconds: Number(wallS.toFixed(3)),
    achievedPerSecond: Number(achieved.toFixed(1)),
    idealPerSecond: ideal,
    ratio: Number((achieved / ideal).toFixed(3)),
    rawFetchPerSecond: Number(baseline.toFixed(1)),
    rawFetchRatio: Number((baseline / ideal).toFixed(3)),
    evalOverRawFetch: Number((achieved / baseline).toFixed(3)),
    clientCpuMsPerCall: Number(((cpu.user + cpu.system) / 1000 / requests).toFixed(3)),
    latencyP50Ms: Number(percentile(latencies, 50).toFixed(1)),
    latencyP95Ms: Number(percentile(latencies, 95).toFixed(1)),
    passRate: Number(passRate.toFixed(3)),
  };
  console.log(
    `eval throughput: ${String(result.achievedPerSecond)} req/s of an ideal ${String(ideal)} ` +
      `(ratio ${String(result.ratio)}; plain fetch ${String(result.rawFetchPerSecond)} req/s, ` +
      `ratio ${String(result.rawFetchRatio)}; eval/plain ${String(result.evalOverRawFetch)}), ` +
      `client CPU ${String(result.clientCpuMsPerCall)} ms/call, ` +
      `latency p50 ${String(result.latencyP50Ms)} ms / p95 ${String(result.latencyP95Ms)} ms, ` +
      `${String(requests)} calls in ${String(result.wallSeconds)} s`,
  );
  console.log(JSON.stringify(result));
} finally {
  child.kill("SIGTERM");
}
