// A GitSyncer wired to the test control plane: real client, real Events, its own metrics registry.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import type { Logger } from "pino";
import { loadCrds, type CrdSet } from "../../controller/api/crds.js";
import type { KubeClient } from "../../controller/kube/client.js";
import { EventRecorder } from "../../controller/kube/events.js";
import { SecretType } from "../../controller/kube/resources.js";
import { GitSyncMetrics } from "../../controller/gitsync/metrics.js";
import { parseGitSource, type GitSourceConfig } from "../../controller/gitsync/source-config.js";
import { GitSyncer } from "../../controller/gitsync/syncer.js";
import { memoryLogger } from "../runtime/helpers.js";

let crds: Promise<CrdSet> | undefined;

export interface SyncerHarness {
  syncer: GitSyncer;
  source: GitSourceConfig;
  registry: Registry;
  metrics: GitSyncMetrics;
  logger: Logger;
  lines: Record<string, unknown>[];
  /** Value of a metric sample (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Runs the loop until stop(). */
  start(): void;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createSyncer(options: {
  client: KubeClient;
  namespace: string;
  source: Record<string, unknown>;
  retryBaseMs?: number;
}): Promise<SyncerHarness> {
  crds ??= loadCrds();
  const cacheDir = await mkdtemp(join(tmpdir(), "llmops-gitsync-cache-"));
  const { logger, lines } = memoryLogger("debug");
  const registry = new Registry();
  const metrics = new GitSyncMetrics(registry);
  const source = parseGitSource(
    { targetNamespace: options.namespace, ...options.source },
    "test source",
  );
  const syncer = new GitSyncer({
    client: options.client,
    logger,
    events: new EventRecorder({
      client: options.client,
      logger,
      controller: "llmops.dev/controller",
      instance: "test",
      now: () => Date.now(),
    }),
    metrics,
    crds: await crds,
    namespace: options.namespace,
    cacheDir,
    sources: [source],
    retryBaseMs: options.retryBaseMs ?? 200,
  });
  let stop: AbortController | undefined;
  let done: Promise<void> | undefined;
  return {
    syncer,
    source,
    registry,
    metrics,
    logger,
    lines,
    metric: async (name, labels = {}) => {
      const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      const values = (found?.values ?? []) as { value: number; labels: Record<string, unknown> }[];
      return values
        .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
        .reduce((sum, v) => sum + v.value, 0);
    },
    start: () => {
      stop = new AbortController();
      done = syncer.run(stop.signal);
    },
    stop: async () => {
      stop?.abort();
      await done;
    },
    cleanup: async () => {
      stop?.abort();
      await done;
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** Creates a Secret with string data. */
export async function createSecret(
  client: KubeClient,
  namespace: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  await client.apply(SecretType, {
    metadata: { name, namespace },
    data: Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
    ),
  });
}
