// The call journal: write-ahead claims that make model calls at-most-once across crashes.
//
// Before a call is sent, its key is written to the journal; results that come back ride along with
// later journal writes until the batch's results are saved to the results chunks. After a crash
// (SIGKILL, OOM, node loss) the next controller reads the journal: a claimed key with a result is
// done, a claimed key without one was in flight and is recorded as interrupted — never sent again,
// because the endpoint may already have answered (and billed) it. A graceful shutdown finishes
// what is in flight instead, so it interrupts nothing.
//
// Claims are made one unit ahead (runner.ts): while a worker's call is in flight, the worker claims
// its next unit, so the write is off the call's path. A claim is therefore not proof that the call
// was sent, only that it may have been: a worker that stops before sending a claimed unit releases
// it (the next write no longer carries it), and only a kill between a claim and its send leaves one
// behind, recorded as interrupted like a call in flight. So after a kill at most 2 × concurrency
// calls are interrupted, of which at most `concurrency` were sent; none is ever sent twice.
//
// Writes are coalesced: claims that arrive while a write is in progress go out together in the
// next one, so the journal costs about one small write per round of concurrent calls, not per call.
// Each write holds the claims open at that moment and only the results that came back since the
// previous write, stored as a key of its own in one of a few ConfigMaps per batch
// (`<experiment>-journal-<batch>-<n>`, see ResultsStore.writeJournal): the cost of a write does not
// grow with the batch (rewriting one object that accumulates results made every write, and so
// every call, slower as the batch went on). Once the batch's results are in the chunks, its
// journal objects are deleted.
import { systemClock, type Clock, type Timer } from "../../runtime/clock.js";
import type { ResultRecord } from "./results.js";

/** What the journal objects of an Experiment hold, together. */
export interface JournalState {
  /** Keys whose calls may have been sent and have no saved result yet. */
  claims: string[];
  /** Results not yet in the results chunks. */
  records: ResultRecord[];
}

/** One journal write: the claims open now, and the results that came back since the last write. */
export interface JournalWrite {
  runId: string;
  /** Identifies the CallJournal (one per batch) that wrote it. */
  batch: string;
  /** Increases with every write of one batch. */
  seq: number;
  claims: string[];
  records: ResultRecord[];
}

export const journalDataKey = "journal.json";

/** Name of one journal object. */
export function journalObjectName(
  experiment: string,
  write: Pick<JournalWrite, "batch" | "seq">,
): string {
  return `${experiment}-journal-${write.batch}-${String(write.seq)}`;
}

/** Reads a journal object's text; undefined when it is unreadable or from another run. */
export function decodeJournalWrite(
  text: string | undefined,
  runId: string,
): JournalWrite | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<JournalWrite>;
    if (parsed.runId !== runId || typeof parsed.batch !== "string") return undefined;
    if (typeof parsed.seq !== "number") return undefined;
    return {
      runId,
      batch: parsed.batch,
      seq: parsed.seq,
      claims: Array.isArray(parsed.claims)
        ? parsed.claims.filter((k): k is string => typeof k === "string")
        : [],
      records: Array.isArray(parsed.records) ? parsed.records : [],
    };
  } catch {
    return undefined;
  }
}

/**
 * The journal as a whole: every result any write carried, and the claims of each batch's latest
 * write (claims that were settled are gone from later writes).
 */
export function mergeJournal(writes: readonly JournalWrite[]): JournalState {
  const latest = new Map<string, JournalWrite>();
  const records: ResultRecord[] = [];
  for (const write of writes) {
    records.push(...write.records);
    const seen = latest.get(write.batch);
    if (seen === undefined || write.seq > seen.seq) latest.set(write.batch, write);
  }
  const claims = new Set<string>();
  for (const write of latest.values()) for (const key of write.claims) claims.add(key);
  return { claims: [...claims], records };
}

/**
 * What a journal left behind means: its results, plus an interrupted record for every claim that
 * has no result anywhere (`done` holds the keys already saved in the results chunks).
 */
export function recoverJournal(
  journal: JournalState,
  done: ReadonlySet<string>,
  parseKey: (key: string) => { variant: string; item: string; repetition: number } | undefined,
): ResultRecord[] {
  const recovered = new Map<string, ResultRecord>();
  for (const record of journal.records) {
    if (!done.has(record.key)) recovered.set(record.key, record);
  }
  for (const key of journal.claims) {
    if (done.has(key) || recovered.has(key)) continue;
    const parts = parseKey(key);
    if (parts === undefined) continue;
    recovered.set(key, {
      key,
      ...parts,
      latencyMs: null,
      costUSD: null,
      calls: 1,
      error:
        "interrupted: the controller stopped while this call was in flight or about to be sent; not sent again, so it is never paid for twice",
      interrupted: true,
      scores: {},
    });
  }
  return [...recovered.values()];
}

/** Coalescing writer of one batch's journal. */
export class CallJournal {
  private readonly claims = new Set<string>();
  /**
   * Results not yet in a write that was stored, in the order they came back: each goes out with
   * every write until one of those is stored (with one write at a time: the results since the
   * previous write).
   */
  private readonly unconfirmed = new Set<ResultRecord>();
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private readonly maxWrites: number;
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private dirty = false;
  private seq = 0;
  private readonly minInterval: number;
  private readonly clock: Clock;
  private lastStart = Number.NEGATIVE_INFINITY;
  private paced: Timer | undefined;

  constructor(
    private readonly runId: string,
    /** Short and unique among this Experiment's batches (part of object names). */
    private readonly batch: string,
    private readonly write: (write: JournalWrite) => Promise<void>,
    options: {
      /**
       * Writes in flight at once (default 1). With more, a claim that arrives while a write is
       * stored goes out at once instead of waiting for it: a call waits about one write for its
       * claim instead of one and a half. Safe with any number: a write carries every open claim
       * and every result no stored write has carried yet, and recovery takes each batch's claims
       * from its highest sequence number.
       */
      maxConcurrentWrites?: number;
      /**
       * Least time between the starts of two writes, ms (default 40). Claims are made a call
       * ahead (runner.ts), so a claim that waits this long rarely delays its call (model calls
       * take longer), and the journal costs at most 1000 / minWriteIntervalMs writes a second
       * however fast the apiserver answers: unpaced, two writes in flight made a write every
       * 20 ms or so on a local apiserver, and their apiserver and etcd CPU slowed the calls
       * (bench:eval-controller: 113-147 writes per 1,024 calls unpaced, about 100 at 20 ms, 50-60
       * at 40 ms).
       */
      minWriteIntervalMs?: number;
      /** Times the pacing (default: the real clock). */
      clock?: Clock;
    } = {},
  ) {
    this.maxWrites = Math.max(1, options.maxConcurrentWrites ?? 1);
    this.minInterval = Math.max(0, options.minWriteIntervalMs ?? 40);
    this.clock = options.clock ?? systemClock();
  }

  /** Writes made so far. */
  get writes(): number {
    return this.seq;
  }

  /** Resolves once `key` is durably claimed: only then may its call be sent. */
  claim(key: string): Promise<void> {
    this.claims.add(key);
    const durable = new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
    });
    this.kick();
    return durable;
  }

  /** A claimed call finished with `record`: kept with the next write. */
  complete(record: ResultRecord): void {
    this.claims.delete(record.key);
    this.unconfirmed.add(record);
  }

  /** A claimed call was not answered and may be retried (e.g. 429 after the retries). */
  release(key: string): void {
    this.claims.delete(key);
  }

  /**
   * The batch's results are saved elsewhere. Returns the claims still open (calls aborted at a hard
   * stop), written down first so the next batch records them as interrupted.
   */
  async saved(): Promise<number> {
    this.unconfirmed.clear();
    if (this.claims.size > 0) await this.flush();
    else await this.settled();
    return this.claims.size;
  }

  /** Writes the current state now (after any write in progress). */
  async flush(): Promise<void> {
    this.dirty = true;
    this.kick();
    await this.settled();
  }

  /** Resolves when no write is in flight or due. */
  private settled(): Promise<void> {
    if (this.inFlight === 0 && !this.dirty && this.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private kick(): void {
    while (this.inFlight < this.maxWrites && (this.dirty || this.waiters.length > 0)) {
      const wait = this.lastStart + this.minInterval - this.clock.now();
      if (wait > 0) {
        this.paced ??= this.clock.setTimer(() => {
          this.paced = undefined;
          this.kick();
        }, wait);
        return;
      }
      this.lastStart = this.clock.now();
      this.startWrite();
    }
  }

  private startWrite(): void {
    this.dirty = false;
    const waiters = this.waiters;
    this.waiters = [];
    const records = [...this.unconfirmed];
    this.inFlight++;
    this.write({
      runId: this.runId,
      batch: this.batch,
      seq: this.seq++,
      claims: [...this.claims],
      records,
    })
      .then(
        () => {
          for (const record of records) this.unconfirmed.delete(record);
          for (const w of waiters) w.resolve();
        },
        (error: unknown) => {
          // Not stored: those results go out with the next write.
          for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        // Claims that arrived meanwhile go out now.
        this.kick();
        if (this.inFlight === 0 && !this.dirty && this.waiters.length === 0) {
          for (const resolve of this.idle.splice(0)) resolve();
        }
      });
  }
}
