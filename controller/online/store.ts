// Where an online experiment's exposures and outcomes go: aggregated into the run's head
// ConfigMap (state.ts) with group commit. Every replica of the controller may write:
//
// - exposures (a unit's first assignment) are counted once per unit and flushed in the background:
//   an assignment answers at once and never waits for a write;
// - outcomes are counted once per id: a report waits until its batch is in the head ConfigMap
//   (durable when the answer comes), so a retry after a failure or a timeout is safe;
// - one flush at a time per run takes everything pending, reads the head, merges (a unit or id the
//   head already knows is not counted again), and writes it back with its resourceVersion: a
//   concurrent writer's flush makes the apiserver answer 409, and the merge is redone on a fresh
//   read. Reports that arrive during a flush wait for the next one, so the write rate stays at one
//   per flush however many requests come in.
//
// The fingerprints of every unit and id seen in the run stay in memory (FingerprintSet) and in the
// head's tails, sealed into immutable segment ConfigMaps as the tails fill up.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Experiment } from "../api/generated/index.js";
import { onlineExperimentLabel, runIdAnnotation } from "../api/well-known.js";
import { addValue } from "../analysis/moments.js";
import type { KubeClient } from "../kube/client.js";
import { ConflictError, TransientError, errorMessage } from "../kube/errors.js";
import { ConfigMapType, type ConfigMap, type StoredObject } from "../kube/resources.js";
import { sleep, type Clock } from "../runtime/clock.js";
import { ownedChild } from "../runtime/owned-children.js";
import {
  FingerprintSet,
  decodeFingerprints,
  encodeFingerprints,
  type Fingerprint,
} from "./fingerprints.js";
import {
  decodeRunHead,
  decodeRunState,
  defaultSealAt,
  emptyRunState,
  encodeRunHead,
  headName,
  newerRun,
  segmentName,
  unitsKey,
  outcomesKey,
  variantStats,
  type RunHead,
  type RunState,
  type SegmentRef,
} from "./state.js";

/** The run events belong to, as the Experiment's status.online names it. */
export interface OnlineRun {
  /** The Experiment (as read from the API or a cache): it owns the ConfigMaps. */
  experiment: StoredObject<Experiment>;
  runId: string;
  startedAt: string;
}

/** One outcome, resolved to its variant. */
export interface OutcomeEvent {
  id: Fingerprint;
  unit: Fingerprint;
  variant: string;
  metric: string;
  value: number;
}

export interface ReportResult {
  accepted: number;
  duplicates: number;
}

/** The run's head names a newer run: the caller's view of the Experiment is out of date. */
export class OutdatedRunError extends Error {
  override name = "OutdatedRunError";
}

/** Too many outcomes are waiting for a write: the caller should slow down and retry. */
export class StoreBusyError extends Error {
  override name = "StoreBusyError";
}

export interface OnlineStoreOptions {
  client: KubeClient;
  logger: Logger;
  clock: Clock;
  /** Fingerprints per tail before it is sealed; default 4,096. */
  sealAt?: number;
  /** Outcomes waiting for a write at most, over all runs; default 200,000. */
  maxPendingOutcomes?: number;
  /** New units waiting for a write at most, per run; default 1,000,000 (then they are dropped). */
  maxPendingExposures?: number;
  /**
   * How long new exposures wait to be written with others when no outcome is waiting; default
   * 200 ms. Outcomes never wait for it: a report starts a flush at once.
   */
  exposureLingerMs?: number;
}

interface PendingReport {
  events: readonly OutcomeEvent[];
  langfuseCursor?: string;
  resolve: (result: ReportResult) => void;
  reject: (error: unknown) => void;
}

interface PendingExposure {
  variant: string;
  unit: Fingerprint;
}

const maxConflictRetries = 20;

export class OnlineStore {
  readonly #options: OnlineStoreOptions;
  readonly #logs = new Map<string, RunLog>();
  #pendingOutcomes = 0;

  constructor(options: OnlineStoreOptions) {
    this.#options = options;
  }

  /** Counts `unit` as exposed to `variant` (once per run); written in the background. */
  expose(run: OnlineRun, variant: string, unit: Fingerprint): void {
    this.#logFor(run).expose({ variant, unit });
  }

  /**
   * Counts `events` (each id once per run) and resolves when they are written. Rejects with
   * StoreBusyError when too many are waiting, OutdatedRunError when the run was replaced, and a
   * TransientError when the apiserver could not be written: nothing of the batch was counted then.
   */
  report(
    run: OnlineRun,
    events: readonly OutcomeEvent[],
    options: { langfuseCursor?: string } = {},
  ): Promise<ReportResult> {
    const max = this.#options.maxPendingOutcomes ?? 200_000;
    if (this.#pendingOutcomes + events.length > max) {
      return Promise.reject(
        new StoreBusyError(
          `${String(this.#pendingOutcomes)} outcomes are waiting to be written; retry shortly`,
        ),
      );
    }
    this.#pendingOutcomes += events.length;
    return new Promise<ReportResult>((resolve, reject) => {
      const done = (): void => {
        this.#pendingOutcomes -= events.length;
      };
      this.#logFor(run).report({
        events,
        ...(options.langfuseCursor !== undefined ? { langfuseCursor: options.langfuseCursor } : {}),
        resolve: (r) => {
          done();
          resolve(r);
        },
        reject: (e) => {
          done();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      });
    });
  }

  /** Waits until everything pending has been written (or failed once). */
  async flush(): Promise<void> {
    await Promise.all([...this.#logs.values()].map((log) => log.idle()));
  }

  /** Writes what is pending and stops the background flushes. */
  async close(): Promise<void> {
    await this.flush();
    for (const log of this.#logs.values()) log.stop();
    this.#logs.clear();
  }

  #logFor(run: OnlineRun): RunLog {
    const meta = run.experiment.metadata;
    const key = `${meta.namespace ?? ""}/${meta.name}/${run.runId}`;
    let log = this.#logs.get(key);
    if (log === undefined) {
      // A run that replaced another: the old one's log goes once it is idle.
      for (const [other, old] of this.#logs) {
        if (other.startsWith(`${meta.namespace ?? ""}/${meta.name}/`)) {
          this.#logs.delete(other);
          void old.idle().then(() => {
            old.stop();
          });
        }
      }
      log = new RunLog(this.#options, run);
      this.#logs.set(key, log);
    }
    log.run = run;
    return log;
  }
}

/** The head state of `experiment`'s current run as stored, or undefined. */
export async function readRunState(
  client: KubeClient,
  namespace: string,
  experiment: string,
  options: { signal?: AbortSignal } = {},
): Promise<RunState | undefined> {
  const cm = await client.getConfigMap({ namespace, name: headName(experiment) }, options);
  return decodeRunState(cm);
}

/**
 * Deletes what `experiment` keeps of runs other than `runId`, and segments of this run that its
 * head does not list and that are older than `orphanAgeMs` (a flush that crashed between writing
 * the segment and the head). Returns the names deleted.
 */
export async function pruneRuns(options: {
  client: KubeClient;
  experiment: StoredObject<Experiment>;
  runId: string;
  now: number;
  orphanAgeMs?: number;
}): Promise<string[]> {
  const { client, experiment } = options;
  const namespace = experiment.metadata.namespace ?? "";
  const list = await client.list<ConfigMap>(ConfigMapType, {
    namespace,
    labelSelector: `${onlineExperimentLabel}=${experiment.metadata.name}`,
  });
  const head = list.items.find((cm) => cm.metadata.name === headName(experiment.metadata.name));
  const state = decodeRunState(head);
  const listed = new Set(state?.runId === options.runId ? state.segments.map((s) => s.name) : []);
  const orphanAge = options.orphanAgeMs ?? 10 * 60_000;
  const doomed = list.items
    .filter((cm) => cm.metadata.name !== head?.metadata.name)
    .filter((cm) => {
      if (cm.metadata.annotations?.[runIdAnnotation] !== options.runId) return true;
      if (listed.has(cm.metadata.name)) return false;
      const created = Date.parse(cm.metadata.creationTimestamp ?? "");
      return Number.isFinite(created) && options.now - created > orphanAge;
    })
    .map((cm) => cm.metadata.name);
  for (const name of doomed) await client.delete(ConfigMapType, { namespace, name });
  return doomed;
}

/** The pending work and the committed memory of one run, in this process. */
class RunLog {
  run: OnlineRun;
  readonly #options: OnlineStoreOptions;
  readonly #committedUnits = new FingerprintSet();
  readonly #committedIds = new FingerprintSet();
  readonly #loadedSegments = new Set<string>();
  /** The head as this process last wrote it, while no write of another may have followed. */
  #lastWritten: { head: RunHead; version: string } | undefined;
  #exposures: PendingExposure[] = [];
  #pendingUnits = new FingerprintSet();
  #reports: PendingReport[] = [];
  #flushing: Promise<void> | undefined;
  #stopped = false;
  #dropped = 0;
  /** Ends the wait of exposures for company (an outcome is waiting, or the store closes). */
  #wake: (() => void) | undefined;

  constructor(options: OnlineStoreOptions, run: OnlineRun) {
    this.#options = options;
    this.run = run;
  }

  expose(exposure: PendingExposure): void {
    if (this.#committedUnits.has(exposure.unit) || this.#pendingUnits.has(exposure.unit)) return;
    if (this.#exposures.length >= (this.#options.maxPendingExposures ?? 1_000_000)) {
      this.#dropped += 1;
      if (this.#dropped === 1 || this.#dropped % 10_000 === 0) {
        this.#options.logger.warn(
          { experiment: this.run.experiment.metadata.name, dropped: this.#dropped },
          "exposures are not being written fast enough; new units are not counted",
        );
      }
      return;
    }
    this.#pendingUnits.add(exposure.unit);
    this.#exposures.push(exposure);
    this.#schedule();
  }

  report(report: PendingReport): void {
    if (this.#stopped) {
      report.reject(new TransientError("the online store is shutting down; retry"));
      return;
    }
    this.#reports.push(report);
    this.#wake?.();
    this.#schedule();
  }

  /** Resolves when no flush is running or due (one that ends can schedule the next). */
  async idle(): Promise<void> {
    while (this.#flushing !== undefined) {
      this.#wake?.();
      await this.#flushing;
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  #schedule(): void {
    if (this.#flushing !== undefined) return;
    this.#flushing = this.#loop().finally(() => {
      this.#flushing = undefined;
      // Work that arrived after the loop's last look.
      if (!this.#stopped && (this.#reports.length > 0 || this.#exposures.length > 0)) {
        this.#schedule();
      }
    });
  }

  async #loop(): Promise<void> {
    let failures = 0;
    // Units alone can wait a little: one write then counts many of them.
    if (this.#reports.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = this.#options.clock.setTimer(() => {
          this.#wake = undefined;
          resolve();
        }, this.#options.exposureLingerMs ?? 200);
        this.#wake = () => {
          timer.cancel();
          this.#wake = undefined;
          resolve();
        };
      });
    }
    while (this.#reports.length > 0 || this.#exposures.length > 0) {
      // One flush takes at most a tail's worth of new fingerprints of each kind, so a segment it
      // seals always fits in one ConfigMap.
      const limit = this.#options.sealAt ?? defaultSealAt;
      let taken = 0;
      let count = 0;
      while (
        taken < this.#reports.length &&
        (count === 0 || count + (this.#reports[taken]?.events.length ?? 0) <= limit)
      ) {
        count += this.#reports[taken]?.events.length ?? 0;
        taken += 1;
      }
      const reports = this.#reports.slice(0, taken);
      this.#reports = this.#reports.slice(taken);
      const exposures = this.#exposures.slice(0, limit);
      this.#exposures = this.#exposures.slice(limit);
      try {
        const results = await this.#flushOnce(exposures, reports);
        this.#pendingUnits = new FingerprintSet();
        // Units that came in during the flush stay pending.
        for (const e of this.#exposures) this.#pendingUnits.add(e.unit);
        reports.forEach((r, i) => {
          r.resolve(results[i] ?? { accepted: 0, duplicates: 0 });
        });
        failures = 0;
      } catch (error) {
        for (const r of reports) r.reject(error);
        if (error instanceof OutdatedRunError || this.#stopped) {
          this.#exposures = [];
          this.#pendingUnits = new FingerprintSet();
          return;
        }
        // Exposures are kept and tried again; outcome callers retry by themselves.
        this.#exposures = [...exposures, ...this.#exposures];
        failures += 1;
        this.#options.logger.warn(
          { experiment: this.run.experiment.metadata.name, err: errorMessage(error), failures },
          "online experiment counts could not be written; retrying",
        );
        await sleep(this.#options.clock, Math.min(30_000, 250 * 2 ** Math.min(failures, 7)));
        if (this.#reports.length === 0 && failures > 10) return; // exposures wait for new work
      }
    }
  }

  /** One read-merge-write of the head (retried on conflicts). Per-report results, in order. */
  async #flushOnce(
    exposures: readonly PendingExposure[],
    reports: readonly PendingReport[],
  ): Promise<ReportResult[]> {
    const { client } = this.#options;
    const run = this.run;
    const namespace = run.experiment.metadata.namespace ?? "";
    const name = run.experiment.metadata.name;
    for (let attempt = 1; attempt <= maxConflictRetries; attempt++) {
      // What this process wrote last is the head unless someone else wrote since: write on it
      // with its resourceVersion, and read only after a conflict says otherwise.
      let head: RunHead | undefined;
      let version: string | undefined;
      const known = this.#lastWritten;
      if (known !== undefined) {
        head = known.head;
        version = known.version;
      } else {
        const cm = await client.getConfigMap({ namespace, name: headName(name) });
        head = decodeRunHead(cm);
        version = cm?.metadata.resourceVersion;
        if (head !== undefined && head.state.runId !== run.runId) {
          if (newerRun(head.state, run)) {
            throw new OutdatedRunError(
              `Experiment ${namespace}/${name} started a newer run (${head.state.runId}); read it again`,
            );
          }
          head = undefined; // an older run's counts: this run starts afresh in the same object
        }
        if (head !== undefined) await this.#absorb(namespace, head);
      }
      const merged = this.#merge(head, exposures, reports);
      const sealed = this.#seal(merged.head, name);
      for (const segment of sealed) {
        await client.create(ConfigMapType, this.#child(segment.name, segment.body, true));
      }
      const body = this.#child(headName(name), encodeRunHead(merged.head), false);
      try {
        const written =
          version === undefined
            ? await client.create(ConfigMapType, body)
            : await client.update(ConfigMapType, {
                ...body,
                metadata: { ...body.metadata, resourceVersion: version },
              });
        for (const f of merged.newUnits) this.#committedUnits.add(f);
        for (const f of merged.newIds) this.#committedIds.add(f);
        for (const segment of sealed) this.#loadedSegments.add(segment.name);
        this.#lastWritten = { head: merged.head, version: written.metadata.resourceVersion };
        return merged.results;
      } catch (error) {
        // Any failure may mean the head is not what we last wrote: read it before the next try.
        this.#lastWritten = undefined;
        if (!(error instanceof ConflictError)) throw error;
        // Someone else wrote the head (or created it first): merge again on a fresh read.
      }
    }
    throw new TransientError(
      `the head ConfigMap of Experiment ${namespace}/${name} kept changing under ${String(maxConflictRetries)} writes; retry`,
    );
  }

  /** Adds what the stored head and its segments know to this process's memory. */
  async #absorb(namespace: string, head: RunHead): Promise<void> {
    for (const f of head.units) this.#committedUnits.add(f);
    for (const f of head.outcomeIds) this.#committedIds.add(f);
    for (const segment of head.state.segments) {
      if (this.#loadedSegments.has(segment.name)) continue;
      const cm = await this.#options.client.getConfigMap({ namespace, name: segment.name });
      const key = segment.kind === "units" ? unitsKey : outcomesKey;
      const target = segment.kind === "units" ? this.#committedUnits : this.#committedIds;
      if (cm === undefined) {
        this.#options.logger.warn(
          { segment: segment.name },
          "a fingerprint segment of an online experiment is missing; its units or ids may be counted again",
        );
      } else {
        for (const f of decodeFingerprints(cm.binaryData?.[key])) target.add(f);
      }
      this.#loadedSegments.add(segment.name);
    }
  }

  #merge(
    stored: RunHead | undefined,
    exposures: readonly PendingExposure[],
    reports: readonly PendingReport[],
  ): { head: RunHead; newUnits: Fingerprint[]; newIds: Fingerprint[]; results: ReportResult[] } {
    const run = this.run;
    const state: RunState = stored
      ? (JSON.parse(JSON.stringify(stored.state)) as RunState)
      : emptyRunState(run.runId, run.startedAt);
    const units = [...(stored?.units ?? [])];
    const outcomeIds = [...(stored?.outcomeIds ?? [])];
    const seenUnits = new FingerprintSet();
    const seenIds = new FingerprintSet();
    const newUnits: Fingerprint[] = [];
    const newIds: Fingerprint[] = [];
    const exposeUnit = (variant: string, unit: Fingerprint): void => {
      if (this.#committedUnits.has(unit) || !seenUnits.add(unit)) return;
      variantStats(state, variant).exposures += 1;
      units.push(unit);
      newUnits.push(unit);
    };
    for (const e of exposures) exposeUnit(e.variant, e.unit);
    const results = reports.map((report) => {
      let accepted = 0;
      let duplicates = 0;
      for (const event of report.events) {
        if (this.#committedIds.has(event.id) || !seenIds.add(event.id)) {
          duplicates += 1;
          continue;
        }
        accepted += 1;
        outcomeIds.push(event.id);
        newIds.push(event.id);
        const stats = variantStats(state, event.variant);
        stats.metrics[event.metric] = addValue(
          stats.metrics[event.metric] ?? { n: 0, mean: 0, m2: 0 },
          event.value,
        );
        state.outcomes += 1;
        exposeUnit(event.variant, event.unit);
      }
      if (report.langfuseCursor !== undefined) {
        if (state.langfuseCursor === undefined || report.langfuseCursor > state.langfuseCursor) {
          state.langfuseCursor = report.langfuseCursor;
        }
      }
      return { accepted, duplicates };
    });
    return { head: { state, units, outcomeIds }, newUnits, newIds, results };
  }

  /** Moves full tails into new segments (mutates `head`); the segments to create. */
  #seal(
    head: RunHead,
    experiment: string,
  ): { name: string; body: Pick<ConfigMap, "binaryData"> }[] {
    const sealAt = this.#options.sealAt ?? defaultSealAt;
    const out: { name: string; body: Pick<ConfigMap, "binaryData"> }[] = [];
    const sealTail = (kind: SegmentRef["kind"], tail: Fingerprint[]): Fingerprint[] => {
      let rest = tail;
      while (rest.length >= sealAt) {
        const chunk = rest.slice(0, sealAt);
        rest = rest.slice(sealAt);
        const name = segmentName(experiment, kind, randomBytes(5).toString("hex"));
        const key = kind === "units" ? unitsKey : outcomesKey;
        out.push({ name, body: { binaryData: { [key]: encodeFingerprints(chunk) } } });
        head.state.segments.push({ name, kind, count: chunk.length });
      }
      return rest;
    };
    head.units = sealTail("units", head.units);
    head.outcomeIds = sealTail("outcomes", head.outcomeIds);
    return out;
  }

  #child(
    name: string,
    body: Pick<ConfigMap, "data" | "binaryData">,
    immutable: boolean,
  ): ConfigMap {
    const experiment = this.run.experiment;
    return ownedChild(
      { owner: experiment, labels: { [onlineExperimentLabel]: experiment.metadata.name } },
      ConfigMapType,
      {
        metadata: { name, annotations: { [runIdAnnotation]: this.run.runId } },
        ...body,
        ...(immutable ? { immutable: true } : {}),
      },
    );
  }
}
