// Prompt reconcile throughput and controller memory, on a control plane of its own.
//
//   npm run bench:prompts            (N=2000 for throughput, 10000 watched for memory)
//   BENCH_N=500 BENCH_WATCHED=2000 npm run bench:prompts
//
// Baseline: the same client doing the minimal raw writes per object (create + status patch) with
// the controller's worker count against the same apiserver. Measured: from the first create until
// every Prompt is Ready, with `llmops controller` running as its own process. Then more Prompts
// are added until BENCH_WATCHED are watched, and the controller's RSS is read from /proc.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Prompt } from "../controller/api/generated/index.js";
import { KubeClient } from "../controller/kube/client.js";
import { NamespaceType, type KubeObject } from "../controller/kube/resources.js";
import { PromptType } from "../controller/api/kinds.js";
import { freePorts } from "../test/env/control-plane.js";
import { withPrivateCluster } from "./private-cluster.js";

const n = Number(process.env.BENCH_N ?? 2000);
// Extra Node flags for the controller process, e.g. "--max-old-space-size=128" to check that it
// works within a container memory limit (Node sizes its heap from the cgroup limit in a pod).
const controllerNodeOptions = process.env.BENCH_CONTROLLER_NODE_OPTIONS ?? "";
const watched = Number(process.env.BENCH_WATCHED ?? 10000);
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

async function countReady(client: KubeClient, namespace: string): Promise<number> {
  const list = await client.list<Prompt & KubeObject>(PromptType, { namespace, limit: 500 });
  return list.items.filter((p) =>
    p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
  ).length;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${String(pid)}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}

async function main(): Promise<void> {
  const [metricsPort = 0] = await freePorts(1);
  await withPrivateCluster({ fieldManager: "llmops-bench" }, async ({ client, kubeconfigPath }) => {
    let controller: ReturnType<typeof spawn> | undefined;
    try {
      for (const ns of ["raw", "managed"]) {
        await client.apply(NamespaceType, {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: ns },
        });
      }

      // Baseline: create + status patch per object, same client, same worker count.
      let start = performance.now();
      await pool(n, async (i) => {
        const obj = promptObject("raw", i);
        await client.apply(PromptType, obj);
        await client.mergePatchStatus(
          PromptType,
          { namespace: "raw", name: obj.metadata.name ?? "" },
          {
            version: 1,
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "Published",
                message: "raw write",
                lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
              },
            ],
          },
        );
      });
      const rawSeconds = (performance.now() - start) / 1000;

      // The controller, as its own process, reconciling the same number of new Prompts.
      controller = spawn(
        process.execPath,
        [
          join(root, "bin", "llmops.js"),
          "controller",
          `--kubeconfig=${kubeconfigPath}`,
          "--namespaces=managed",
          "--no-leader-elect",
          `--metrics-addr=127.0.0.1:${String(metricsPort)}`,
          `--concurrency=Prompt=${String(workers)}`,
          "--log-level=warn",
        ],
        {
          stdio: ["ignore", "ignore", "inherit"],
          env: { ...process.env, NODE_OPTIONS: controllerNodeOptions },
        },
      );
      await sleep(3000); // start-up and cache sync, not part of the measured time
      start = performance.now();
      await pool(n, async (i) => {
        await client.apply(PromptType, promptObject("managed", i));
      });
      while ((await countReady(client, "managed")) < n) await sleep(200);
      const controllerSeconds = (performance.now() - start) / 1000;

      // Memory: grow to `watched` Prompts, wait until they are all reconciled, read RSS.
      await pool(
        watched - n,
        async (i) => {
          await client.apply(PromptType, promptObject("managed", i));
        },
        n,
      );
      while ((await countReady(client, "managed")) < watched) await sleep(1000);
      await sleep(3000);
      const rss = rssMiB(controller.pid ?? 0);
      const metrics = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
      const heapUsed = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? "0");

      const result = {
        prompts: n,
        workers,
        rawWritesSeconds: Number(rawSeconds.toFixed(2)),
        rawWritesPerSecond: Number((n / rawSeconds).toFixed(1)),
        controllerSeconds: Number(controllerSeconds.toFixed(2)),
        promptsReadyPerSecond: Number((n / controllerSeconds).toFixed(1)),
        ratio: Number((controllerSeconds / rawSeconds).toFixed(2)),
        watchedPrompts: watched,
        controllerRssMiB: Number(rss.toFixed(1)),
        controllerHeapUsedMiB: Number((heapUsed / 1048576).toFixed(1)),
        controllerNodeOptions,
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      controller?.kill("SIGTERM");
    }
  });
}

await main();
