// Commit → live latency of git sync, on a control plane of its own.
//
//   npm run bench:gitsync                 (50 commits, 10 reverts)
//   BENCH_COMMITS=100 BENCH_REVERTS=20 npm run bench:gitsync
//
// Each sample: write a new Prompt wording in a working clone, commit, `git push` to a bare
// repository, POST a signed GitHub push webhook to the controller's HTTP port, and wait until the
// Prompt's ConfigMap (published by the Prompt reconciler) shows the new wording. The clock starts
// before `git push`. Then reverts: `git revert HEAD`, push, webhook, until the ConfigMap shows the
// previous wording again. Git sync and the Prompt controller run in this process, as
// `llmops controller` runs them (syncer + manager + HTTP server).
//
// Baseline from the same run: the same wording change applied straight to the apiserver (one
// server-side apply of the Prompt, no git) until the ConfigMap shows it. The ratio is what git
// (push, fetch, read, validate, dry run) adds on top of the reconciler's own latency.
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import { loadCrds } from "../controller/api/crds.js";
import { GitSyncMetrics } from "../controller/gitsync/metrics.js";
import { parseGitSource } from "../controller/gitsync/source-config.js";
import { GitSyncer } from "../controller/gitsync/syncer.js";
import { webhookRoute } from "../controller/gitsync/webhook.js";
import {
  ConfigMapType,
  NamespaceType,
  SecretType,
  type KubeObject,
} from "../controller/kube/resources.js";
import { createLogger } from "../controller/log/logger.js";
import { PromptType, promptController } from "../controller/reconcilers/prompt/reconciler.js";
import { startProbeServer } from "../controller/runtime/http-server.js";
import { Manager } from "../controller/runtime/manager.js";
import { createGitFixture, promptYaml } from "../test/gitsync/git-fixtures.js";
import { withPrivateCluster, type PrivateCluster } from "./private-cluster.js";

const commits = Number(process.env.BENCH_COMMITS ?? 50);
const reverts = Number(process.env.BENCH_REVERTS ?? 10);
const namespace = "bench";
const secret = "bench-webhook-secret";

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

function summary(values: number[]): string {
  return (
    `p50 ${percentile(values, 50).toFixed(0)} ms, p99 ${percentile(values, 99).toFixed(0)} ms, ` +
    `min ${Math.min(...values).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms (n=${String(values.length)})`
  );
}

async function main({ client, dir }: PrivateCluster): Promise<void> {
  const repo = await createGitFixture();
  const stop = new AbortController();
  let done: Promise<unknown> = Promise.resolve();
  try {
    await client.apply(NamespaceType, { metadata: { name: namespace } });
    await client.apply(SecretType, {
      metadata: { name: "webhook", namespace },
      data: { secret: Buffer.from(secret).toString("base64") },
    });

    await repo.write("specs/prompts/bench.yaml", promptYaml("bench", { system: "wording 0" }));
    await repo.commit("wording 0");
    const logger = createLogger({ level: "warn" });
    const manager = new Manager({ client, logger, namespaces: [namespace] });
    manager.add(promptController());
    const metrics = new GitSyncMetrics(manager.metrics.registry);
    const syncer = new GitSyncer({
      client,
      logger,
      events: manager.events,
      metrics,
      crds: await loadCrds(),
      namespace,
      cacheDir: join(dir, "gitsync-cache"),
      sources: [
        parseGitSource(
          {
            name: "bench",
            url: repo.bare,
            interval: "1h",
            targetNamespace: namespace,
            webhook: { secretRef: { name: "webhook" } },
          },
          "bench",
        ),
      ],
    });
    const server = await startProbeServer({
      address: "127.0.0.1:0",
      metrics: manager.metrics,
      health: manager,
      logger,
      routes: [webhookRoute({ target: syncer, logger, metrics })],
    });
    if (server === undefined) throw new Error("no HTTP server");
    done = Promise.all([
      manager.run(stop.signal),
      syncer.run(stop.signal, { isLeader: () => manager.isLeader() }),
    ]);

    const published = async (): Promise<string | undefined> => {
      const cm = await client.tryGet<KubeObject & { data?: Record<string, string> }>(
        ConfigMapType,
        { namespace, name: "prompt-bench" },
      );
      return cm?.data?.["prompt.json"];
    };
    const waitFor = async (wording: string): Promise<void> => {
      const deadline = Date.now() + 60_000;
      while (!((await published()) ?? "").includes(JSON.stringify(wording).slice(1, -1))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for "${wording}"`);
        await sleep(5);
      }
    };
    const hook = async (): Promise<void> => {
      const body = JSON.stringify({ ref: "refs/heads/main" });
      const response = await fetch(`${server.url}/hooks/bench`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
        },
        body,
      });
      if (response.status !== 202) throw new Error(`webhook answered ${String(response.status)}`);
    };

    // Warm-up: the first commit (pushed before the syncer starts) creates the Prompt.
    await waitFor("wording 0");

    const commitLatencies: number[] = [];
    const pushDurations: number[] = [];
    for (let i = 1; i <= commits; i++) {
      const wording = `wording ${String(i)}`;
      await repo.write("specs/prompts/bench.yaml", promptYaml("bench", { system: wording }));
      await repo.commit(wording, { push: false });
      const start = performance.now();
      await repo.push();
      pushDurations.push(performance.now() - start);
      await hook();
      await waitFor(wording);
      commitLatencies.push(performance.now() - start);
    }

    const revertLatencies: number[] = [];
    for (let i = 0; i < reverts; i++) {
      // Reverting HEAD alternates between the last two wordings.
      const before = parse(await repo.git.show([`HEAD~1:specs/prompts/bench.yaml`])) as {
        spec: { template: { messages: { content: string }[] } };
      };
      const wording = before.spec.template.messages[0]?.content ?? "";
      await repo.git.raw(["revert", "--no-edit", "HEAD"]);
      const start = performance.now();
      await repo.push();
      await hook();
      await waitFor(wording);
      revertLatencies.push(performance.now() - start);
    }

    // Baseline: the same change applied straight to the apiserver.
    const direct: number[] = [];
    for (let i = 0; i < Math.min(commits, 20); i++) {
      const wording = `direct ${String(i)}`;
      const manifest = parse(promptYaml("bench", { system: wording, namespace })) as KubeObject;
      const start = performance.now();
      await client.apply(PromptType, manifest, { fieldManager: "llmops-gitsync", force: true });
      await waitFor(wording);
      direct.push(performance.now() - start);
    }

    const p50 = percentile(commitLatencies, 50);
    const baseline = percentile(direct, 50);
    process.stdout.write(
      [
        `git sync latency (${String(commits)} commits, ${String(reverts)} reverts; webhook-triggered; bare repository on local disk)`,
        `  commit → live (push start → ConfigMap shows it): ${summary(commitLatencies)}`,
        `  of which git push:                              ${summary(pushDurations)}`,
        `  revert → live:                                   ${summary(revertLatencies)}`,
        `  baseline, apply → live without git:              ${summary(direct)}`,
        `  ratio commit→live / baseline (p50):              ${(p50 / baseline).toFixed(2)}`,
        `  goals: p50 < 1000 ms, p99 < 3000 ms`,
        "",
      ].join("\n"),
    );
  } finally {
    stop.abort();
    await done;
    await repo.cleanup();
  }
}

await withPrivateCluster({ fieldManager: "llmops-controller" }, main);
