// The call journal: write-ahead claims that make model calls at-most-once across crashes.
//
// Before a call is sent, its key is written to the journal (an owned ConfigMap, small); results
// that come back ride along with later journal writes until the batch's results are saved to the
// results chunks. After a crash (SIGKILL, OOM, node loss) the next controller reads the journal:
// a claimed key with a result is done, a claimed key without one was in flight and is recorded as
// interrupted — never sent again, because the endpoint may already have answered (and billed) it.
// A graceful shutdown finishes what is in flight instead, so it interrupts nothing.
//
// Writes are coalesced: claims that arrive while a write is in progress go out together in the
// next one, so the journal costs about one small write per round of concurrent calls, not per call.
// Each write is a JSON merge patch carrying the open claims and only the results that came back
// since the previous write (as a new segment key): its size does not grow with the batch.
import type { ResultRecord } from "./results.js";

/** What the journal ConfigMap holds, decoded. */
export interface JournalState {
  runId: string;
  /** Keys whose calls may have been sent and have no saved result yet. */
  claims: string[];
  /** Results not yet in the results chunks. */
  records: ResultRecord[];
}

/**
 * One journal write, as a change: the claims now open, the results that came back since the last
 * write (a new segment key, so earlier results are not sent again), and the segments to drop once
 * their results are in the chunks.
 */
export interface JournalWrite {
  runId: string;
  claims: string[];
  segment?: { index: number; records: ResultRecord[] };
  dropSegments: number[];
}

export const claimsKey = "claims.json";
const segmentPrefix = "records-";

/** The ConfigMap data key of results segment `index`. */
export function segmentKey(index: number): string {
  return `${segmentPrefix}${String(index)}.jsonl`;
}

/** The merge-patch `data` for `write` (a null value deletes a key). */
export function journalPatchData(write: JournalWrite): Record<string, string | null> {
  const data: Record<string, string | null> = {
    [claimsKey]: JSON.stringify({ runId: write.runId, claims: write.claims }),
  };
  for (const index of write.dropSegments) data[segmentKey(index)] = null;
  if (write.segment) {
    data[segmentKey(write.segment.index)] = write.segment.records
      .map((r) => JSON.stringify(r))
      .join("\n");
  }
  return data;
}

/** Name of `experiment`'s journal ConfigMap. */
export function journalName(experiment: string): string {
  return `${experiment}-journal`;
}

/** Reads a journal's data; anything unreadable or of another run counts as nothing claimed. */
export function decodeJournal(
  data: Readonly<Record<string, string>> | undefined,
  runId: string,
): JournalState {
  const state: JournalState = { runId, claims: [], records: [] };
  const claimsText = data?.[claimsKey];
  if (data === undefined || claimsText === undefined) return state;
  try {
    const parsed = JSON.parse(claimsText) as { runId?: unknown; claims?: unknown };
    if (parsed.runId !== runId) return state; // another run's journal: nothing of ours in flight
    if (Array.isArray(parsed.claims)) {
      state.claims = parsed.claims.filter((k): k is string => typeof k === "string");
    }
  } catch {
    return state;
  }
  for (const [key, text] of Object.entries(data)) {
    if (!key.startsWith(segmentPrefix)) continue;
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        state.records.push(JSON.parse(line) as ResultRecord);
      } catch {
        // A torn line: that call counts as interrupted (its claim stays open).
      }
    }
  }
  return state;
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
  /** Segments written in this batch (dropped once the batch's results are in the chunks). */
  private readonly segments: number[] = [];
  private nextSegment = 0;
  private drop: number[] = [];
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing: Promise<void> | null = null;
  private dirty = false;
  private writes = 0;

  constructor(
    private readonly runId: string,
    private readonly write: (write: JournalWrite) => Promise<void>,
  ) {}

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

  /** The batch's results are saved elsewhere: drops them and writes what is still claimed. */
  async saved(): Promise<void> {
    if (this.writes === 0 && this.claims.size === 0) return;
    this.pending = [];
    this.drop = [...this.segments];
    this.segments.length = 0;
    await this.flush();
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
      const drop = this.drop;
      this.drop = [];
      const segment = records.length > 0 ? { index: this.nextSegment++, records } : undefined;
      try {
        this.writes += 1;
        await this.write({
          runId: this.runId,
          claims: [...this.claims],
          ...(segment ? { segment } : {}),
          dropSegments: drop,
        });
        if (segment) this.segments.push(segment.index);
        for (const w of waiters) w.resolve();
      } catch (error) {
        // Not written: those results go out with the next write, the drops too.
        this.pending = [...records, ...this.pending];
        this.drop = [...drop, ...this.drop];
        for (const w of waiters) w.reject(error);
      }
    }
  }
}
