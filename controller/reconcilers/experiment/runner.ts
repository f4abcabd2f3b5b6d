// Runs one batch of work units: render, call the model, score, with at most `concurrency` calls in
// flight and the budget checked before every call. Results come back as records for the reconciler
// to persist; nothing here writes to the cluster.
//
// Claims (with a journal): a call is sent only once its key is durably claimed, so a crash never
// sends it twice. To keep the journal write off the call's path, each worker claims one unit ahead:
// while its call is in flight it takes the next unit (reserving its call in the budget) and starts
// that unit's claim, which is usually durable by the time the call returns. So a worker holds at
// most one sent call and one claimed-not-sent unit. A worker that stops (abort, graceful stop,
// deadline, budget, a fatal error, no more units) releases its claimed-not-sent unit and gives its
// reservation back, so the journal's next write no longer carries it; only a kill between a claim
// and its send leaves such a claim, which recovery records as interrupted (never sent): after a
// kill, interrupted calls are at most 2 × concurrency, of which at most `concurrency` were sent.
import {
  LlmHttpError,
  LlmMalformedResponseError,
  isRetryableLlmError,
  type ChatModelClient,
  type ChatRequest,
} from "../../backends/llm/index.js";
import type { Evaluator } from "../../evaluators/index.js";
import { errorMessage } from "../../kube/errors.js";
import type { CallJournal } from "./journal.js";
import { budgetExhausted, type Spent, type WorkUnit } from "./work.js";
import { outputLimit, type ResultRecord, type ScoreRecord } from "./results.js";
import { itemVariables, renderMessages, type ResolvedVariant } from "./variants.js";
import type { ExperimentBudget } from "../../api/generated/index.js";

/** A variant ready to run: resolved prompt, model client and evaluators. */
export interface RunnableVariant {
  resolved: ResolvedVariant;
  client: ChatModelClient;
  evaluators: Evaluator[];
}

/** What a batch produced. */
export interface BatchOutcome {
  records: ResultRecord[];
  /** Failures worth retrying later (endpoint down, rate limited past the retries): not recorded. */
  transient: string[];
  /** A failure that stops the batch (credentials refused, model unknown). */
  fatal: string | null;
  /** Set when the budget stopped the batch. */
  budgetReached: string | null;
}

/** Runs `units`; the budget is checked against `spent` plus what this batch has recorded. */
export async function runBatch(options: {
  units: readonly WorkUnit[];
  variants: ReadonlyMap<string, RunnableVariant>;
  concurrency: number;
  budget: ExperimentBudget | undefined;
  spent: Spent;
  signal: AbortSignal;
  /** Graceful shutdown: start no new call, finish those in flight. */
  stopping?: AbortSignal;
  /** Write-ahead claims: a call is sent only once its key is durably claimed. */
  journal?: CallJournal;
  /** Epoch ms, for the time each answer arrived. */
  now: () => number;
  /** Epoch ms after which no new call starts (progress is written between batches). */
  deadline?: number;
}): Promise<BatchOutcome> {
  const { journal } = options;
  const records: ResultRecord[] = [];
  const transient: string[] = [];
  let fatal: string | null = null;
  let budgetReached: string | null = null;
  const spent: Spent = { ...options.spent };
  let next = 0;

  const mustStop = (): boolean =>
    options.signal.aborted ||
    options.stopping?.aborted === true ||
    fatal !== null ||
    (options.deadline !== undefined && options.now() >= options.deadline);

  /** The next unit, its call reserved and its claim started; undefined when the worker stops. */
  const take = (): TakenUnit | undefined => {
    for (;;) {
      if (mustStop()) return undefined;
      budgetReached = budgetExhausted(options.budget, spent);
      if (budgetReached !== null) return undefined;
      const unit = options.units[next++];
      if (unit === undefined) return undefined;
      const variant = options.variants.get(unit.variant);
      if (variant === undefined) continue;
      spent.calls += 1; // reserve the call now, so maxCalls holds under concurrency and prefetch
      const prepared = prepareCall(unit, variant);
      const claimed =
        journal === undefined || "record" in prepared
          ? Promise.resolve(null)
          : journal.claim(unit.key).then(
              () => null,
              (error: unknown) =>
                `${unit.key}: not sent, the call journal could not be written: ${errorMessage(error)}`,
            );
      return { unit, variant, prepared, claimed };
    }
  };

  /** A taken unit that will not be sent: its claim is released and its reservation undone. */
  const giveBack = (taken: TakenUnit): void => {
    journal?.release(taken.unit.key);
    spent.calls -= 1;
  };

  const settle = (outcome: UnitOutcome): void => {
    if (outcome.kind === "record") {
      records.push(outcome.record);
      spent.calls += outcome.record.calls - 1;
      spent.costUSD += outcome.record.costUSD ?? 0;
    } else {
      spent.calls -= 1;
      if (outcome.kind === "transient") transient.push(outcome.message);
      else if (outcome.kind === "fatal") fatal = outcome.message;
    }
  };

  const worker = async (): Promise<void> => {
    let current = take();
    while (current !== undefined) {
      if (mustStop()) {
        giveBack(current);
        return;
      }
      const unsent = await current.claimed;
      if (unsent !== null) {
        // Not sent; the claim stays in the journal as before (its write may have been stored).
        settle({ kind: "transient", message: unsent });
        current = take();
        continue;
      }
      // Checked again now that the claim is durable: the worker may have to stop since it was
      // taken, and the cost spent by other calls may have used up the budget (its own reservation
      // aside, which maxCalls already allowed).
      const budget = budgetExhausted(options.budget, { ...spent, calls: spent.calls - 1 });
      if (budget !== null) budgetReached = budget;
      if (mustStop() || budget !== null) {
        giveBack(current);
        return;
      }
      const call = runUnit(current, options);
      const ahead = take(); // claim the next unit while this call is in flight
      settle(await call);
      current = ahead;
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, options.units.length));
  await Promise.all(Array.from({ length: workers }, () => worker()));
  return { records, transient, fatal, budgetReached };
}

/** A unit a worker has taken: its call reserved in the budget, its claim under way. */
interface TakenUnit {
  unit: WorkUnit;
  variant: RunnableVariant;
  prepared: PreparedCall;
  /** Resolves to null once the key is durably claimed, or to why the call may not be sent. */
  claimed: Promise<string | null>;
}

type UnitOutcome =
  | { kind: "record"; record: ResultRecord }
  | { kind: "transient" | "fatal" | "aborted"; message: string };

/** A unit's request, or its record when it needs no call (a variable has no value). */
type PreparedCall = { request: ChatRequest } | { record: ResultRecord };

interface UnitContext {
  signal: AbortSignal;
  journal?: CallJournal;
  now: () => number;
}

/** Sends a durably claimed unit's call and settles its claim. */
async function runUnit(taken: TakenUnit, context: UnitContext): Promise<UnitOutcome> {
  const { journal } = context;
  const outcome =
    "record" in taken.prepared
      ? { kind: "record" as const, record: taken.prepared.record }
      : await callAndScore(taken.unit, taken.variant, taken.prepared.request, context);
  if (journal !== undefined) {
    // An aborted call keeps its claim: it may have reached the model, so it is never re-sent.
    if (outcome.kind === "record") journal.complete(outcome.record);
    else if (outcome.kind !== "aborted") journal.release(taken.unit.key);
  }
  return outcome;
}

function baseRecord(unit: WorkUnit) {
  return { key: unit.key, variant: unit.variant, item: unit.item.id, repetition: unit.repetition };
}

function prepareCall(unit: WorkUnit, variant: RunnableVariant): PreparedCall {
  const vars = itemVariables(variant.resolved, unit.item);
  if (!vars.ok) {
    return {
      record: {
        ...baseRecord(unit),
        latencyMs: null,
        costUSD: null,
        calls: 0,
        error: `no value for ${vars.missing.join(", ")}`,
        scores: {},
      },
    };
  }
  const r = variant.resolved;
  return {
    request: {
      model: r.model,
      messages: renderMessages(r, vars.view),
      ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
      ...(r.topP !== undefined ? { topP: r.topP } : {}),
      ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens } : {}),
      ...(r.seed !== undefined ? { seed: r.seed } : {}),
      ...(r.stop !== undefined ? { stop: r.stop } : {}),
      ...(r.responseFormat?.type === "json_schema" && r.responseFormat.schema
        ? {
            jsonSchema: {
              name: r.responseFormat.name ?? "response",
              schema: r.responseFormat.schema,
              ...(r.responseFormat.strict !== undefined ? { strict: r.responseFormat.strict } : {}),
            },
          }
        : {}),
    },
  };
}

async function callAndScore(
  unit: WorkUnit,
  variant: RunnableVariant,
  request: ChatRequest,
  { signal, now }: UnitContext,
): Promise<UnitOutcome> {
  const base = baseRecord(unit);
  const r = variant.resolved;
  let completion;
  try {
    completion = await variant.client.complete(request, { signal });
  } catch (error) {
    const message = `${unit.key}: ${errorMessage(error)}`;
    if (signal.aborted) return { kind: "aborted", message };
    if (isRetryableLlmError(error)) return { kind: "transient", message };
    if (error instanceof LlmMalformedResponseError || error instanceof LlmHttpError) {
      if (error instanceof LlmHttpError && [401, 403, 404].includes(error.status)) {
        return { kind: "fatal", message: `model ${r.model}: ${errorMessage(error)}` };
      }
      // The request itself is wrong (400, 422) or the answer was unreadable but maybe billed: record
      // it as failed so it is neither retried nor paid for twice.
      return {
        kind: "record",
        record: {
          ...base,
          latencyMs: null,
          costUSD: null,
          calls: error instanceof LlmMalformedResponseError ? 1 : 0,
          error: errorMessage(error),
          scores: {},
        },
      };
    }
    return { kind: "transient", message };
  }
  const answeredAt = now();
  const scores: Record<string, ScoreRecord> = {};
  for (const evaluator of variant.evaluators) {
    const result = await evaluator.evaluate(
      {
        item: { id: unit.item.id, input: unit.item.vars, expected: unit.item.expected },
        output: completion.content,
        latencyMs: completion.latencyMs,
        costUSD: completion.costUSD,
      },
      { signal },
    );
    scores[evaluator.name] = {
      score: result.score,
      passed: result.passed,
      ...(result.error !== undefined ? { error: result.error } : {}),
    };
  }
  return {
    kind: "record",
    record: {
      ...base,
      output: completion.content === null ? null : completion.content.slice(0, outputLimit),
      latencyMs: Math.round(completion.latencyMs * 1000) / 1000,
      costUSD: completion.costUSD,
      ...(completion.usage
        ? {
            usage: {
              inputTokens: completion.usage.inputTokens,
              outputTokens: completion.usage.outputTokens,
            },
          }
        : {}),
      at: answeredAt,
      calls: 1,
      scores,
    },
  };
}
