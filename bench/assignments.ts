// Online A/B assignment throughput and p99 latency of the HTTP API against a bare Node HTTP server
// on the same machine in the same run (issue 15; goal: ratio ≥ 0.8), and outcome events per
// second stored durably. A private control plane (real TokenReview and SubjectAccessReview, real
// writes of the counts) runs a Prompt and an online Experiment reconciled by the controllers; the
// API server and the bare server run in this process one after the other, the load comes from a
// worker thread (its own event loop) over keep-alive connections. The bare server reads the JSON
// body and answers a fixed JSON variant: the floor of what any Node server pays per request. The
// API pays for routing, the token and access checks (cached after the first request), the rate
// limiter, body validation, the SHA-256 assignment and the exposure count. Besides wall-clock
// throughput and p99, each side's CPU per request on the server's thread is reported: on a shared
// machine that ratio stays put while the wall-clock ones move with the load. Prints JSON; never
// fails. Assignments are measured twice: units never seen before (each a new exposure written to
// the apiserver) and the same units again. `npm run bench:assignments [-- --requests 20000 --concurrency 64 --outcomes 50000]`.
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";
import { stringify } from "yaml";
import pino from "pino";
import type { Experiment } from "../controller/api/generated/index.js";
import { ExperimentType } from "../controller/api/kinds.js";
import { startApiServer } from "../controller/httpapi/server.js";
import { OnlineStore, readRunState } from "../controller/online/store.js";
import { experimentController } from "../controller/reconcilers/experiment/reconciler.js";
import { promptController } from "../controller/reconcilers/prompt/reconciler.js";
import { systemClock } from "../controller/runtime/clock.js";
import { Manager } from "../controller/runtime/manager.js";
import { withPrivateCluster } from "./private-cluster.js";

const run = promisify(execFile);

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const raw = i >= 0 ? process.argv[i + 1] : undefined;
  return raw === undefined ? fallback : Number(raw);
}
const requests = argValue("--requests", 20_000);
const concurrency = argValue("--concurrency", 64);
const outcomeEvents = argValue("--outcomes", 50_000);
const outcomeBatch = 500;
const rounds = argValue("--rounds", 5);

const median = (xs: readonly number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const round3 = (x: number): number => Number(x.toFixed(3));

/** Medians over the rounds. */
function summary(results: readonly LoadResult[]): LoadResult {
  return {
    perSecond: Math.round(median(results.map((r) => r.perSecond))),
    p50Ms: round3(median(results.map((r) => r.p50Ms))),
    p99Ms: round3(median(results.map((r) => r.p99Ms))),
    serverCpuUs: round3(median(results.map((r) => r.serverCpuUs))),
  };
}

/** Per-round ratios against the bare server of the same round, as medians (and each round's). */
function ratios(api: readonly LoadResult[], bare: readonly LoadResult[]) {
  const throughput = api.map((a, i) => a.perSecond / (bare[i]?.perSecond ?? Number.NaN));
  const p99 = api.map((a, i) => (bare[i]?.p99Ms ?? Number.NaN) / a.p99Ms);
  const cpu = api.map((a, i) => (bare[i]?.serverCpuUs ?? Number.NaN) / a.serverCpuUs);
  return {
    throughput: round3(median(throughput)),
    p99: round3(median(p99)),
    throughputByRound: throughput.map(round3),
    // Independent of what else runs on the machine: bare CPU per request / API CPU per request,
    // the throughput ratio where the server's thread is the bottleneck.
    serverCpu: round3(median(cpu)),
  };
}

// The load generator: CommonJS in a worker, node:http with a keep-alive agent, one latency per
// request (hrtime), bodies from a template with the request's index.
const loadGenerator = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const { url, path, token, total, concurrency, kind, batch, offset } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const target = new URL(url);
function body(i) {
  if (kind === "assign") return JSON.stringify({ unit: "user-" + (offset + i) });
  const items = [];
  for (let j = 0; j < batch; j++) {
    const n = offset + i * batch + j;
    items.push({ id: "o-" + n, unit: "user-" + (n % 100000), metric: "converted", value: n % 7 === 0 ? 1 : 0 });
  }
  return JSON.stringify(items);
}
function once(i) {
  return new Promise((resolve, reject) => {
    const payload = body(i);
    const start = process.hrtime.bigint();
    const req = http.request({ host: target.hostname, port: target.port, path, method: "POST", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), authorization: "Bearer " + token } },
      (res) => { const chunks = []; res.on("data", (c) => chunks.push(c)); res.on("end", () => {
        if (res.statusCode !== 200) reject(new Error("HTTP " + res.statusCode + ": " + Buffer.concat(chunks).toString()));
        else resolve(Number(process.hrtime.bigint() - start) / 1e6); }); });
    req.on("error", reject);
    req.end(payload);
  });
}
(async () => {
  const latencies = new Array(total);
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) { const i = next++; if (i >= total) return; latencies[i] = await once(i); }
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  parentPort.postMessage({ seconds, latencies });
})().catch((e) => parentPort.postMessage({ error: String(e && e.message || e) }));
`;

interface LoadResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of the server's thread (this process's main thread) per request, µs. */
  serverCpuUs: number;
}

async function load(options: {
  url: string;
  path: string;
  token: string;
  total: number;
  concurrency: number;
  kind: "assign" | "outcomes";
  offset: number;
}): Promise<LoadResult> {
  const cpuBefore = process.threadCpuUsage();
  const worker = new Worker(loadGenerator, {
    eval: true,
    workerData: { ...options, batch: outcomeBatch },
  });
  const message = await new Promise<{ seconds: number; latencies: number[]; error?: string }>(
    (resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    },
  );
  const cpu = process.threadCpuUsage(cpuBefore);
  await worker.terminate();
  if (message.error !== undefined) throw new Error(message.error);
  const sorted = [...message.latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    perSecond: Math.round(options.total / message.seconds),
    p50Ms: Number(at(0.5).toFixed(3)),
    p99Ms: Number(at(0.99).toFixed(3)),
    serverCpuUs: Number(((cpu.user + cpu.system) / options.total).toFixed(1)),
  };
}

function bareServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const { unit } = JSON.parse(Buffer.concat(chunks).toString()) as { unit: string };
      const body = JSON.stringify({ unit, variant: "a" });
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      resolve(server);
    }),
  );
}

await withPrivateCluster({ fieldManager: "llmops-controller" }, async (cluster) => {
  const kubectl = (args: string[], input?: string) => {
    const child = run(join(cluster.binDir, "kubectl"), [
      `--kubeconfig=${cluster.kubeconfigPath}`,
      ...args,
    ]);
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  const ns = "bench";
  await kubectl(["create", "namespace", ns]);
  const manifests = [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "app", namespace: ns } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "app", namespace: ns },
      rules: [
        {
          apiGroups: ["llmops.dev"],
          resources: ["experiments/assignments", "experiments/outcomes"],
          verbs: ["create"],
        },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "app", namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "app" },
      subjects: [{ kind: "ServiceAccount", name: "app", namespace: ns }],
    },
    {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: { name: "p", namespace: ns },
      spec: {
        template: { text: "Hi {{name}}" },
        variables: [{ name: "name" }],
        model: { name: "m" },
      },
    },
    {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "ab", namespace: ns },
      spec: {
        variants: [
          { name: "a", control: true, prompt: { name: "p" } },
          { name: "b", prompt: { name: "p" } },
        ],
        evaluators: [{ name: "converted", type: "outcome", outcome: { kind: "binary" } }],
        // Never decides during the run: the benchmark measures serving, not the analysis.
        analysis: { primaryMetric: "converted", minSamples: 1_000_000 },
        traffic: {
          weights: [
            { variant: "a", weight: 50 },
            { variant: "b", weight: 50 },
          ],
        },
      },
    },
  ];
  await kubectl(["apply", "-f", "-"], manifests.map((m) => stringify(m)).join("---\n"));
  const token = (
    await kubectl(["create", "token", "app", "-n", ns, "--duration", "1h"])
  ).stdout.trim();

  const logger = pino({ level: "warn" });
  const clock = systemClock();
  const store = new OnlineStore({ client: cluster.client, logger, clock });
  const manager = new Manager({ client: cluster.client, logger, namespaces: [ns] });
  manager.add(promptController(), experimentController({ onlineStore: store }));
  const stop = new AbortController();
  const managed = manager.run(stop.signal);
  for (;;) {
    const e = await cluster.client.get<Experiment>(ExperimentType, { namespace: ns, name: "ab" });
    if (e.status?.online?.runId !== undefined) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const api = await startApiServer({
    address: "127.0.0.1:0",
    client: cluster.client,
    logger,
    clock,
    namespaces: [ns],
    store,
    rateLimit: { ratePerSecond: 1e9, burst: 1e9 },
    prices: {},
  });
  if (api === undefined) throw new Error("API did not start");
  while (!api.isReady()) await new Promise((r) => setTimeout(r, 100));
  const assignPath = `/v1/experiments/${ns}/ab/assignments`;

  const bare = await bareServer();
  const bareUrl = `http://127.0.0.1:${String((bare.address() as AddressInfo).port)}`;
  const common = { token, total: requests, concurrency, kind: "assign" as const };
  // Warm-up of both (JIT, connections, the API's token and access caches), then measured runs.
  await load({ ...common, url: bareUrl, path: "/", total: 2000, offset: 0 });
  await load({ ...common, url: api.url, path: assignPath, total: 2000, offset: 0 });
  // Short rounds, alternating bare → API (new units) → API (the same units again) → bare, so a
  // change in the machine's load hits both sides alike; each ratio is the median over rounds.
  const perRound = Math.ceil(requests / rounds);
  const series = {
    bare: [] as LoadResult[],
    newUnits: [] as LoadResult[],
    returning: [] as LoadResult[],
  };
  for (let r = 0; r < rounds; r++) {
    const offset = 10_000_000 + r * perRound;
    const round = { ...common, total: perRound, offset };
    const before = await load({ ...round, url: bareUrl, path: "/" });
    series.newUnits.push(await load({ ...round, url: api.url, path: assignPath }));
    series.returning.push(await load({ ...round, url: api.url, path: assignPath }));
    const after = await load({ ...round, url: bareUrl, path: "/" });
    series.bare.push({
      perSecond: (before.perSecond + after.perSecond) / 2,
      p50Ms: (before.p50Ms + after.p50Ms) / 2,
      p99Ms: (before.p99Ms + after.p99Ms) / 2,
      serverCpuUs: (before.serverCpuUs + after.serverCpuUs) / 2,
    });
  }
  await new Promise((resolve) => bare.close(resolve));

  await store.flush();
  const outcomes = await load({
    url: api.url,
    path: `/v1/experiments/${ns}/ab/outcomes`,
    token,
    total: Math.ceil(outcomeEvents / outcomeBatch),
    concurrency: 8,
    kind: "outcomes",
    offset: 0,
  });
  const state = await readRunState(cluster.client, ns, "ab");
  await api.close();
  stop.abort();
  await managed;
  await store.close();

  console.log(
    JSON.stringify(
      {
        benchmark: "online A/B assignments and outcomes through the HTTP API",
        requests,
        concurrency,
        rounds,
        bareNode: summary(series.bare),
        assignmentsNewUnits: summary(series.newUnits),
        assignmentsReturningUnits: summary(series.returning),
        ratio: {
          newUnits: ratios(series.newUnits, series.bare),
          returningUnits: ratios(series.returning, series.bare),
        },
        outcomes: {
          events: outcomeEvents,
          batch: outcomeBatch,
          concurrency: 8,
          eventsPerSecond: outcomes.perSecond * outcomeBatch,
          requestP99Ms: outcomes.p99Ms,
          stored: state?.outcomes ?? 0,
          exposuresStored:
            (state?.variants.a?.exposures ?? 0) + (state?.variants.b?.exposures ?? 0),
        },
      },
      null,
      2,
    ),
  );
});
