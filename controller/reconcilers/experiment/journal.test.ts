import { describe, expect, it } from "vitest";
import {
  CallJournal,
  decodeJournalWrite,
  journalObjectName,
  mergeJournal,
  recoverJournal,
  type JournalWrite,
} from "./journal.js";
import type { ResultRecord } from "./results.js";

const record = (key: string): ResultRecord => {
  const [variant = "", item = "", repetition = "0"] = key.split("/");
  return {
    key,
    variant,
    item,
    repetition: Number(repetition),
    latencyMs: 1,
    costUSD: 0,
    calls: 1,
    scores: {},
  };
};
const parseKey = (key: string) => {
  const [variant = "", item = "", repetition = "0"] = key.split("/");
  return { variant, item, repetition: Number(repetition) };
};

/** Keeps each write as the object the reconciler creates would: its JSON text. */
function store() {
  const texts: string[] = [];
  const writes: JournalWrite[] = [];
  const write = (w: JournalWrite) => {
    writes.push(structuredClone(w));
    texts.push(JSON.stringify(w));
    return Promise.resolve();
  };
  const state = (runId = "run") =>
    mergeJournal(texts.flatMap((t) => decodeJournalWrite(t, runId) ?? []));
  return { texts, writes, write, state };
}

describe("CallJournal", () => {
  it("resolves a claim only after a write that contains it, coalescing concurrent claims", async () => {
    const writes: JournalWrite[] = [];
    let release: (() => void) | undefined;
    const journal = new CallJournal(
      "run",
      "b1",
      async (w) => {
        writes.push(w);
        await new Promise<void>((resolve) => (release = resolve));
      },
      { minWriteIntervalMs: 0 },
    );
    const order: string[] = [];
    const a = journal.claim("v/1/0").then(() => order.push("a"));
    const b = journal.claim("v/2/0").then(() => order.push("b"));
    const c = journal.claim("v/3/0").then(() => order.push("c"));
    await Promise.resolve();
    expect(writes.map((w) => w.claims)).toEqual([["v/1/0"]]);
    expect(order).toEqual([]);
    release?.();
    await a;
    await new Promise((r) => setTimeout(r, 0));
    // b and c arrived during the first write: one second write carries both.
    expect(writes.map((w) => w.claims)).toEqual([["v/1/0"], ["v/1/0", "v/2/0", "v/3/0"]]);
    release?.();
    await Promise.all([b, c]);
    expect(order).toEqual(["a", "b", "c"]);
    expect(writes.map((w) => [w.batch, w.seq])).toEqual([
      ["b1", 0],
      ["b1", 1],
    ]);
  });

  it("a failed write rejects the claims in it (the call must not be sent)", async () => {
    const journal = new CallJournal("run", "b1", () => Promise.reject(new Error("apiserver down")));
    await expect(journal.claim("v/1/0")).rejects.toThrow("apiserver down");
  });

  it("each write carries only the results since the previous one; together they are the state", async () => {
    const s = store();
    const journal = new CallJournal("run", "b1", s.write);
    await journal.claim("v/1/0");
    await journal.claim("v/2/0");
    journal.complete(record("v/1/0"));
    await journal.claim("v/3/0");
    journal.complete(record("v/3/0"));
    await journal.claim("v/4/0");
    expect(s.writes.map((w) => w.records.map((r) => r.key))).toEqual([
      [],
      [],
      ["v/1/0"],
      ["v/3/0"],
    ]);
    expect(s.state()).toEqual({
      claims: ["v/2/0", "v/4/0"],
      records: [record("v/1/0"), record("v/3/0")],
    });
  });

  it("saved() writes the claims still open (aborted calls) and reports them", async () => {
    const s = store();
    const journal = new CallJournal("run", "b1", s.write);
    await journal.claim("v/1/0");
    await journal.claim("v/2/0");
    journal.complete(record("v/1/0"));
    expect(await journal.saved()).toBe(1);
    expect(s.writes.at(-1)).toMatchObject({ claims: ["v/2/0"], records: [] });
    const clean = new CallJournal("run", "b2", s.write);
    await clean.claim("v/3/0");
    clean.complete(record("v/3/0"));
    const before = s.writes.length;
    expect(await clean.saved()).toBe(0);
    expect(s.writes).toHaveLength(before); // nothing left to write: the caller deletes the journal
  });

  it("with concurrent writes, a claim goes out at once and a result rides every write until one is stored", async () => {
    const writes: JournalWrite[] = [];
    const settle: { resolve: () => void; reject: (error: Error) => void }[] = [];
    const journal = new CallJournal(
      "run",
      "b1",
      (w) => {
        writes.push(w);
        return new Promise<void>((resolve, reject) => settle.push({ resolve, reject }));
      },
      { maxConcurrentWrites: 2, minWriteIntervalMs: 0 },
    );
    const a = journal.claim("v/1/0");
    const b = journal.claim("v/2/0");
    // b did not wait for a's write: both are in flight, the later one carrying both claims.
    expect(writes.map((w) => w.claims)).toEqual([["v/1/0"], ["v/1/0", "v/2/0"]]);
    settle[1]?.resolve();
    await b;
    settle[0]?.resolve();
    await a;
    journal.complete(record("v/1/0"));
    const c = journal.claim("v/3/0");
    expect(writes[2]?.records.map((r) => r.key)).toEqual(["v/1/0"]);
    settle[2]?.reject(new Error("lost"));
    await expect(c).rejects.toThrow("lost");
    // Write 2 was not stored, so write 3 carries the result again; once stored, it is dropped.
    const d = journal.claim("v/4/0");
    expect(writes[3]?.records.map((r) => r.key)).toEqual(["v/1/0"]);
    settle[3]?.resolve();
    await d;
    const e = journal.claim("v/5/0");
    expect(writes[4]?.records).toEqual([]);
    settle[4]?.resolve();
    await e;
    expect(writes.map((w) => w.seq)).toEqual([0, 1, 2, 3, 4]);
    const saved = journal.saved();
    settle[5]?.resolve();
    expect(await saved).toBe(4); // v/2, v/3 (its claim failed), v/4, v/5
  });

  it("paces writes: claims that arrive within minWriteIntervalMs of a write's start go out together", async () => {
    const s = store();
    const journal = new CallJournal("run", "b1", s.write, {
      maxConcurrentWrites: 2,
      minWriteIntervalMs: 30,
    });
    const started = performance.now();
    const a = journal.claim("v/1/0");
    await new Promise((r) => setTimeout(r, 0));
    const b = journal.claim("v/2/0");
    const c = journal.claim("v/3/0");
    await a;
    // The first write went out at once; b and c wait for the interval, then share one write.
    expect(s.writes.map((w) => w.claims)).toEqual([["v/1/0"]]);
    await Promise.all([b, c]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    expect(s.writes.map((w) => w.claims)).toEqual([["v/1/0"], ["v/1/0", "v/2/0", "v/3/0"]]);
    // saved() and flush() wait for a paced write too.
    journal.complete(record("v/1/0"));
    await journal.flush();
    expect(s.writes.at(-1)?.records.map((r) => r.key)).toEqual(["v/1/0"]);
  });

  it("names objects by experiment, batch and sequence", () => {
    expect(journalObjectName("ab", { batch: "3f2a1c", seq: 7 })).toBe("ab-journal-3f2a1c-7");
  });
});

describe("recoverJournal", () => {
  it("keeps returned results and marks calls without one as interrupted, never to be re-sent", () => {
    const state = mergeJournal([
      { runId: "run", batch: "b1", seq: 0, claims: ["v/1/0", "v/2/0"], records: [] },
      {
        runId: "run",
        batch: "b1",
        seq: 1,
        claims: ["v/1/0", "v/3/0"],
        records: [record("v/2/0"), record("v/4/0")],
      },
    ]);
    const recovered = recoverJournal(state, new Set(["v/3/0", "v/4/0"]), parseKey);
    expect(recovered.map((r) => [r.key, r.interrupted ?? false])).toEqual([
      ["v/2/0", false],
      ["v/1/0", true],
    ]);
    expect(recovered[1]).toMatchObject({ variant: "v", item: "1", calls: 1, scores: {} });
    expect(recovered[1]?.error).toMatch(/^interrupted: .*not sent again/);
  });

  it("takes each batch's latest claims, whatever order the objects are listed in", () => {
    const w = (seq: number, claims: string[]): JournalWrite => ({
      runId: "run",
      batch: "b1",
      seq,
      claims,
      records: [],
    });
    expect(mergeJournal([w(2, ["v/9/0"]), w(0, ["v/1/0"]), w(1, ["v/2/0"])]).claims).toEqual([
      "v/9/0",
    ]);
  });

  it("ignores another run's writes and unreadable ones", () => {
    const other = JSON.stringify({
      runId: "old",
      batch: "b",
      seq: 0,
      claims: ["v/1/0"],
      records: [],
    });
    expect(decodeJournalWrite(other, "run")).toBeUndefined();
    expect(decodeJournalWrite("{", "run")).toBeUndefined();
    expect(decodeJournalWrite(undefined, "run")).toBeUndefined();
  });
});
