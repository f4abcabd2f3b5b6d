// The call journal: write-ahead claims that make model calls at-most-once across crashes.
//
// Before a call is sent, its key is written to the journal; results that come back ride along with
// later journal writes until the batch's results are saved to the results chunks. After a crash
// (SIGKILL, OOM, node loss) the next controller reads the journal: a claimed key with a result is
// done, a claimed key without one was in flight and is recorded as interrupted — never sent again,
// because the endpoint may already have answered (and billed) it. A graceful shutdown finishes
// what is in flight instead, so it interrupts nothing.
//
// Writes are coalesced: claims that arrive while a write is in progress go out together in the
// next one, so the journal costs about one small write per round of concurrent calls, not per call.
// Each write is a new small ConfigMap (`<experiment>-journal-<batch>-<seq>`) holding the claims
// open at that moment and only the results that came back since the previous write: the cost of a
// write does not grow with the batch (patching one ConfigMap that accumulates results made every
// write, and so every call, slower as the batch went on). Once the batch's results are in the
// chunks, its journal objects are deleted in one request.
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
        "interrupted: the controller stopped while this call was in flight; not sent again, so it is never paid for twice",
      interrupted: true,
      scores: {},
    });
  }
  return [...recovered.values()];
}

/** Coalescing writer of one batch's journal. */
export class CallJournal {
  private readonly claims = new Set<string>();
  /** Results not yet written to the journal. */
  private pending: ResultRecord[] = [];
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing: Promise<void> | null = null;
  private dirty = false;
  private seq = 0;

  constructor(
    private readonly runId: string,
    /** Short and unique among this Experiment's batches (part of object names). */
    private readonly batch: string,
    private readonly write: (write: JournalWrite) => Promise<void>,
  ) {}

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
    this.pending.push(record);
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
    this.pending = [];
    if (this.claims.size > 0) await this.flush();
    return this.claims.size;
  }

  /** Writes the current state now (after any write in progress). */
  async flush(): Promise<void> {
    this.dirty = true;
    this.kick();
    while (this.writing !== null) await this.writing;
  }

  private kick(): void {
    if (this.writing !== null) {
      this.dirty = true;
      return;
    }
    this.writing = this.loop().finally(() => {
      this.writing = null;
      // A claim that arrived after the loop's last check but before this ran is still pending.
      if (this.dirty || this.waiters.length > 0) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.dirty || this.waiters.length > 0) {
      this.dirty = false;
      const waiters = this.waiters;
      this.waiters = [];
      const records = this.pending;
      this.pending = [];
      try {
        await this.write({
          runId: this.runId,
          batch: this.batch,
          seq: this.seq++,
          claims: [...this.claims],
          records,
        });
        for (const w of waiters) w.resolve();
      } catch (error) {
        // Not written: those results go out with the next write.
        this.pending = [...records, ...this.pending];
        for (const w of waiters) w.reject(error);
      }
    }
  }
}
