// Prompt reconcile throughput and controller memory, on a control plane of its own.
//
//   npm run bench:prompts            (3 rounds of N=2000 for throughput, 10000 watched for memory)
//   BENCH_N=500 BENCH_ROUNDS=1 BENCH_WATCHED=2000 npm run bench:prompts
//
// A Prompt needs three writes: its create, its ConfigMap, its status. Baseline: the same client
// doing exactly those writes per object (server-side apply of the Prompt, of the ConfigMap the
// controller would publish, and of a status), with the controller's worker count, against the same
// apiserver. Measured: from the first create until every Prompt is Ready, with `llmops controller`
// running as its own process. Baseline and controller alternate for BENCH_ROUNDS rounds (fresh
// objects each round) and the median ratio is reported with every round's, so load from other
// processes on the machine hits both sides alike. Then more Prompts are added until BENCH_WATCHED
// are watched, and the controller's RSS is read from /proc: settled (see settledRssMiB), right
// after the last Prompt became Ready, and its peak (VmHWM).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Prompt } from "../controller/api/generated/index.js";
import { KubeClient } from "../controller/kube/client.js";
import {
  ConfigMapType,
  NamespaceType,
  type KubeObject,
  type StoredObject,
} from "../controller/kube/resources.js";
import { PromptType } from "../controller/api/kinds.js";
import { systemClock } from "../controller/runtime/clock.js";
import { Informer } from "../controller/runtime/informer.js";
import { pino } from "pino";
import { freePorts } from "../test/env/control-plane.js";
import { cpuSecondsOf, withPrivateCluster } from "./private-cluster.js";
import { residentBreakdown, v8MemoryFromMetrics } from "./process-memory.js";

const n = Number(process.env.BENCH_N ?? 2000);
// Extra Node flags for the controller process, e.g. "--max-old-space-size=128" to check that it
// works within a container memory limit (Node sizes its heap from the cgroup limit in a pod).
const controllerNodeOptions = process.env.BENCH_CONTROLLER_NODE_OPTIONS ?? "";
// Node flags NODE_OPTIONS does not take (V8's own, e.g. --optimize-for-size), space-separated.
const controllerNodeArgs = (process.env.BENCH_CONTROLLER_NODE_ARGS ?? "")
  .split(" ")
  .filter(Boolean);
const watched = Number(process.env.BENCH_WATCHED ?? 10000);
const roundCount = Number(process.env.BENCH_ROUNDS ?? 3);
const workers = 4;
const root = new URL("..", import.meta.url).pathname;

function promptObject(namespace: string, i: number): Prompt & KubeObject {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "Prompt",
    metadata: { name: `p-${String(i)}`, namespace },
    spec: {
      template: {
        messages: [
          { role: "system", content: `You are assistant number ${String(i)}.` },
          { role: "user", content: "{{question}}" },
        ],
      },
      variables: [{ name: "question" }],
      model: { name: "gpt-4o-mini", parameters: { temperature: 0 } },
      labels: ["production"],
    },
  };
}

async function pool(count: number, fn: (i: number) => Promise<void>, from = 0): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < from + count) await fn(next++);
    }),
  );
}

/** The ConfigMap the controller publishes for a Prompt, as far as its size and shape go. */
function configMapFor(prompt: Prompt & KubeObject, uid: string): KubeObject {
  const name = prompt.metadata.name ?? "";
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: `prompt-${name}`,
      namespace: prompt.metadata.namespace,
      labels: { "app.kubernetes.io/managed-by": "llmops", "llmops.dev/prompt": name },
      annotations: {
        "llmops.dev/version": "1",
        "llmops.dev/content-hash": `sha256:${"0".repeat(64)}`,
      },
      ownerReferences: [
        {
          apiVersion: "llmops.dev/v1alpha1",
          kind: "Prompt",
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    data: {
      "prompt.json": JSON.stringify({ name, version: 1, spec: prompt.spec }, null, 2),
      ".llmops-snapshot.json": JSON.stringify({ prompt: name, version: 1, spec: prompt.spec }),
    },
  };
}

/** The baseline's three writes for Prompt `i` in `namespace`. */
async function rawWrites(client: KubeClient, namespace: string, i: number): Promise<void> {
  const obj = promptObject(namespace, i);
  const created = await client.apply(PromptType, obj);
  await client.apply(ConfigMapType, configMapFor(obj, created.metadata.uid), { force: true });
  await client.applyStatus(
    PromptType,
    {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "Prompt",
      metadata: { name: obj.metadata.name, namespace },
      status: {
        version: 1,
        observedGeneration: 1,
        conditions: [
          {
            type: "Ready",
            status: "True",
            reason: "Published",
            message: "raw write",
            observedGeneration: 1,
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          },
        ],
      },
    },
    { force: true },
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Counts Ready Prompts in a namespace from a watch (a list every 200 ms would load the apiserver). */
function readyCounter(client: KubeClient, namespace: string, signal: AbortSignal) {
  const ready = new Set<string>();
  const waiters: { count: number; resolve: () => void }[] = [];
  const see = (p: StoredObject<Prompt>): void => {
    const isReady = p.status?.conditions?.some(
      (c) =>
        c.type === "Ready" && c.status === "True" && c.observedGeneration === p.metadata.generation,
    );
    if (isReady === true) ready.add(p.metadata.name);
    else ready.delete(p.metadata.name);
    for (const w of waiters.filter((w) => ready.size >= w.count)) {
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
  };
}

function rssMiB(pid: number, field: "VmRSS" | "VmHWM" = "VmRSS"): number {
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? "0");
  return kb / 1024;
}

/**
 * RSS once the controller has settled: V8 keeps the young generation it grew during a burst of
 * reconciles until its memory reducer runs (about a minute and a half of quiet later), so RSS
 * read right after the burst is the burst's, not what the watched objects cost. Waits at least
 * `minMs`, then until RSS has not moved by more than 1 MiB for 30 s, at most `maxMs` in all.
 */
async function settledRssMiB(pid: number, minMs = 120_000, maxMs = 300_000): Promise<number> {
  const start = Date.now();
  let last = rssMiB(pid);
  let stableSince = start;
  for (;;) {
    await sleep(5000);
    const now = rssMiB(pid);
    if (Math.abs(now - last) > 1) stableSince = Date.now();
    last = now;
    const elapsed = Date.now() - start;
    if (elapsed >= maxMs || (elapsed >= minMs && Date.now() - stableSince >= 30_000)) return last;
  }
}

async function main(): Promise<void> {
  const [metricsPort = 0, apiPort = 0] = await freePorts(2);
  await withPrivateCluster({ fieldManager: "llmops-bench" }, async (cluster) => {
    const { client, kubeconfigPath } = cluster;
    const planeCpu = () => {
      const byName = cluster.controlPlaneCpuSeconds();
      return Object.values(byName).reduce((a, b) => a + b, 0);
    };
    let controller: ReturnType<typeof spawn> | undefined;
    const stop = new AbortController();
    try {
      for (const ns of ["raw", "managed"]) {
        await client.apply(NamespaceType, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: ns },
        });
      }
      const managed = readyCounter(client, "managed", stop.signal);
      await managed.synced();

      // The controller, as its own process (with its HTTP API, as it runs by default).
      controller = spawn(
        process.execPath,
        [
          ...controllerNodeArgs,
          join(root, "bin", "llmops.js"),
          "controller",
          `--kubeconfig=${kubeconfigPath}`,
          "--namespaces=managed",
          "--no-leader-elect",
          `--metrics-addr=127.0.0.1:${String(metricsPort)}`,
          `--api-addr=127.0.0.1:${String(apiPort)}`,
          `--concurrency=Prompt=${String(workers)}`,
          "--log-level=warn",
        ],
        {
          stdio: ["ignore", "ignore", "inherit"],
          env: { ...process.env, NODE_OPTIONS: controllerNodeOptions },
        },
      );
      await sleep(3000); // start-up and cache sync, not part of the measured time
      // What the controller costs watching nothing yet: the floor the per-Prompt cost sits on.
      const emptyRss = rssMiB(controller.pid ?? 0);

      const rounds: {
        rawSeconds: number;
        controllerSeconds: number;
        ratio: number;
        apiserverEtcdCpuSeconds: { raw: number; controller: number };
        controllerCpuSeconds: number;
      }[] = [];
      for (let round = 0; round < roundCount; round++) {
        const from = round * n;
        // Baseline: create + ConfigMap + status per object, same client, same worker count.
        let start = performance.now();
        let cpu = planeCpu();
        await pool(n, (i) => rawWrites(client, "raw", i), from);
        const rawSeconds = (performance.now() - start) / 1000;
        const rawPlaneCpu = planeCpu() - cpu;

        // The controller reconciling the same number of new Prompts.
        start = performance.now();
        cpu = planeCpu();
        const controllerCpu = cpuSecondsOf(controller.pid ?? 0);
        await pool(
          n,
          async (i) => {
            await client.apply(PromptType, promptObject("managed", i));
          },
          from,
        );
        await managed.atLeast(from + n);
        const controllerSeconds = (performance.now() - start) / 1000;
        rounds.push({
          rawSeconds: Number(rawSeconds.toFixed(2)),
          controllerSeconds: Number(controllerSeconds.toFixed(2)),
          ratio: Number((controllerSeconds / rawSeconds).toFixed(3)),
          // Work the control plane did in each phase: independent of other load on the machine.
          apiserverEtcdCpuSeconds: {
            raw: Number(rawPlaneCpu.toFixed(1)),
            controller: Number((planeCpu() - cpu).toFixed(1)),
          },
          controllerCpuSeconds: Number(
            (cpuSecondsOf(controller.pid ?? 0) - controllerCpu).toFixed(1),
          ),
        });
      }

      // Memory: grow to `watched` Prompts, wait until they are all reconciled, read RSS.
      const reconciled = roundCount * n;
      await pool(
        Math.max(0, watched - reconciled),
        async (i) => {
          await client.apply(PromptType, promptObject("managed", i));
        },
        reconciled,
      );
      await managed.atLeast(Math.max(watched, reconciled));
      await sleep(3000);
      const rssJustAfter = rssMiB(controller.pid ?? 0);
      const rss = await settledRssMiB(controller.pid ?? 0);
      const peakRss = rssMiB(controller.pid ?? 0, "VmHWM");
      const resident = residentBreakdown(controller.pid ?? 0);
      const metrics = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
      const heapUsed = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? "0");
      const heapTotal = Number(/^nodejs_heap_size_total_bytes (\S+)/m.exec(metrics)?.[1] ?? "0");
      const ratios = rounds.map((r) => r.ratio);

      const result = {
        prompts: n,
        workers,
        writesPerPrompt: 3,
        rounds,
        ratio: Number(median(ratios).toFixed(2)),
        ratioSpread: [Math.min(...ratios), Math.max(...ratios)],
        rawWritesPerSecond: Number(((3 * n) / median(rounds.map((r) => r.rawSeconds))).toFixed(1)),
        promptsReadyPerSecond: Number(
          (n / median(rounds.map((r) => r.controllerSeconds))).toFixed(1),
        ),
        watchedPrompts: Math.max(watched, reconciled),
        controllerRssMiB: Number(rss.toFixed(1)),
        controllerRssJustAfterReadyMiB: Number(rssJustAfter.toFixed(1)),
        controllerPeakRssMiB: Number(peakRss.toFixed(1)),
        controllerHeapUsedMiB: Number((heapUsed / 1048576).toFixed(1)),
        controllerHeapTotalMiB: Number((heapTotal / 1048576).toFixed(1)),
        controllerResident: resident,
        controllerV8MiB: v8MemoryFromMetrics(metrics),
        bytesPerPromptAboveEmpty: Math.round(
          ((rss - emptyRss) * 1048576) / Math.max(watched, reconciled),
        ),
        controllerEmptyRssMiB: Number(emptyRss.toFixed(1)),
        controllerNodeOptions,
        controllerNodeArgs,
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      stop.abort();
      controller?.kill("SIGTERM");
    }
  });
}

await main();
