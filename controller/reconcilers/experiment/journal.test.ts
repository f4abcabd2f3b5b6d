import { describe, expect, it } from "vitest";
import {
  CallJournal,
  decodeJournal,
  journalPatchData,
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

/** Applies merge patches to a data map, as the apiserver does for a ConfigMap. */
function store() {
  const map = new Map<string, string>();
  const writes: JournalWrite[] = [];
  const write = (w: JournalWrite) => {
    writes.push(structuredClone(w));
    for (const [k, v] of Object.entries(journalPatchData(w))) {
      if (v === null) map.delete(k);
      else map.set(k, v);
    }
    return Promise.resolve();
  };
  return {
    get data() {
      return Object.fromEntries(map);
    },
    writes,
    write,
  };
}

describe("CallJournal", () => {
  it("resolves a claim only after a write that contains it, coalescing concurrent claims", async () => {
    const writes: JournalWrite[] = [];
    let release: (() => void) | undefined;
    const journal = new CallJournal("run", async (w) => {
      writes.push(w);
      await new Promise<void>((resolve) => (release = resolve));
    });
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
    expect(writes).toHaveLength(2);
  });

  it("a failed write rejects the claims in it (the call must not be sent)", async () => {
    const journal = new CallJournal("run", () => Promise.reject(new Error("apiserver down")));
    await expect(journal.claim("v/1/0")).rejects.toThrow("apiserver down");
  });

  it("sends each result once, in a new segment; saved() drops the segments and keeps open claims", async () => {
    const s = store();
    const journal = new CallJournal("run", s.write);
    await journal.claim("v/1/0");
    await journal.claim("v/2/0");
    journal.complete(record("v/1/0"));
    await journal.claim("v/3/0");
    journal.complete(record("v/3/0"));
    await journal.claim("v/4/0");
    expect(s.writes.map((w) => w.segment?.records.map((r) => r.key))).toEqual([
      undefined,
      undefined,
      ["v/1/0"],
      ["v/3/0"],
    ]);
    expect(decodeJournal(s.data, "run")).toEqual({
      runId: "run",
      claims: ["v/2/0", "v/4/0"],
      records: [record("v/1/0"), record("v/3/0")],
    });
    journal.release("v/4/0");
    await journal.saved();
    expect(s.data).toEqual({ "claims.json": JSON.stringify({ runId: "run", claims: ["v/2/0"] }) });
  });

  it("saved() writes nothing for a batch that claimed nothing", async () => {
    let writes = 0;
    const journal = new CallJournal("run", () => {
      writes += 1;
      return Promise.resolve();
    });
    await journal.saved();
    expect(writes).toBe(0);
  });
});

describe("recoverJournal", () => {
  it("keeps returned results and marks calls without one as interrupted, never to be re-sent", () => {
    const s = store();
    void s.write({
      runId: "run",
      claims: ["v/1/0", "v/2/0", "v/3/0"],
      segment: { index: 0, records: [record("v/2/0"), record("v/4/0")] },
      dropSegments: [],
    });
    const recovered = recoverJournal(
      decodeJournal(s.data, "run"),
      new Set(["v/3/0", "v/4/0"]),
      parseKey,
    );
    expect(recovered.map((r) => [r.key, r.interrupted ?? false])).toEqual([
      ["v/2/0", false],
      ["v/1/0", true],
    ]);
    expect(recovered[1]).toMatchObject({ variant: "v", item: "1", calls: 1, scores: {} });
    expect(recovered[1]?.error).toMatch(/^interrupted: .*not sent again/);
  });

  it("ignores another run's journal, unreadable claims and torn result lines", () => {
    const other = { "claims.json": JSON.stringify({ runId: "old", claims: ["v/1/0"] }) };
    expect(decodeJournal(other, "run").claims).toEqual([]);
    expect(decodeJournal({ "claims.json": "{" }, "run")).toEqual({
      runId: "run",
      claims: [],
      records: [],
    });
    const torn = {
      "claims.json": JSON.stringify({ runId: "run", claims: ["v/1/0"] }),
      "records-0.jsonl": `${JSON.stringify(record("v/2/0"))}\n{"key": "v/1/`,
    };
    expect(decodeJournal(torn, "run").records.map((r) => r.key)).toEqual(["v/2/0"]);
  });
});
