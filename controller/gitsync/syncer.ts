// The git sync loop: one loop per source, each sync a short story —
// suspended? stop → read credentials → fetch (forced refspec) → load the revision and validate it
// as a whole → apply it (new revision: dry run first) or, when it is invalid, keep re-applying the
// last good one → prune → write status and inventory (only when changed) → wait for the interval,
// a webhook trigger, or the retry backoff.
import { join } from "node:path";
import type { Logger } from "pino";
import type { CrdSet } from "../api/crds.js";
import { createObjectValidator, type ObjectValidator } from "../api/validation/object-validator.js";
import type { KubeClient } from "../kube/client.js";
import { TerminalError, errorMessage } from "../kube/errors.js";
import type { EventRecorder, EventSpec } from "../kube/events.js";
import type { StoredObject } from "../kube/resources.js";
import { exponentialDelay, jitter } from "../runtime/backoff.js";
import { type Clock, isAborted, systemClock } from "../runtime/clock.js";
import {
  conditionTime,
  removeCondition,
  setCondition,
  statusChanged,
  type Condition,
} from "../runtime/conditions.js";
import {
  ApplyFailedError,
  RevisionRejectedError,
  applyRevision,
  type ApplyOutcome,
  type ObjectRef,
} from "./apply-revision.js";
import { readGitCredentials, readWebhookSecret } from "./credentials.js";
import { GitCache, GitFetchError } from "./git-repository.js";
import type { GitSyncMetrics } from "./metrics.js";
import { loadRevision, objectId, type LoadedRevision } from "./revision.js";
import { redactUrl, type GitSourceConfig } from "./source-config.js";
import {
  readSyncState,
  writeSyncState,
  type InventoryEntry,
  type SourceSyncStatus,
  type SyncError,
} from "./sync-status.js";

export interface GitSyncerOptions {
  client: KubeClient;
  logger: Logger;
  events: EventRecorder;
  metrics: GitSyncMetrics;
  crds: CrdSet;
  /** Status ConfigMaps are written here; credential and webhook Secrets are read from here. */
  namespace: string;
  cacheDir: string;
  sources: readonly GitSourceConfig[];
  clock?: Clock;
  random?: () => number;
  /** First retry delay after a failure; doubles up to the source's interval. */
  retryBaseMs?: number;
  fetchTimeoutMs?: number;
}

/** What one sync did, for logs, tests and the `llmops sync` CLI. */
export type SyncResult =
  | { state: "suspended" }
  | { state: "applied"; revision: string; outcome: ApplyOutcome; newRevision: boolean }
  | {
      state: "refused";
      revision: string;
      reason: string;
      errors: SyncError[];
      /** The last good revision, re-applied for drift correction (if known). */
      live?: { revision: string; outcome: ApplyOutcome };
    }
  | { state: "failed"; reason: string; message: string };

interface SourceState {
  config: GitSourceConfig;
  cache: GitCache;
  loaded: boolean;
  status: SourceSyncStatus;
  inventory: InventoryEntry[];
  configMap: StoredObject | undefined;
  /** The last good revision, loaded: re-applied every interval while HEAD is refused. */
  live: LoadedRevision | undefined;
  failures: number;
  triggered: boolean;
  wake: (() => void) | undefined;
  /** Serializes syncs of one source (loop, webhook, tests). */
  running: Promise<unknown>;
}

const maxReportedErrors = 50;

export class GitSyncer {
  private readonly options: GitSyncerOptions;
  private readonly clock: Clock;
  private readonly validator: ObjectValidator;
  private readonly states = new Map<string, SourceState>();

  constructor(options: GitSyncerOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock();
    this.validator = createObjectValidator(options.crds);
    for (const config of options.sources) {
      this.states.set(config.name, {
        config,
        cache: new GitCache(join(options.cacheDir, config.name)),
        loaded: false,
        status: initialStatus(config),
        inventory: [],
        configMap: undefined,
        live: undefined,
        failures: 0,
        triggered: false,
        wake: undefined,
        running: Promise.resolve(),
      });
    }
  }

  sourceNames(): string[] {
    return [...this.states.keys()];
  }

  source(name: string): GitSourceConfig | undefined {
    return this.states.get(name)?.config;
  }

  /** The webhook secret of `name`, or undefined when its webhook is not enabled. */
  async webhookSecret(name: string): Promise<Buffer | undefined> {
    const ref = this.states.get(name)?.config.webhookSecretRef;
    if (ref === undefined) return undefined;
    return readWebhookSecret(this.options.client, this.options.namespace, ref);
  }

  /** Asks for a sync of `name` now (webhook). False for an unknown source. */
  trigger(name: string): boolean {
    const state = this.states.get(name);
    if (state === undefined) return false;
    state.triggered = true;
    state.wake?.();
    return true;
  }

  /** Runs one sync of `name` now (serialized with the loop's). */
  async syncNow(name: string, signal?: AbortSignal): Promise<SyncResult> {
    const state = this.states.get(name);
    if (state === undefined) throw new Error(`no git source named "${name}"`);
    const run = state.running.then(() => this.sync(state, signal));
    state.running = run.catch(() => undefined);
    return run;
  }

  /** Runs every source's loop until `stop` aborts; syncs only while `isLeader()`. */
  async run(stop: AbortSignal, options: { isLeader?: () => boolean } = {}): Promise<void> {
    const isLeader = options.isLeader ?? (() => true);
    await Promise.all([...this.states.values()].map((state) => this.loop(state, stop, isLeader)));
  }

  private async loop(
    state: SourceState,
    stop: AbortSignal,
    isLeader: () => boolean,
  ): Promise<void> {
    const random = this.options.random ?? Math.random;
    while (!stop.aborted) {
      let delay = Math.min(state.config.intervalMs, 2000);
      if (isLeader()) {
        state.triggered = false;
        try {
          const result = await this.syncNow(state.config.name, stop);
          delay =
            result.state === "failed"
              ? exponentialDelay({
                  baseMs: this.options.retryBaseMs ?? 1000,
                  maxMs: state.config.intervalMs,
                  failures: state.failures - 1,
                })
              : jitter(state.config.intervalMs, { factor: 0.1, random });
        } catch (err: unknown) {
          this.options.logger.error(
            { source: state.config.name, err: errorMessage(err) },
            "sync crashed",
          );
        }
      }
      // A webhook may have fired while the sync ran: go again at once.
      if (triggeredDuringSync(state) || isAborted(stop)) continue;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          timer.cancel();
          stop.removeEventListener("abort", done);
          state.wake = undefined;
          resolve();
        };
        const timer = this.clock.setTimer(done, delay);
        stop.addEventListener("abort", done, { once: true });
        state.wake = done;
      });
    }
  }

  private async sync(state: SourceState, signal?: AbortSignal): Promise<SyncResult> {
    const { metrics, logger } = this.options;
    const source = state.config.name;
    const log = logger.child({ source });
    const end = metrics.syncDuration.startTimer({ source });
    try {
      if (!state.loaded) await this.restore(state);
      const result = await this.syncSteps(state, log, signal);
      metrics.syncTotal.inc({
        source,
        result:
          result.state === "applied"
            ? result.newRevision
              ? "applied"
              : "unchanged"
            : result.state === "refused"
              ? "invalid"
              : result.state,
      });
      metrics.ready.set({ source }, ready(state.status) ? 1 : 0);
      metrics.managedObjects.set({ source }, state.inventory.length);
      return result;
    } finally {
      end();
    }
  }

  /** Picks up the inventory and status a previous run (or replica) wrote. */
  private async restore(state: SourceState): Promise<void> {
    const stored = await readSyncState(
      this.options.client,
      this.options.namespace,
      state.config.name,
    );
    if (stored !== undefined) {
      state.inventory = stored.inventory;
      state.configMap = stored.configMap;
      state.status = { ...stored.status, ...describeSource(state.config) };
    }
    state.loaded = true;
  }

  private async syncSteps(
    state: SourceState,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<SyncResult> {
    const { config } = state;
    const now = conditionTime(this.clock.now());

    if (config.suspend) {
      await this.commitStatus(state, { ...state.status, suspended: true }, state.inventory);
      log.debug("suspended");
      return { state: "suspended" };
    }

    // Fetch.
    let revision: string;
    try {
      const credentials =
        config.secretRef === undefined
          ? undefined
          : await readGitCredentials(this.options.client, this.options.namespace, config.secretRef);
      revision = await state.cache.fetch({
        url: config.url,
        branch: config.branch,
        ...(credentials !== undefined && { credentials }),
        ...(signal !== undefined && { signal }),
        ...(this.options.fetchTimeoutMs !== undefined && {
          timeoutMs: this.options.fetchTimeoutMs,
        }),
      });
    } catch (err: unknown) {
      const reason =
        err instanceof GitFetchError
          ? "FetchFailed"
          : err instanceof TerminalError
            ? err.reason
            : "FetchFailed";
      if (err instanceof GitFetchError)
        this.options.metrics.fetchFailures.inc({ source: config.name });
      return this.fail(state, log, reason, errorMessage(err), now);
    }

    // Load and validate the revision as a whole (cached while it stays the same).
    let loaded: LoadedRevision;
    if (state.live?.revision === revision) loaded = state.live;
    else {
      try {
        loaded = loadRevision(await state.cache.read(revision, config.paths), this.validator, {
          source: config.name,
          revision,
          defaultNamespace: config.targetNamespace,
        });
      } catch (err: unknown) {
        return this.fail(state, log, "ReadFailed", errorMessage(err), now);
      }
    }
    const isNew = state.status.lastAttemptedRevision !== revision;
    const errors: SyncError[] = loaded.errors.map((p) => ({
      file: p.file,
      line: p.line,
      col: p.col,
      path: p.path,
      message: p.message,
    }));
    if (errors.length > 0) {
      return this.refuse(state, log, {
        revision,
        reason: "ValidationFailed",
        errors,
        isNew,
        now,
        signal,
      });
    }

    // Apply.
    const newRevision = state.status.lastAppliedRevision !== revision || state.live === undefined;
    let outcome: ApplyOutcome;
    try {
      outcome = await applyRevision(this.options.client, {
        source: config.name,
        loaded,
        previous: state.inventory,
        crds: this.options.crds,
        prune: config.prune,
        dryRunFirst: newRevision,
        ...(signal !== undefined && { signal }),
      });
    } catch (err: unknown) {
      if (err instanceof RevisionRejectedError) {
        const rejected = err.problems.map((p) => ({
          file: p.file,
          line: p.line,
          col: 1,
          path: "",
          message: p.message,
        }));
        return this.refuse(state, log, {
          revision,
          reason: err.reason,
          errors: rejected,
          isNew,
          now,
          signal,
        });
      }
      if (err instanceof ApplyFailedError) state.inventory = err.inventory;
      return this.fail(state, log, "ApplyFailed", errorMessage(err), now);
    }
    state.live = loaded;
    state.failures = 0;
    const message = `Applied revision ${config.branch}@${revision}: ${describeOutcome(outcome)}`;
    let conditions = setCondition(
      state.status.conditions,
      {
        type: "Ready",
        status: "True",
        reason: "Succeeded",
        message: `Applied revision ${config.branch}@${revision}`,
      },
      now,
    );
    conditions = removeCondition(removeCondition(conditions, "Reconciling"), "Stalled");
    const next: SourceSyncStatus = {
      ...state.status,
      suspended: false,
      lastAppliedRevision: revision,
      lastAppliedTime: newRevision ? now : (state.status.lastAppliedTime ?? now),
      lastAttemptedRevision: revision,
      lastAttemptedTime: isNew ? now : (state.status.lastAttemptedTime ?? now),
      conditions,
      errors: [],
      objects: outcome.inventory.length,
    };
    await this.commitStatus(state, next, outcome.inventory);
    this.countOutcome(config.name, outcome);
    if (newRevision) {
      this.options.metrics.lastAppliedTimestamp.set(
        { source: config.name },
        this.clock.now() / 1000,
      );
      log.info({ revision, ...countsOf(outcome) }, "revision applied");
      this.event({ type: "Normal", reason: "Applied", action: "Sync", note: message }, state);
    }
    if (outcome.driftCorrected.length > 0) {
      const note = `${outcome.driftCorrected.map(objectId).join(", ")} changed in the cluster; restored from revision ${revision}`;
      log.info({ objects: outcome.driftCorrected.map(objectId) }, "drift corrected");
      this.event({ type: "Normal", reason: "DriftCorrected", action: "Sync", note }, state);
    }
    if (outcome.pruned.length > 0 && newRevision) {
      log.info({ objects: outcome.pruned.map(objectId) }, "pruned");
    }
    return { state: "applied", revision, outcome, newRevision };
  }

  /** The revision cannot be applied: report it, keep the last good one live (and drift-free). */
  private async refuse(
    state: SourceState,
    log: Logger,
    args: {
      revision: string;
      reason: string;
      errors: SyncError[];
      isNew: boolean;
      now: string;
      signal: AbortSignal | undefined;
    },
  ): Promise<SyncResult> {
    const { config } = state;
    const { revision, reason, errors, isNew, now } = args;
    const liveRevision = state.status.lastAppliedRevision;
    const keep =
      liveRevision === undefined
        ? "nothing was applied before"
        : `revision ${liveRevision} stays live`;
    const shown = errors.slice(0, 5).map(formatSyncError).join("; ");
    const message =
      `Revision ${config.branch}@${revision} not applied (${String(errors.length)} ` +
      `${errors.length === 1 ? "error" : "errors"}; ${keep}): ${shown}` +
      (errors.length > 5 ? `; and ${String(errors.length - 5)} more` : "");
    if (isNew) {
      this.options.metrics.invalidRevisions.inc({ source: config.name });
      this.options.metrics.validationErrors.inc({ source: config.name }, errors.length);
      log.warn(
        { revision, reason, errors: errors.slice(0, maxReportedErrors) },
        "revision refused",
      );
    }
    // Keep the last good state live: re-apply it, so drift is still corrected.
    let live: { revision: string; outcome: ApplyOutcome } | undefined;
    let inventory = state.inventory;
    if (state.live === undefined && liveRevision !== undefined) {
      try {
        state.live = loadRevision(
          await state.cache.read(liveRevision, config.paths),
          this.validator,
          {
            source: config.name,
            revision: liveRevision,
            defaultNamespace: config.targetNamespace,
          },
        );
      } catch (err: unknown) {
        log.debug({ err: errorMessage(err) }, "last applied revision is not in the cache");
      }
    }
    if (state.live !== undefined && state.live.errors.length === 0) {
      try {
        const outcome = await applyRevision(this.options.client, {
          source: config.name,
          loaded: state.live,
          previous: state.inventory,
          crds: this.options.crds,
          prune: config.prune,
          dryRunFirst: false,
          ...(args.signal !== undefined && { signal: args.signal }),
        });
        inventory = outcome.inventory;
        live = { revision: state.live.revision, outcome };
        this.countOutcome(config.name, outcome);
      } catch (err: unknown) {
        log.warn({ err: errorMessage(err) }, "re-applying the last good revision failed");
      }
    }
    state.failures = 0;
    let conditions = setCondition(
      state.status.conditions,
      { type: "Ready", status: "False", reason, message },
      now,
    );
    conditions = setCondition(
      conditions,
      { type: "Stalled", status: "True", reason, message },
      now,
    );
    conditions = removeCondition(conditions, "Reconciling");
    const next: SourceSyncStatus = {
      ...state.status,
      suspended: false,
      lastAttemptedRevision: revision,
      lastAttemptedTime: isNew ? now : (state.status.lastAttemptedTime ?? now),
      conditions,
      errors: errors.slice(0, maxReportedErrors),
      objects: inventory.length,
    };
    await this.commitStatus(state, next, inventory);
    if (isNew) this.event({ type: "Warning", reason, action: "Sync", note: message }, state);
    return { state: "refused", revision, reason, errors, ...(live !== undefined && { live }) };
  }

  /** A transient failure: Ready=False with the reason, retried with backoff, nothing touched. */
  private async fail(
    state: SourceState,
    log: Logger,
    reason: string,
    message: string,
    now: string,
  ): Promise<SyncResult> {
    state.failures++;
    log.warn({ reason, err: message, failures: state.failures }, "sync failed; retrying");
    let conditions = setCondition(
      state.status.conditions,
      { type: "Ready", status: "False", reason, message },
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: "Reconciling",
        status: "True",
        reason: "ProgressingWithRetry",
        message: `${message}; retrying`,
      },
      now,
    );
    conditions = removeCondition(conditions, "Stalled");
    try {
      await this.commitStatus(
        state,
        { ...state.status, suspended: false, conditions },
        state.inventory,
      );
    } catch (err: unknown) {
      log.warn({ err: errorMessage(err) }, "could not write sync status");
    }
    if (state.failures === 1)
      this.event({ type: "Warning", reason, action: "Sync", note: message }, state);
    return { state: "failed", reason, message };
  }

  private async commitStatus(
    state: SourceState,
    next: SourceSyncStatus,
    inventory: InventoryEntry[],
  ): Promise<void> {
    const changed =
      state.configMap === undefined ||
      statusChanged(state.status, next) ||
      JSON.stringify(state.inventory) !== JSON.stringify(inventory);
    state.status = next;
    state.inventory = inventory;
    if (!changed) return;
    state.configMap = await writeSyncState(
      this.options.client,
      this.options.namespace,
      next,
      inventory,
    );
  }

  private countOutcome(source: string, outcome: ApplyOutcome): void {
    const { metrics } = this.options;
    const count = (counter: typeof metrics.applied, refs: ObjectRef[]): void => {
      for (const ref of refs) counter.inc({ source, kind: ref.kind });
    };
    count(metrics.driftCorrections, outcome.driftCorrected);
    count(metrics.pruned, outcome.pruned);
    count(metrics.applied, [...outcome.created, ...outcome.updated]);
  }

  private event(spec: EventSpec, state: SourceState): void {
    if (state.configMap === undefined) return;
    void this.options.events.record(state.configMap, spec);
  }
}

/** Read through a call: the flag changes while the loop awaits, which narrowing cannot see. */
function triggeredDuringSync(state: SourceState): boolean {
  return state.triggered;
}

function describeSource(
  config: GitSourceConfig,
): Pick<SourceSyncStatus, "source" | "url" | "branch" | "paths"> {
  return {
    source: config.name,
    url: redactUrl(config.url),
    branch: config.branch,
    paths: config.paths,
  };
}

function initialStatus(config: GitSourceConfig): SourceSyncStatus {
  return {
    ...describeSource(config),
    suspended: config.suspend,
    conditions: [],
    errors: [],
    objects: 0,
  };
}

function ready(status: SourceSyncStatus): boolean {
  return status.conditions.some((c: Condition) => c.type === "Ready" && c.status === "True");
}

export function formatSyncError(e: SyncError): string {
  return `${e.file}:${String(e.line)}:${String(e.col)}: ${e.path === "" ? "" : `${e.path}: `}${e.message}`;
}

function countsOf(outcome: ApplyOutcome): Record<string, number> {
  return {
    created: outcome.created.length,
    updated: outcome.updated.length,
    driftCorrected: outcome.driftCorrected.length,
    unchanged: outcome.unchanged.length,
    pruned: outcome.pruned.length,
  };
}

export function describeOutcome(outcome: ApplyOutcome): string {
  const parts = Object.entries(countsOf(outcome))
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${String(n)}`);
  if (outcome.keptByAnnotation.length > 0) {
    parts.push(`kept (llmops.dev/prune: disabled) ${String(outcome.keptByAnnotation.length)}`);
  }
  return parts.length === 0 ? "no objects" : parts.join(", ");
}
