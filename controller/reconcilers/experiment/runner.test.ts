import { describe, expect, it } from "vitest";
import {
  LlmHttpError,
  type ChatCompletion,
  type ChatModelClient,
} from "../../backends/llm/index.js";
import type { ExperimentBudget } from "../../api/generated/index.js";
import { CallJournal, type JournalWrite } from "./journal.js";
import { runBatch, type RunnableVariant } from "./runner.js";
import type { ResolvedVariant } from "./variants.js";
import { workUnits } from "./work.js";

const resolved: ResolvedVariant = {
  name: "v",
  control: true,
  promptName: "p",
  promptVersion: 1,
  promptHash: "h",
  template: { text: "{{id}}" },
  variables: [{ name: "id" }],
  model: "m",
  endpoint: { baseURL: "http://model.invalid" },
};

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits (a few ticks at most) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 50 && !condition(); i++) await tick();
  expect(condition()).toBe(true);
}

/**
 * A journal whose writes take `writeMs` (0: the next tick) and a model whose answers take
 * `answerMs` (undefined: only when the test answers them), recording what was written, stored and
 * sent, and every call sent before its key was in a stored write.
 */
function harness(options: { writeMs?: number; answerMs?: number; costUSD?: number } = {}) {
  const writes: JournalWrite[] = [];
  const durable = new Set<string>();
  const sent: string[] = [];
  const sentBeforeDurable: string[] = [];
  const waiting: { key: string; answer: () => void; fail: (error: Error) => void }[] = [];
  const journal = new CallJournal(
    "run",
    "b1",
    async (write) => {
      writes.push(structuredClone(write));
      await sleep(options.writeMs ?? 0);
      for (const key of write.claims) durable.add(key);
    },
    { maxConcurrentWrites: 2 },
  );
  const completion = (): ChatCompletion => ({
    id: null,
    model: "m",
    content: "ok",
    finishReason: "stop",
    usage: null,
    costUSD: options.costUSD ?? null,
    latencyMs: 1,
    attempts: 1,
    retries: [],
  });
  const client: ChatModelClient = {
    complete: (request, callOptions) => {
      const key = `v/${String(request.messages[0]?.content)}/0`;
      sent.push(key);
      if (!durable.has(key)) sentBeforeDurable.push(key);
      return new Promise<ChatCompletion>((resolve, reject) => {
        /** Settles the call once (an answered call ignores a later abort). */
        const settle = (then: () => void) => {
          const i = waiting.indexOf(entry);
          if (i < 0) return;
          waiting.splice(i, 1);
          then();
        };
        const entry = {
          key,
          answer: () => {
            settle(() => {
              resolve(completion());
            });
          },
          fail: (error: Error) => {
            settle(() => {
              reject(error);
            });
          },
        };
        waiting.push(entry);
        callOptions?.signal?.addEventListener("abort", () => {
          entry.fail(new Error("aborted"));
        });
        if (options.answerMs !== undefined) setTimeout(entry.answer, options.answerMs);
      });
    },
    listModels: () => Promise.resolve(["m"]),
  };
  const variants = new Map<string, RunnableVariant>([["v", { resolved, client, evaluators: [] }]]);
  const units = (n: number) =>
    workUnits(
      ["v"],
      Array.from({ length: n }, (_, i) => ({ id: String(i), vars: { id: String(i) } })),
      1,
    );
  /** The claims of the journal's latest write, after writing the current state once more. */
  const lastClaims = async () => {
    await journal.flush();
    return writes.at(-1)?.claims ?? [];
  };
  return {
    writes,
    durable,
    sent,
    sentBeforeDurable,
    waiting,
    journal,
    variants,
    units,
    lastClaims,
  };
}

type Harness = ReturnType<typeof harness>;

function run(
  h: Harness,
  options: {
    units: number;
    concurrency: number;
    signal?: AbortSignal;
    stopping?: AbortSignal;
    budget?: ExperimentBudget;
    now?: () => number;
    deadline?: number;
  },
) {
  return runBatch({
    units: h.units(options.units),
    variants: h.variants,
    concurrency: options.concurrency,
    budget: options.budget,
    spent: { calls: 0, costUSD: 0 },
    signal: options.signal ?? new AbortController().signal,
    ...(options.stopping ? { stopping: options.stopping } : {}),
    journal: h.journal,
    now: options.now ?? (() => 0),
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
  });
}

describe("runBatch with a call journal", () => {
  it("never sends a call before its claim is durable, even when journal writes are slow", async () => {
    const h = harness({ writeMs: 15, answerMs: 1 });
    const outcome = await run(h, { units: 12, concurrency: 3 });
    expect(outcome.records).toHaveLength(12);
    expect(h.sent).toHaveLength(12);
    expect(h.sentBeforeDurable).toEqual([]);
    expect(await h.journal.saved()).toBe(0);
  });

  it("claims a worker's next unit while its call is in flight", async () => {
    const h = harness();
    const batch = run(h, { units: 3, concurrency: 1 });
    await until(() => h.waiting.length === 1);
    // The first call is out and unanswered; the second unit's claim is written already.
    await until(() => h.durable.has("v/1/0"));
    expect(h.sent).toEqual(["v/0/0"]);
    expect(h.writes.some((w) => w.claims.includes("v/1/0"))).toBe(true);
    // Only one unit ahead: the third is not claimed before the second call goes out.
    expect(h.writes.some((w) => w.claims.includes("v/2/0"))).toBe(false);
    h.waiting[0]?.answer();
    // The second call goes out at once: its claim was durable before the first call returned.
    await until(() => h.sent.length === 2);
    expect(h.sent).toEqual(["v/0/0", "v/1/0"]);
    await until(() => h.waiting.length === 1);
    h.waiting[0]?.answer();
    await until(() => h.waiting.length === 1);
    h.waiting[0]?.answer();
    expect((await batch).records.map((r) => r.key)).toEqual(["v/0/0", "v/1/0", "v/2/0"]);
    expect(h.sentBeforeDurable).toEqual([]);
  });

  // Two workers, each with a call in flight and its next unit claimed; then `stop` happens and
  // the calls are answered (or aborted). The claimed-not-sent units are released, never sent.
  const stops: {
    name: string;
    stop: (s: {
      abort: AbortController;
      stopping: AbortController;
      clock: { now: number };
    }) => void;
    want: { records: number; transient: number; fatal: boolean; open: string[] };
    answer?: "fail401";
  }[] = [
    {
      name: "graceful stop: the calls in flight finish, nothing is left claimed",
      stop: ({ stopping }) => {
        stopping.abort();
      },
      want: { records: 2, transient: 0, fatal: false, open: [] },
    },
    {
      name: "deadline: the calls in flight finish, nothing is left claimed",
      stop: ({ clock }) => {
        clock.now = 1_000;
      },
      want: { records: 2, transient: 0, fatal: false, open: [] },
    },
    {
      name: "hard stop: the aborted calls keep their claims (they may have been sent), the next ones do not",
      stop: ({ abort }) => {
        abort.abort();
      },
      want: { records: 0, transient: 0, fatal: false, open: ["v/0/0", "v/1/0"] },
    },
    {
      name: "fatal error: the other worker's next unit is released",
      stop: () => undefined,
      answer: "fail401",
      want: { records: 1, transient: 0, fatal: true, open: [] },
    },
  ];
  for (const row of stops) {
    it(row.name, async () => {
      const h = harness();
      const abort = new AbortController();
      const stopping = new AbortController();
      const clock = { now: 0 };
      const batch = run(h, {
        units: 10,
        concurrency: 2,
        signal: abort.signal,
        stopping: stopping.signal,
        now: () => clock.now,
        deadline: 500,
      });
      await until(() => h.waiting.length === 2);
      await until(() => h.durable.has("v/2/0") && h.durable.has("v/3/0"));
      row.stop({ abort, stopping, clock });
      if (row.answer === "fail401") {
        h.waiting[0]?.fail(new LlmHttpError("unauthorized", { status: 401 }));
        await tick();
      }
      for (const call of [...h.waiting]) call.answer();
      const outcome = await batch;
      expect(h.sent).toEqual(["v/0/0", "v/1/0"]);
      expect(outcome.records).toHaveLength(row.want.records);
      expect(outcome.transient).toHaveLength(row.want.transient);
      expect(outcome.fatal !== null).toBe(row.want.fatal);
      expect(await h.journal.saved()).toBe(row.want.open.length);
      // The journal's latest write carries no claim of a unit that was never sent.
      expect([...(await h.lastClaims())].sort()).toEqual(row.want.open);
    });
  }

  it("maxCalls holds with units claimed ahead", async () => {
    const h = harness({ answerMs: 1 });
    const outcome = await run(h, {
      units: 10,
      concurrency: 3,
      budget: { maxCostUSD: 100, maxCalls: 4 },
    });
    expect(h.sent).toHaveLength(4);
    expect(outcome.records).toHaveLength(4);
    expect(outcome.budgetReached).toMatch(/4 of the 4 calls/);
    expect(await h.journal.saved()).toBe(0);
    expect(await h.lastClaims()).toEqual([]);
  });

  it("a unit claimed ahead is released, not sent, when the cost spent meanwhile reaches the budget", async () => {
    const h = harness({ costUSD: 0.01 });
    const batch = run(h, { units: 10, concurrency: 2, budget: { maxCostUSD: 0.015 } });
    await until(() => h.waiting.length === 2);
    await until(() => h.durable.has("v/2/0") && h.durable.has("v/3/0"));
    // Each answer costs $0.01: after the first, the first worker's next call still fits; after
    // the second, the budget is spent and the second worker's next unit is released.
    h.waiting[0]?.answer();
    await until(() => h.sent.length === 3);
    h.waiting[0]?.answer();
    await tick();
    for (const call of [...h.waiting]) call.answer();
    const outcome = await batch;
    expect(h.sent).toEqual(["v/0/0", "v/1/0", "v/2/0"]);
    expect(outcome.records).toHaveLength(3);
    expect(outcome.budgetReached).toMatch(/budget/);
    expect(await h.journal.saved()).toBe(0);
    expect(await h.lastClaims()).toEqual([]);
  });

  it("a claim that cannot be written is not sent and reported as transient", async () => {
    const h = harness({ answerMs: 1 });
    const journal = new CallJournal("run", "b1", () => Promise.reject(new Error("apiserver down")));
    const outcome = await runBatch({
      units: h.units(3),
      variants: h.variants,
      concurrency: 2,
      budget: undefined,
      spent: { calls: 0, costUSD: 0 },
      signal: new AbortController().signal,
      journal,
      now: () => 0,
    });
    expect(h.sent).toEqual([]);
    expect(outcome.records).toEqual([]);
    expect(outcome.transient).toHaveLength(3);
    expect(outcome.transient[0]).toMatch(/not sent, the call journal could not be written/);
  });
});
