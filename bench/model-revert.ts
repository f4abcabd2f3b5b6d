// Revert → traffic flipped for a ModelDeployment (issue 12), on a control plane of its own.
//
//   npm run bench:revert                  (20 reverts, 20 baseline writes)
//   BENCH_REVERTS=50 npm run bench:revert
//
// The ModelDeployment controller runs in this process in a Manager, as `llmops controller` runs
// it; kwok makes the revisions' Deployments Available, the Gateway API HTTPRoute CRD takes the
// route it writes, and model revisions resolve against the local Hub test server. Setup (not
// measured): the deployment at revision main until Healthy, then at v2 until Healthy, so main is
// a warm revision. Then each sample flips the spec to the other revision, which is warm, under a
// Canary strategy whose first steps are setWeight 10 and a one-hour pause: a revert to a warm
// revision must skip them. Measured: from the apply's response until a watch on the HTTPRoute
// delivers 100% on the expected revision. Between samples the bench waits until the status has
// settled (the other revision Warm and ready), as a revert would find it in practice.
//
// Baseline from the same run, interleaved with the reverts: the same client's server-side apply of
// a ConfigMap change, from sending the apply until a watch on ConfigMaps delivers it — the
// apiserver's own write latency. The ratio is revert p50 / baseline p50. Prints JSON; never fails
// on the numbers (it does fail when a revert does not flip within 30 s).
import { execFile } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { pino } from "pino";
import type { ModelDeployment } from "../controller/api/generated/index.js";
import { ModelDeploymentType } from "../controller/api/kinds.js";
import { gitSyncFieldManager } from "../controller/api/well-known.js";
import type { KubeClient, WatchStream } from "../controller/kube/client.js";
import { TransientError } from "../controller/kube/errors.js";
import {
  ConfigMapType,
  HTTPRouteType,
  NamespaceType,
  type KubeObject,
  type ResourceType,
  type StoredObject,
} from "../controller/kube/resources.js";
import { createLogger } from "../controller/log/logger.js";
import { modelDeploymentController } from "../controller/reconcilers/model-deployment/reconciler.js";
import { Manager } from "../controller/runtime/manager.js";
import { HubTestServer } from "../test/servers/huggingface/server.js";
import { withPrivateCluster, type PrivateCluster } from "./private-cluster.js";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const gatewayCrd = join(root, "..", "shared", "crds", "gateway-api-v1.6.1", "httproutes.yaml");
const reverts = Math.max(1, Math.min(200, Number(process.env.BENCH_REVERTS ?? 20)));
const namespace = "bench";
const name = "coder";
const flipTimeoutMs = 30_000;
const setupTimeoutMs = 120_000;
// A revert lands on a controller that has finished the previous one, as a git revert would.
const quietMs = 250;

type Stored = StoredObject<ModelDeployment & KubeObject>;
type Route = KubeObject & {
  spec?: { rules?: { backendRefs?: { name: string; weight?: number }[] }[] };
};
type Revision = "main" | "v2";

const canary: NonNullable<ModelDeployment["spec"]["strategy"]> = {
  type: "Canary",
  canary: { steps: [{ setWeight: 10 }, { pause: { duration: "1h" } }, { setWeight: 50 }] },
};

function manifest(
  revision: Revision,
  strategy: NonNullable<ModelDeployment["spec"]["strategy"]>,
): ModelDeployment & KubeObject {
  return {
    apiVersion: "llmops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name, namespace },
    spec: {
      model: { huggingFace: { repo: "acme/coder", revision } },
      runtime: { type: "vllm", replicas: 1, resources: { gpu: { count: 0 } } },
      route: {
        parentRefs: [{ name: "inference-gateway", namespace: "gateway-system" }],
        path: "/v1",
      },
      strategy,
      rollbackWindow: { revisions: 1 },
    },
  };
}

function weights(route: Route): Record<string, number> {
  return Object.fromEntries(
    (route.spec?.rules?.[0]?.backendRefs ?? []).map((b) => [b.name, b.weight ?? 1]),
  );
}

/** Healthy on `stable`, at the current generation, with `warm` kept Warm and ready. */
function settled(md: Stored, stable: string, warm?: string): boolean {
  const status = md.status;
  if (status === undefined) return false;
  return (
    status.observedGeneration === md.metadata.generation &&
    status.phase === "Healthy" &&
    status.stableRevision === stable &&
    (warm === undefined ||
      status.revisions?.some((r) => r.name === warm && r.role === "Warm" && r.ready === true) ===
        true)
  );
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

const round = (ms: number): number => Number(ms.toFixed(1));

/**
 * Retries `call` while the apiserver answers with a transient error: a CRD that has just become
 * Established answers 429 "storage is (re)initializing" until its watch cache is ready.
 */
async function transientRetried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof TransientError) || attempt >= 60) throw error;
      await sleep(error.retryAfterMs ?? 250);
    }
  }
}

interface Waiter<T> {
  test: (obj: T) => boolean;
  resolve: (at: number) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * One named object, followed by a watch from a list's resourceVersion (so nothing between the
 * list and the watch is missed). Waiters learn the moment (performance.now()) the event that
 * satisfied them arrived, not when a poll happened to look. The watch is reopened from the last
 * resourceVersion if the server ends it, and relisted after 410 Gone.
 */
class WatchedObject<T extends KubeObject> {
  latest: StoredObject<T> | undefined;
  /** Called with every version the watch delivers, before waiters are checked. */
  onEvent: ((obj: StoredObject<T>) => void) | undefined;
  private readonly waiters = new Set<Waiter<StoredObject<T>>>();
  private stream: WatchStream | undefined;
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    private readonly type: ResourceType,
    private readonly objectName: string,
  ) {}

  async start(): Promise<void> {
    let resourceVersion = await transientRetried(() => this.relist());
    let stream = await transientRetried(() => this.open(resourceVersion));
    this.loop = (async () => {
      for (let opened = 1; !this.isStopped(); opened++) {
        try {
          for await (const event of stream) {
            const at = performance.now();
            if (event.type === "ERROR") {
              resourceVersion = await this.relist(); // 410 Gone: start from a fresh list
              break;
            }
            const version = (event.object.metadata as { resourceVersion?: string } | undefined)
              ?.resourceVersion;
            if (version !== undefined) resourceVersion = version;
            if (event.type === "BOOKMARK" || event.type === "DELETED") continue;
            this.observe(event.object as StoredObject<T>, at);
          }
        } catch (error) {
          if (this.isStopped()) return;
          process.stderr.write(`watch ${this.type.plural}: ${String(error)}; reopening\n`);
          await sleep(100);
          resourceVersion = await transientRetried(() => this.relist());
        }
        if (this.isStopped()) return;
        if (opened >= 50) throw new Error("the watch ended 50 times");
        stream = await transientRetried(() => this.open(resourceVersion));
      }
    })().catch((error: unknown) => {
      this.failAll(
        new Error(`watch ${this.type.plural}/${this.objectName} failed`, { cause: error }),
      );
    });
  }

  /** Resolves with the arrival time of the first event after this call that passes `test`. */
  next(what: string, test: (obj: StoredObject<T>) => boolean, timeoutMs: number): Promise<number> {
    const arrived = new Promise<number>((resolve, reject) => {
      const waiter: Waiter<StoredObject<T>> = {
        test,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
    // Awaited later (after the write): an error elsewhere first must not also surface as an
    // unhandled rejection of this promise when stop() fails the waiters.
    arrived.catch(() => undefined);
    return arrived;
  }

  /** Like next, but already satisfied by the latest version. */
  async until(
    what: string,
    test: (obj: StoredObject<T>) => boolean,
    timeoutMs: number,
  ): Promise<StoredObject<T>> {
    if (this.latest === undefined || !test(this.latest)) await this.next(what, test, timeoutMs);
    if (this.latest === undefined) throw new Error(`${what}: no object`);
    return this.latest;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.close();
    await this.loop;
    this.failAll(new Error(`watch ${this.type.plural}/${this.objectName} stopped`));
  }

  // A method, not the field: the field stays narrowed to false across awaits in start's loop.
  private isStopped(): boolean {
    return this.stopped;
  }

  private async relist(): Promise<string> {
    const list = await this.client.list<T>(this.type, {
      namespace,
      fieldSelector: `metadata.name=${this.objectName}`,
    });
    const first = list.items[0];
    if (first !== undefined) this.observe(first, performance.now());
    return list.resourceVersion;
  }

  private async open(resourceVersion: string): Promise<WatchStream> {
    this.stream = await this.client.watch(this.type, {
      namespace,
      fieldSelector: `metadata.name=${this.objectName}`,
      resourceVersion,
      timeoutSeconds: 600,
    });
    if (this.stopped) this.stream.close(); // stop() came while it was opening
    return this.stream;
  }

  private observe(obj: StoredObject<T>, at: number): void {
    this.latest = obj;
    this.onEvent?.(obj);
    for (const waiter of this.waiters) {
      if (!waiter.test(obj)) continue;
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
      waiter.resolve(at);
    }
  }

  private failAll(error: Error): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters.clear();
  }
}

async function installHttpRouteCrd({ binDir, kubeconfigPath }: PrivateCluster): Promise<void> {
  const kubectl = join(binDir, "kubectl");
  const kubeconfig = `--kubeconfig=${kubeconfigPath}`;
  await run(kubectl, [kubeconfig, "apply", "--server-side", "-f", gatewayCrd]);
  await run(kubectl, [
    kubeconfig,
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/httproutes.gateway.networking.k8s.io",
  ]);
}

async function main(cluster: PrivateCluster): Promise<void> {
  const { client } = cluster;
  const loadAtStart = loadavg()[0] ?? 0;
  await installHttpRouteCrd(cluster);
  await client.apply(NamespaceType, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: namespace },
  });

  const hub = new HubTestServer();
  const hubUrl = await hub.start();
  hub.addDataset({
    repo: "acme/coder",
    files: { "config.json": '{"model_type":"llama"}' },
    branches: { v2: { "config.json": '{"model_type":"llama","v":2}' } },
  });
  const logger = createLogger({ level: "warn", destination: pino.destination({ dest: 2 }) });
  const manager = new Manager({ client, logger, namespaces: [namespace] });
  manager.add(modelDeploymentController({ huggingFaceEndpoint: hubUrl }));
  const stop = new AbortController();
  const done = manager.run(stop.signal);

  const deployment = new WatchedObject<ModelDeployment & KubeObject>(
    client,
    ModelDeploymentType,
    name,
  );
  const route = new WatchedObject<Route>(client, HTTPRouteType, name);
  const configMap = new WatchedObject<KubeObject & { data?: Record<string, string> }>(
    client,
    ConfigMapType,
    "baseline",
  );
  try {
    await Promise.all([deployment.start(), route.start(), configMap.start()]);
    const apply = (
      revision: Revision,
      strategy: NonNullable<ModelDeployment["spec"]["strategy"]>,
    ) =>
      client.apply(ModelDeploymentType, manifest(revision, strategy), {
        fieldManager: gitSyncFieldManager,
        force: true,
      });

    // Setup: main, then v2, both Immediate, so that main is warm. Not measured.
    await apply("main", { type: "Immediate" });
    const main = (
      await deployment.until(
        "revision main Healthy",
        (md) =>
          md.status?.phase === "Healthy" && md.status.observedGeneration === md.metadata.generation,
        setupTimeoutMs,
      )
    ).status?.stableRevision;
    if (main === undefined) throw new Error("revision main has no stable revision name");
    await apply("v2", { type: "Immediate" });
    const v2 = (
      await deployment.until(
        "revision v2 Healthy with main warm",
        (md) =>
          md.status?.stableRevision !== main && settled(md, md.status?.stableRevision ?? "", main),
        setupTimeoutMs,
      )
    ).status?.stableRevision;
    if (v2 === undefined) throw new Error("revision v2 has no stable revision name");
    const names: Record<Revision, string> = { main, v2 };

    // Any route version with the target between 0 and 100 % would mean a canary step ran.
    let target = "";
    let partial = 0;
    route.onEvent = (r) => {
      const weight = weights(r)[target];
      if (weight !== undefined && weight > 0 && weight < 100) partial++;
    };

    const flips: number[] = [];
    const revertRoundTrips: number[] = [];
    const baseline: number[] = [];
    const baselineRoundTrips: number[] = [];
    let current: Revision = "v2";
    for (let i = 0; i < reverts; i++) {
      // Baseline sample: one ConfigMap write, seen through its watch.
      const value = String(i);
      const seen = configMap.next(
        `ConfigMap baseline at ${value}`,
        (cm) => cm.data?.n === value,
        flipTimeoutMs,
      );
      const sent = performance.now();
      await client.apply(ConfigMapType, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "baseline", namespace },
        data: { n: value },
      });
      baselineRoundTrips.push(performance.now() - sent);
      baseline.push((await seen) - sent);

      // Revert sample: the spec back on the other (warm) revision, under the canary strategy.
      const to: Revision = current === "main" ? "v2" : "main";
      target = names[to];
      const expected = names[to];
      const flipped = route.next(
        `HTTPRoute 100% on ${expected} (revert ${String(i + 1)} to ${to}); not flipping at once means the revert went through the canary steps`,
        (r) => weights(r)[expected] === 100,
        flipTimeoutMs,
      );
      const applySent = performance.now();
      await apply(to, canary);
      const answered = performance.now();
      revertRoundTrips.push(answered - applySent);
      flips.push((await flipped) - answered);
      await deployment.until(
        `revert ${String(i + 1)} settled on ${expected} with ${names[current]} warm`,
        (md) => settled(md, expected, names[current]),
        flipTimeoutMs,
      );
      current = to;
      await sleep(quietMs);
    }

    const revertP50 = percentile(flips, 50);
    const baselineP50 = percentile(baseline, 50);
    const result = {
      reverts,
      strategy:
        "Canary: setWeight 10, pause 1h, setWeight 50 (a revert to a warm revision skips them)",
      detection: "watch on the HTTPRoute (and on the ConfigMap for the baseline), no polling",
      revertToFlipP50Ms: round(revertP50),
      revertToFlipP99Ms: round(percentile(flips, 99)),
      revertToFlipMinMs: round(Math.min(...flips)),
      revertApplyRoundTripP50Ms: round(percentile(revertRoundTrips, 50)),
      routeVersionsWithPartialWeight: partial,
      baselineWrites: baseline.length,
      baselineWriteToWatchP50Ms: round(baselineP50),
      baselineWriteToWatchP99Ms: round(percentile(baseline, 99)),
      baselineApplyRoundTripP50Ms: round(percentile(baselineRoundTrips, 50)),
      ratioP50: Number((revertP50 / baselineP50).toFixed(2)),
      goal: "revert → flip p50 < 1000 ms",
      machine: `${String(cpus().length)} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}; 1-min load ${loadAtStart.toFixed(2)} at start, ${(loadavg()[0] ?? 0).toFixed(2)} at end; apiserver, etcd, kwok, controller and bench share these cores; p99 of ${String(reverts)} samples is their maximum`,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await Promise.all([deployment.stop(), route.stop(), configMap.stop()]);
    stop.abort();
    await done;
    await hub.stop();
  }
}

await withPrivateCluster({ fieldManager: "llmops-controller" }, main);
