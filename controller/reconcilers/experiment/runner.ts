// Runs one batch of work units: render, call the model, score, with at most `concurrency` calls in
// flight and the budget checked before every call. Results come back as records for the reconciler
// to persist; nothing here writes to the cluster.
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
  const records: ResultRecord[] = [];
  const transient: string[] = [];
  let fatal: string | null = null;
  let budgetReached: string | null = null;
  const spent: Spent = { ...options.spent };
  let next = 0;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.signal.aborted || options.stopping?.aborted || fatal !== null) return;
      if (options.deadline !== undefined && options.now() >= options.deadline) return;
      budgetReached = budgetExhausted(options.budget, spent);
      if (budgetReached !== null) return;
      const unit = options.units[next++];
      if (unit === undefined) return;
      const variant = options.variants.get(unit.variant);
      if (variant === undefined) continue;
      spent.calls += 1; // reserve the call before awaiting, so maxCalls holds under concurrency
      const outcome = await runUnit(unit, variant, options);
      if (outcome.kind === "record") {
        records.push(outcome.record);
        spent.calls += outcome.record.calls - 1;
        spent.costUSD += outcome.record.costUSD ?? 0;
      } else {
        spent.calls -= 1;
        if (outcome.kind === "transient") transient.push(outcome.message);
        else if (outcome.kind === "fatal") fatal = outcome.message;
      }
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, options.units.length));
  await Promise.all(Array.from({ length: workers }, () => worker()));
  return { records, transient, fatal, budgetReached };
}

type UnitOutcome =
  | { kind: "record"; record: ResultRecord }
  | { kind: "transient" | "fatal" | "aborted"; message: string };

interface UnitContext {
  signal: AbortSignal;
  journal?: CallJournal;
  now: () => number;
}

async function runUnit(
  unit: WorkUnit,
  variant: RunnableVariant,
  context: UnitContext,
): Promise<UnitOutcome> {
  const { journal } = context;
  const outcome = await callAndScore(unit, variant, context);
  if (journal !== undefined && outcome.kind !== "unsent") {
    // An aborted call keeps its claim: it may have reached the model, so it is never re-sent.
    if (outcome.kind === "record") journal.complete(outcome.record);
    else if (outcome.kind !== "aborted") journal.release(unit.key);
  }
  return outcome.kind === "unsent" ? { kind: "transient", message: outcome.message } : outcome;
}

async function callAndScore(
  unit: WorkUnit,
  variant: RunnableVariant,
  { signal, journal, now }: UnitContext,
): Promise<UnitOutcome | { kind: "unsent"; message: string }> {
  const base = {
    key: unit.key,
    variant: unit.variant,
    item: unit.item.id,
    repetition: unit.repetition,
  };
  const vars = itemVariables(variant.resolved, unit.item);
  if (!vars.ok) {
    return {
      kind: "record",
      record: {
        ...base,
        latencyMs: null,
        costUSD: null,
        calls: 0,
        error: `no value for ${vars.missing.join(", ")}`,
        scores: {},
      },
    };
  }
  const r = variant.resolved;
  const request: ChatRequest = {
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
  };
  if (journal !== undefined) {
    try {
      await journal.claim(unit.key);
    } catch (error) {
      return {
        kind: "unsent",
        message: `${unit.key}: not sent, the call journal could not be written: ${errorMessage(error)}`,
      };
    }
  }
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
