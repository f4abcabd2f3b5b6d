// Prometheus metrics of the runtime, on a registry owned by the manager (never prom-client's
// global one, so two managers in one process — tests, benchmarks — do not collide).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type ReconcileResultLabel = "success" | "requeue" | "error" | "terminal";

export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<"kind" | "result">;
  readonly reconcileDuration: Histogram<"kind">;
  readonly workqueueRetries: Counter<"kind">;
  readonly workqueueWait: Histogram<"kind">;
  readonly leader: Gauge;
  private readonly depthProviders = new Map<string, () => number>();

  constructor(options: { registry?: Registry; processMetrics?: boolean } = {}) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.reconcileTotal = new Counter({
      name: "llmops_reconcile_total",
      help: "Reconciles by kind and result (success, requeue, error, terminal).",
      labelNames: ["kind", "result"],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: "llmops_reconcile_duration_seconds",
      help: "Time one reconcile took, by kind.",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const depthProviders = this.depthProviders;
    new Gauge({
      name: "llmops_workqueue_depth",
      help: "Keys waiting to be reconciled, by kind.",
      labelNames: ["kind"],
      registers,
      collect() {
        // Read at scrape time: no bookkeeping on the hot path.
        for (const [kind, depth] of depthProviders) this.set({ kind }, depth());
      },
    });
    this.workqueueRetries = new Counter({
      name: "llmops_workqueue_retries_total",
      help: "Keys re-queued with backoff after a failed reconcile, by kind.",
      labelNames: ["kind"],
      registers,
    });
    this.workqueueWait = new Histogram({
      name: "llmops_workqueue_queue_duration_seconds",
      help: "How long a key waited in the queue, ready, before a worker took it, by kind.",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.leader = new Gauge({
      name: "llmops_leader",
      help: "1 while this replica holds the leader lease (or runs without leader election).",
      registers,
    });
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
    }
  }

  /** Reports the depth of `kind`'s queue at every scrape. */
  trackQueueDepth(kind: string, depth: () => number): void {
    this.depthProviders.set(kind, depth);
  }
}
