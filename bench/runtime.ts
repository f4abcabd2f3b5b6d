// Runtime benchmarks: numbers, not pass/fail. Each figure comes with a baseline from the same run.
//
//   npm run bench:runtime                      (10,000 keys / ConfigMaps)
//   BENCH_OBJECTS=2000 npm run bench:runtime
//
// 1. Work queue: keys reconciled per second with a no-op reconcile through Controller + WorkQueue
//    (de-duplication, backoff bookkeeping, metrics, per-key logger) against a bare loop over the
//    same keys; and how many reconciles 10 adds per key cost while the key is being processed.
// 2. Informer, on a control plane of its own: time to list+sync N ConfigMaps against a raw paged
//    list by the same client; heap retained per cached object.
// 3. Watch propagation: N writes by the client, and the time until the informer has seen all of
//    them, against the time the writes themselves took.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../controller/kube/client.js";
import { ConfigMapType, NamespaceType } from "../controller/kube/resources.js";
import { KubeTransport } from "../controller/kube/transport.js";
import { createLogger } from "../controller/log/logger.js";
import { defaultRateLimiter } from "../controller/runtime/backoff.js";
import { systemClock } from "../controller/runtime/clock.js";
import { Controller } from "../controller/runtime/controller.js";
import { Informer } from "../controller/runtime/informer.js";
import { RuntimeMetrics } from "../controller/runtime/metrics.js";
import { WorkQueue } from "../controller/runtime/work-queue.js";
import { ensureBinaries } from "../test/env/binaries.js";
import { startControlPlane, stopControlPlane } from "../test/env/control-plane.js";

const objects = Number(process.env.BENCH_OBJECTS ?? 10_000);
const writers = 16;
const clock = systemClock();
const silent = createLogger({
  level: "warn",
  destination: new Writable({
    write: (_c, _e, cb) => {
      cb();
    },
  }),
});

/** heapUsed after full collections (needs --expose-gc; otherwise just heapUsed). */
function collectedHeap(): number {
  for (let i = 0; i < 3; i++) global.gc?.();
  return process.memoryUsage().heapUsed;
}

function report(name: string, value: string): void {
  process.stdout.write(`${name.padEnd(58)} ${value}\n`);
}

async function pool(count: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

async function queueThroughput(concurrency: number): Promise<void> {
  const keys = Array.from({ length: objects }, (_, i) => `bench/k${String(i)}`);
  // Baseline: the same keys through a bare async loop.
  let bare = 0;
  const bareStart = performance.now();
  for (const key of keys) {
    await Promise.resolve(key);
    bare++;
  }
  const bareMs = performance.now() - bareStart;

  let reconciled = 0;
  const queue = new WorkQueue({ clock, rateLimiter: defaultRateLimiter({ clock }) });
  const controller = new Controller({
    kind: "Bench",
    queue,
    concurrency,
    clock,
    logger: silent,
    metrics: new RuntimeMetrics({ processMetrics: false }),
    reconcile: () => {
      reconciled++;
      return Promise.resolve(undefined);
    },
  });
  const stop = new AbortController();
  const start = performance.now();
  const running = controller.run({ stop: stop.signal, hardStop: new AbortController().signal });
  for (const key of keys) controller.enqueue(key);
  while (reconciled < keys.length) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - start;
  stop.abort();
  await running;
  report(
    `queue: ${String(objects)} keys, concurrency ${String(concurrency)}`,
    `${Math.round(objects / (ms / 1000)).toLocaleString()} keys/s ` +
      `(bare loop ${Math.round(bare / (bareMs / 1000)).toLocaleString()}/s)`,
  );
}

async function queueDeduplication(): Promise<void> {
  let reconciles = 0;
  const queue = new WorkQueue({ clock, rateLimiter: defaultRateLimiter({ clock }) });
  const keys = Array.from({ length: 1000 }, (_, i) => `bench/d${String(i)}`);
  const interrupted = new Set<string>();
  const controller = new Controller({
    kind: "Dedup",
    queue,
    concurrency: 8,
    clock,
    logger: silent,
    reconcile: async (req) => {
      reconciles++;
      const key = `${req.namespace}/${req.name}`;
      // Ten more events for this key arrive while its first reconcile runs.
      if (!interrupted.has(key)) {
        interrupted.add(key);
        for (let i = 0; i < 10; i++) controller.enqueue(key);
      }
      await new Promise((r) => setImmediate(r));
      return undefined;
    },
  });
  const stop = new AbortController();
  const running = controller.run({ stop: stop.signal, hardStop: new AbortController().signal });
  for (const key of keys) for (let i = 0; i < 10; i++) controller.enqueue(key);
  while (queue.length > 0 || queue.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  stop.abort();
  await running;
  report(
    "queue: 1,000 keys × (10 adds, then 10 more during the run)",
    `${(reconciles / keys.length).toFixed(2)} reconciles per key for 20 adds (ideal: 2)`,
  );
}

/** Syncs an informer, measures, writes updates and waits for them; the informer dies with it. */
async function informerRun(client: KubeClient, namespace: string) {
  const informer = new Informer({
    client,
    type: ConfigMapType,
    namespace,
    labelSelector: "bench=yes",
    clock,
    logger: silent,
  });
  let seen = 0;
  informer.addHandlers({ onUpdate: () => seen++ });
  const stop = new AbortController();
  const syncStart = performance.now();
  const running = informer.run(stop.signal);
  await informer.waitForSync();
  const syncMs = performance.now() - syncStart;
  const heapWith = collectedHeap();
  const rssMiB = (process.memoryUsage().rss / 2 ** 20).toFixed(0);

  const updates = Math.min(objects, 2000);
  const writeStart = performance.now();
  await pool(updates, async (i) => {
    await client.mergePatch(
      ConfigMapType,
      { namespace, name: `cm-${String(i)}` },
      { data: { v: "2" } },
    );
  });
  const writeMs = performance.now() - writeStart;
  while (seen < updates) await new Promise((r) => setTimeout(r, 1));
  const seenMs = performance.now() - writeStart;
  stop.abort();
  await running;
  return { syncMs, heapWith, rssMiB, cached: informer.size, updates, writeMs, seenMs };
}

async function informerBenchmarks(): Promise<void> {
  const binDir = await ensureBinaries((m) => process.stderr.write(`${m}\n`));
  const dir = await mkdtemp(join(tmpdir(), "llmops-bench-runtime-"));
  const plane = await startControlPlane({ dir, binDir, detached: false });
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(plane.kubeconfigPath);
    const client = new KubeClient({
      transport: new KubeTransport({ kubeConfig }),
      fieldManager: "llmops-bench",
    });
    const namespace = "bench";
    await client.apply(NamespaceType, { metadata: { name: namespace } });
    const data = { prompt: "x".repeat(512) };
    const createStart = performance.now();
    await pool(objects, async (i) => {
      await client.create(ConfigMapType, {
        metadata: { name: `cm-${String(i)}`, namespace, labels: { bench: "yes" } },
        data,
      });
    });
    const createMs = performance.now() - createStart;
    report(
      `setup: ${String(objects)} ConfigMap creates, ${String(writers)} writers`,
      `${(createMs / 1000).toFixed(1)} s (${Math.round(objects / (createMs / 1000))}/s)`,
    );

    const rawStart = performance.now();
    // Only the count is kept, so the raw list's objects do not inflate the memory figures below.
    const rawCount = (
      await client.list(ConfigMapType, { namespace, labelSelector: "bench=yes", limit: 500 })
    ).items.length;
    const rawMs = performance.now() - rawStart;

    const measured = await informerRun(client, namespace);
    // The informer is unreachable now: the difference is what its cache retained.
    const heapWithout = collectedHeap();
    report(
      `informer: list+sync ${String(rawCount)} objects`,
      `${measured.syncMs.toFixed(0)} ms vs raw paged list ${rawMs.toFixed(0)} ms → ratio ${(measured.syncMs / rawMs).toFixed(2)}`,
    );
    report(
      "informer: heap retained per cached object (512 B payload)",
      global.gc
        ? `${((measured.heapWith - heapWithout) / measured.cached / 1024).toFixed(2)} KiB`
        : "(run with --expose-gc for this figure)",
    );
    report("process RSS with the informer synced (tsx loader included)", `${measured.rssMiB} MiB`);
    report(
      `watch: ${String(measured.updates)} updates written → all seen by the informer`,
      `${measured.seenMs.toFixed(0)} ms vs writes alone ${measured.writeMs.toFixed(0)} ms → ratio ${(measured.seenMs / measured.writeMs).toFixed(2)}`,
    );
    await client.close();
  } finally {
    await stopControlPlane(plane);
    await rm(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`llmops runtime benchmark (node ${process.version})\n`);
await queueThroughput(1);
await queueThroughput(8);
await queueDeduplication();
await informerBenchmarks();
