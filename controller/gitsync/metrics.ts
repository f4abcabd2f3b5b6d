// Prometheus metrics of git sync, on the runtime's registry (RuntimeMetrics.registry).
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export type SyncResultLabel = "applied" | "unchanged" | "invalid" | "failed" | "suspended";

export class GitSyncMetrics {
  readonly syncTotal: Counter<"source" | "result">;
  readonly syncDuration: Histogram<"source">;
  readonly invalidRevisions: Counter<"source">;
  readonly validationErrors: Counter<"source">;
  readonly fetchFailures: Counter<"source">;
  readonly driftCorrections: Counter<"source" | "kind">;
  readonly applied: Counter<"source" | "kind">;
  readonly pruned: Counter<"source" | "kind">;
  readonly ready: Gauge<"source">;
  readonly managedObjects: Gauge<"source">;
  readonly lastAppliedTimestamp: Gauge<"source">;
  readonly webhookRequests: Counter<"source" | "result">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.syncTotal = new Counter({
      name: "llmops_gitsync_sync_total",
      help: "Sync attempts by source and result (applied, unchanged, invalid, failed, suspended).",
      labelNames: ["source", "result"],
      registers,
    });
    this.syncDuration = new Histogram({
      name: "llmops_gitsync_sync_duration_seconds",
      help: "Time one sync took (fetch, validate, apply, prune), by source.",
      labelNames: ["source"],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.invalidRevisions = new Counter({
      name: "llmops_gitsync_invalid_revisions_total",
      help: "Revisions refused because a manifest is invalid (nothing from them was applied).",
      labelNames: ["source"],
      registers,
    });
    this.validationErrors = new Counter({
      name: "llmops_gitsync_validation_errors_total",
      help: "Validation errors found in refused revisions, by source.",
      labelNames: ["source"],
      registers,
    });
    this.fetchFailures = new Counter({
      name: "llmops_gitsync_fetch_failures_total",
      help: "Failed fetches from the remote (unreachable, authentication, missing branch).",
      labelNames: ["source"],
      registers,
    });
    this.driftCorrections = new Counter({
      name: "llmops_gitsync_drift_corrections_total",
      help: "Objects changed in the cluster (kubectl edit) and put back to what git says.",
      labelNames: ["source", "kind"],
      registers,
    });
    this.applied = new Counter({
      name: "llmops_gitsync_objects_applied_total",
      help: "Objects created or changed by git sync, by source and kind.",
      labelNames: ["source", "kind"],
      registers,
    });
    this.pruned = new Counter({
      name: "llmops_gitsync_objects_pruned_total",
      help: "Objects deleted because they left git, by source and kind.",
      labelNames: ["source", "kind"],
      registers,
    });
    this.ready = new Gauge({
      name: "llmops_gitsync_ready",
      help: "1 when the source's last sync succeeded with its latest revision, else 0.",
      labelNames: ["source"],
      registers,
    });
    this.managedObjects = new Gauge({
      name: "llmops_gitsync_managed_objects",
      help: "Objects in the source's inventory.",
      labelNames: ["source"],
      registers,
    });
    this.lastAppliedTimestamp = new Gauge({
      name: "llmops_gitsync_last_applied_timestamp_seconds",
      help: "When the source's last good revision was applied (Unix seconds).",
      labelNames: ["source"],
      registers,
    });
    this.webhookRequests = new Counter({
      name: "llmops_gitsync_webhook_requests_total",
      help: "Webhook requests by source and result (accepted, ignored, unauthorized, too_large, bad_request, not_found).",
      labelNames: ["source", "result"],
      registers,
    });
  }
}
