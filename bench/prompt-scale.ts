// The controller at scale: start-up and steady state with BENCH_OBJECTS Prompts (and their
// ConfigMaps), on a control plane of its own.
//
//   npm run bench:prompt-scale                        (10,000 Prompts)
//   BENCH_OBJECTS=50000 BENCH_IDLE_SECONDS=60 npm run bench:prompt-scale
//
// 1. Seed: BENCH_OBJECTS Prompts are created and a first `llmops controller` makes them Ready
//    (each gets its ConfigMap and status); then it stops.
// 2. Restart: a fresh controller process. Reported: seconds until its caches are synced
//    (/readyz), until every Prompt has been reconciled once (llmops_reconcile_total), and the
//    apiserver's count of writes it made meanwhile — nothing changed, so it should write nothing.
// 3. Idle: CPU seconds per minute over BENCH_IDLE_SECONDS (default 12 minutes: one periodic
//    relist of every informer and one drift check of every Prompt fall inside), the writes made
//    meanwhile, and RSS at its start and end (nothing may grow).
// 4. Change: BENCH_CHANGES Prompts get a new template at once; per object, the time from its write
//    being sent to its status showing the new version Ready (seen by a watch): p50, p99, max;
//    and the controller's own queue wait (llmops_workqueue_queue_duration_seconds).
// 5. Memory: RSS and heap, and (BENCH_HEAP_SNAPSHOT=1, default below 20,000 objects) a heap
//    snapshot of the controller with each cache's retained bytes and bytes per object
//    (bench/heap-accounting.ts).
// Prints JSON; never fails on a number.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import type { Prompt } from "../controller/api/generated/index.js";
import { PromptType } from "../controller/api/kinds.js";
import type { KubeClient } from "../controller/kube/client.js";
import { loadKubeConfig } from "../controller/kube/kubeconfig.js";
import { NamespaceType, type KubeObject, type StoredObject } from "../controller/kube/resources.js";
import { KubeTransport } from "../controller/kube/transport.js";
import { systemClock } from "../controller/runtime/clock.js";
import { Informer } from "../controller/runtime/informer.js";
import { residentBreakdown, v8MemoryFromMetrics } from "./process-memory.js";
import { freePorts } from "../test/env/control-plane.js";
import { withPrivateCluster } from "./private-cluster.js";

const objects = Number(process.env.BENCH_OBJECTS ?? 10000);
const changes = Math.min(objects, Number(process.env.BENCH_CHANGES ?? 1000));
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 720);
// Workers of the controller that seeds (writes every ConfigMap and status); the measured restart
// runs with the default (4). More only shortens the seeding of 50,000 on a machine with cores.
const seedWorkers = Number(process.env.BENCH_SEED_WORKERS ?? 4);
const heapSnapshot = (process.env.BENCH_HEAP_SNAPSHOT ?? (objects < 20000 ? "1" : "0")) === "1";
const writers = 16;
const namespace = "scale";
const root = new URL("..", import.meta.url).pathname;

function promptObject(i: number, revision = 0): Prompt & KubeObject {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: `p-${String(i)}`, namespace },
    spec: {
      template: {
        messages: [
          {
            role: "system",
            content: `You are assistant number ${String(i)}.${revision > 0 ? ` Revision ${String(revision)}.` : ""}`,
          },
          { role: "user", content: "{{question}}" },
        ],
      },
      variables: [{ name: "question" }],
      model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      labels: ["production"],
    },
  };
}

async function pool(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

/** Watches Prompts; tells when N are Ready at their current generation and when each became so. */
function readiness(client: KubeClient, signal: AbortSignal) {
  const ready = new Set<string>();
  const readyAt = new Map<string, { generation: number; at: number }>();
  const waiters: { count: number; resolve: () => void }[] = [];
  const see = (p: StoredObject<Prompt>): void => {
    const generation = p.metadata.generation ?? 0;
    const isReady = p.status?.conditions?.some(
      (c) => c.type === "Ready" && c.status === "True" && c.observedGeneration === generation,
    );
    if (isReady === true) {
      ready.add(p.metadata.name);
      if (readyAt.get(p.metadata.name)?.generation !== generation) {
        readyAt.set(p.metadata.name, { generation, at: performance.now() });
      }
    } else ready.delete(p.metadata.name);
    for (const w of waiters.filter((x) => ready.size >= x.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const informer = new Informer<Prompt>({
    client,
    type: PromptType,
    namespace,
    clock: systemClock(),
    logger: pino({ level: "warn" }),
    resyncMs: 0,
  });
  informer.addHandlers({
    onAdd: see,
    onUpdate: (_old, p) => {
      see(p);
    },
  });
  void informer.run(signal);
  return {
    synced: () => informer.waitForSync(signal),
    atLeast: (count: number) =>
      ready.size >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
    readyCount: () => ready.size,
    readyAt: (name: string, generation: number) => {
      const seen = readyAt.get(name);
      return seen?.generation === generation ? seen.at : undefined;
    },
  };
}

function procStat(pid: number): { cpuSeconds: number; rssMiB: number } {
  const fields =
    readFileSync(`/proc/${String(pid)}/stat`, "utf8")
      .split(") ")[1]
      ?.split(" ") ?? [];
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  return {
    // utime + stime are fields 14 and 15 of /proc/<pid>/stat (11 and 12 after "pid (comm) ").
    cpuSeconds: (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100,
    rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024,
  };
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024;
}

function metricValue(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labels !== "" && !line.includes(labels)) continue;
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

/** A quantile from a Prometheus histogram's cumulative buckets (linear within a bucket). */
function histogramQuantile(text: string, name: string, q: number): number | undefined {
  const buckets: [number, number][] = [];
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`).exec(line);
    if (m) buckets.push([m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  let previous: [number, number] = [0, 0];
  for (const bucket of buckets) {
    if (bucket[1] >= q * total) {
      if (bucket[0] === Infinity) return previous[0];
      const inBucket = bucket[1] - previous[1];
      const fraction = inBucket === 0 ? 1 : (q * total - previous[1]) / inBucket;
      return previous[0] + (bucket[0] - previous[0]) * fraction;
    }
    previous = bucket;
  }
  return previous[0];
}

/** The apiserver's count of mutating requests on Prompts, their status and ConfigMaps. */
async function writeCount(transport: KubeTransport): Promise<Record<string, number>> {
  const { body } = await transport.request({
    method: "GET",
    path: "/metrics",
    what: "GET /metrics",
  });
  const counts: Record<string, number> = {};
  for (const line of String(body).split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const verb = /verb="([^"]+)"/.exec(line)?.[1] ?? "";
    const resource = /resource="([^"]+)"/.exec(line)?.[1] ?? "";
    const subresource = /subresource="([^"]*)"/.exec(line)?.[1] ?? "";
    if (!["APPLY", "PATCH", "POST", "PUT", "DELETE"].includes(verb)) continue;
    if (!["prompts", "configmaps", "events"].includes(resource)) continue;
    const key = `${verb} ${resource}${subresource ? `/${subresource}` : ""}`;
    counts[key] = (counts[key] ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return counts;
}

function delta(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

interface Controller {
  child: ChildProcess;
  metrics: () => Promise<string>;
  ready: () => Promise<boolean>;
  stop: () => Promise<void>;
}

async function startController(
  kubeconfigPath: string,
  cwd: string,
  workers = 4,
): Promise<Controller> {
  const [metricsPort = 0, apiPort = 0] = await freePorts(2);
  const child = spawn(
    process.execPath,
    [
      "--heapsnapshot-signal=SIGUSR2",
      join(root, "bin", "llmops.js"),
      "controller",
      `--kubeconfig=${kubeconfigPath}`,
      `--namespaces=${namespace}`,
      "--no-leader-elect",
      `--metrics-addr=127.0.0.1:${String(metricsPort)}`,
      `--api-addr=127.0.0.1:${String(apiPort)}`,
      `--concurrency=Prompt=${String(workers)}`,
      "--log-level=warn",
    ],
    { cwd, stdio: ["ignore", "ignore", "inherit"] },
  );
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${String(metricsPort)}`;
  return {
    child,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    ready: async () => {
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "llmops-scale-"));
  await withPrivateCluster({ fieldManager: "llmops-bench" }, async ({ client, kubeconfigPath }) => {
    const transport = new KubeTransport({ kubeConfig: loadKubeConfig({ path: kubeconfigPath }) });
    const stop = new AbortController();
    let controller: Controller | undefined;
    try {
      await client.apply(NamespaceType, {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: namespace },
      });
      const prompts = readiness(client, stop.signal);
      await prompts.synced();

      // 1. Seed.
      let start = performance.now();
      controller = await startController(kubeconfigPath, work, seedWorkers);
      let created = 0;
      const progress = setInterval(() => {
        process.stderr.write(
          `[scale] seed: ${String(created)} of ${String(objects)} created, ${String(prompts.readyCount())} Ready, ${String(Math.round((performance.now() - start) / 1000))} s\n`,
        );
      }, 30_000);
      try {
        await pool(objects, async (i) => {
          await client.apply(PromptType, promptObject(i));
          created++;
        });
        await prompts.atLeast(objects);
      } finally {
        clearInterval(progress);
      }
      const seedSeconds = (performance.now() - start) / 1000;
      await controller.stop();

      // 2. Restart.
      const writesBefore = await writeCount(transport);
      start = performance.now();
      controller = await startController(kubeconfigPath, work);
      const c = controller;
      await until("caches synced", c.ready, 30 * 60_000);
      const syncedSeconds = (performance.now() - start) / 1000;
      await until(
        "every Prompt reconciled once",
        async () =>
          metricValue(await c.metrics(), "llmops_reconcile_total", 'kind="Prompt"') >= objects,
        30 * 60_000,
      );
      const startupSeconds = (performance.now() - start) / 1000;
      await sleep(5000);
      const startupWrites = delta(await writeCount(transport), writesBefore);
      const afterStartup = procStat(c.child.pid ?? 0);

      // 3. Idle.
      const idleWritesBefore = await writeCount(transport);
      const perMinute: number[] = [];
      let last = procStat(c.child.pid ?? 0);
      let rssMaxMiB = last.rssMiB;
      const idleStart = performance.now();
      while ((performance.now() - idleStart) / 1000 < idleSeconds) {
        await sleep(Math.min(60, idleSeconds) * 1000);
        const now = procStat(c.child.pid ?? 0);
        perMinute.push((now.cpuSeconds - last.cpuSeconds) / (Math.min(60, idleSeconds) / 60));
        rssMaxMiB = Math.max(rssMaxMiB, now.rssMiB);
        last = now;
      }
      const idleWrites = delta(await writeCount(transport), idleWritesBefore);
      const afterIdle = procStat(c.child.pid ?? 0);
      const residentAfterIdle = residentBreakdown(c.child.pid ?? 0);
      const idleMetrics = await c.metrics();

      // 4. Change BENCH_CHANGES Prompts at once.
      const waitBefore = idleMetrics;
      const written = new Map<string, { at: number; generation: number }>();
      const changeStart = performance.now();
      await pool(changes, async (i) => {
        // Measured from just before the write is sent (a conservative start).
        const sentAt = performance.now();
        const obj = await client.apply(PromptType, promptObject(i, 1));
        written.set(obj.metadata.name, { at: sentAt, generation: obj.metadata.generation ?? 0 });
      });
      const writeSeconds = (performance.now() - changeStart) / 1000;
      const latencies: number[] = [];
      const deadline = Date.now() + 30 * 60_000;
      for (const [name, w] of written) {
        for (;;) {
          const at = prompts.readyAt(name, w.generation);
          if (at !== undefined) {
            latencies.push((at - w.at) / 1000);
            break;
          }
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${name}`);
          await sleep(50);
        }
      }
      latencies.sort((a, b) => a - b);
      const changeMetrics = await c.metrics();
      const queueWait = subtractHistogram(
        changeMetrics,
        waitBefore,
        "llmops_workqueue_queue_duration_seconds",
      );

      // 5. Memory.
      const final = procStat(c.child.pid ?? 0);
      let heap: unknown;
      if (heapSnapshot) {
        c.child.kill("SIGUSR2");
        const file = await waitForSnapshot(work);
        heap = await accountInChild(file, { objects });
        await rm(join(work, file), { force: true });
      }
      const result = {
        objects,
        seedSeconds: round(seedSeconds, 1),
        restart: {
          cachesSyncedSeconds: round(syncedSeconds),
          allReconciledSeconds: round(startupSeconds),
          writes: startupWrites,
          rssMiB: round(afterStartup.rssMiB, 1),
        },
        idle: {
          seconds: idleSeconds,
          cpuSecondsPerMinute: {
            median: round(
              quantile(
                [...perMinute].sort((a, b) => a - b),
                0.5,
              ),
              3,
            ),
            max: round(Math.max(...perMinute), 3),
            mean: round(perMinute.reduce((a, b) => a + b, 0) / Math.max(1, perMinute.length), 3),
            each: perMinute.map((x) => round(x, 3)),
          },
          writes: idleWrites,
          rssMiB: {
            start: round(afterStartup.rssMiB, 1),
            max: round(rssMaxMiB, 1),
            end: round(afterIdle.rssMiB, 1),
          },
          reconciles: metricValue(idleMetrics, "llmops_reconcile_total", 'kind="Prompt"'),
        },
        change: {
          objects: changes,
          writeSeconds: round(writeSeconds),
          changeToReadySeconds: {
            p50: round(quantile(latencies, 0.5), 3),
            p99: round(quantile(latencies, 0.99), 3),
            max: round(latencies.at(-1) ?? NaN, 3),
          },
          queueWaitSeconds: {
            p50: round(histogramQuantileOf(queueWait, 0.5) ?? NaN, 3),
            p99: round(histogramQuantileOf(queueWait, 0.99) ?? NaN, 3),
          },
        },
        memory: {
          // Settled: at the end of the idle phase (V8's memory reducer has run by then).
          rssSettledMiB: round(afterIdle.rssMiB, 1),
          residentSettled: residentAfterIdle,
          v8Settled: v8MemoryFromMetrics(idleMetrics),
          rssAfterChangesMiB: round(final.rssMiB, 1),
          rssPeakMiB: round(peakRssMiB(c.child.pid ?? 0), 1),
          heapUsedMiB: round(
            metricValue(changeMetrics, "nodejs_heap_size_used_bytes") / 1048576,
            1,
          ),
          heapTotalMiB: round(
            metricValue(changeMetrics, "nodejs_heap_size_total_bytes") / 1048576,
            1,
          ),
          ...(heap !== undefined ? { heap } : {}),
        },
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      stop.abort();
      await controller?.stop();
      await transport.close();
      await rm(work, { recursive: true, force: true });
    }
  });
}

/** Bucket counts of `name` in `after` minus those in `before`, as histogram text. */
function subtractHistogram(after: string, before: string, name: string): string {
  const counts = (text: string) => {
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
      // prom-client writes `le` first; either order is accepted.
      if (!line.startsWith(`${name}_bucket{`) || !line.includes('kind="Prompt"')) continue;
      const m = /le="([^"]+)".*\} (\S+)$/.exec(line);
      if (m) out.set(m[1] ?? "", Number(m[2]));
    }
    return out;
  };
  const a = counts(after);
  const b = counts(before);
  return [...a]
    .map(([le, n]) => `${name}_bucket{kind="Prompt",le="${le}"} ${String(n - (b.get(le) ?? 0))}`)
    .join("\n");
}

function histogramQuantileOf(text: string, q: number): number | undefined {
  return histogramQuantile(text, "llmops_workqueue_queue_duration_seconds", q);
}

async function waitForSnapshot(dir: string): Promise<string> {
  for (;;) {
    const files = (await readdir(dir)).filter((f) => f.endsWith(".heapsnapshot"));
    const file = files[0];
    if (file !== undefined) {
      // Written in one go; wait until its size stops changing.
      let size = -1;
      for (;;) {
        await sleep(1000);
        const now = readFileSync(join(dir, file)).byteLength;
        if (now === size && now > 0) return join(dir, file);
        size = now;
      }
    }
    await sleep(500);
  }
}

/** Runs bench/heap-accounting.ts in a process of its own (parsing a snapshot takes gigabytes). */
async function accountInChild(file: string, context: { objects: number }): Promise<unknown> {
  const child = spawn(
    process.execPath,
    [
      "--max-old-space-size=8000",
      "--import",
      "tsx",
      join(root, "bench", "heap-accounting.ts"),
      file,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (out += chunk));
  await new Promise((resolve) => child.once("exit", resolve));
  const account = JSON.parse(out) as {
    reachableBytes: number;
    caches: { owner: string; resource: string; retainedBytes: number }[];
    runtime: Record<string, number>;
    largest: { what: string; retainedBytes: number }[];
  };
  const MiB = (b: number) => round(b / 1048576, 2);
  return {
    reachableMiB: MiB(account.reachableBytes),
    caches: account.caches
      .filter((x) => x.retainedBytes > 4096)
      .map((x) => ({
        ...x,
        retainedMiB: MiB(x.retainedBytes),
        bytesPerObject: Math.round(x.retainedBytes / context.objects),
      })),
    runtimeMiB: Object.fromEntries(
      Object.entries(account.runtime)
        .filter(([, b]) => b > 4096)
        .map(([k, b]) => [k, MiB(b)]),
    ),
    largest: account.largest.slice(0, 8).map((x) => ({ what: x.what, MiB: MiB(x.retainedBytes) })),
  };
}

await main();
