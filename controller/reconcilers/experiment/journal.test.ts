import { describe, expect, it } from "vitest";
import { CallJournal, decodeJournal, recoverJournal, type JournalState } from "./journal.js";
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

describe("CallJournal", () => {
  it("resolves a claim only after a write that contains it, coalescing concurrent claims", async () => {
    const writes: JournalState[] = [];
    let release: (() => void) | undefined;
    const journal = new CallJournal("run", async (state) => {
      writes.push(state);
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

  it("results ride along; saved() drops them and keeps only claims still open", async () => {
    const writes: JournalState[] = [];
    const journal = new CallJournal("run", (state) => {
      writes.push(structuredClone(state));
      return Promise.resolve();
    });
    await journal.claim("v/1/0");
    await journal.claim("v/2/0");
    journal.complete(record("v/1/0"));
    await journal.claim("v/3/0");
    expect(writes.at(-1)).toMatchObject({
      claims: ["v/2/0", "v/3/0"],
      records: [{ key: "v/1/0" }],
    });
    journal.release("v/3/0");
    await journal.saved();
    expect(writes.at(-1)).toEqual({ runId: "run", claims: ["v/2/0"], records: [] });
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
    const journal = decodeJournal(
      JSON.stringify({
        runId: "run",
        claims: ["v/1/0", "v/2/0", "v/3/0"],
        records: [record("v/2/0"), record("v/4/0")],
      }),
      "run",
    );
    const recovered = recoverJournal(journal, new Set(["v/3/0", "v/4/0"]), parseKey);
    expect(recovered.map((r) => [r.key, r.interrupted ?? false])).toEqual([
      ["v/2/0", false],
      ["v/1/0", true],
    ]);
    expect(recovered[1]).toMatchObject({ variant: "v", item: "1", calls: 1, scores: {} });
    expect(recovered[1]?.error).toMatch(/^interrupted: .*not sent again/);
  });

  it("ignores another run's journal and unreadable text", () => {
    const other = JSON.stringify({ runId: "old", claims: ["v/1/0"], records: [] });
    expect(decodeJournal(other, "run").claims).toEqual([]);
    expect(decodeJournal("{", "run")).toEqual({ runId: "run", claims: [], records: [] });
  });
});
