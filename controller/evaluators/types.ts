// What every evaluator takes and returns. A result with `error` means the evaluator could not
// decide (judge unreachable, webhook down, unparseable judge reply): it is excluded from the
// statistics, never counted as a zero.

/** One dataset item as the evaluators see it. */
export interface EvaluationItem {
  id: string;
  /** The item's input variables (what the prompt was rendered from). */
  input?: unknown;
  /** The reference answer, when the dataset has one. */
  expected?: unknown;
}

/** A model output and what it cost, to be scored. */
export interface EvaluationInput {
  item: EvaluationItem;
  /** The model's text; null when it returned none. */
  output: string | null;
  latencyMs?: number | null;
  costUSD?: number | null;
}

/** The verdict of one evaluator on one output. */
export interface EvaluationResult {
  /** Higher is better; null when the evaluator could not score. */
  score: number | null;
  /** Pass/fail; null when undecided (error, or no threshold configured). */
  passed: boolean | null;
  /** Why the evaluator could not decide; absent on success. */
  error?: string;
  /** Evaluator-specific facts for the per-item record (judge reason, parsed number, …). */
  detail?: Record<string, unknown>;
}

/** Per-call options. */
export interface EvaluateOptions {
  signal?: AbortSignal;
}

/** A configured evaluator. */
export interface Evaluator {
  /** Name from the spec, used as the metric name. */
  readonly name: string;
  readonly kind: string;
  /** Scores one output. Never throws for a bad output or an unreachable dependency: see `error`. */
  evaluate(input: EvaluationInput, options?: EvaluateOptions): Promise<EvaluationResult>;
}

/** An evaluator spec that cannot work (bad regex, invalid schema, empty rubric): fix the spec. */
export class EvaluatorConfigError extends Error {
  override name = "EvaluatorConfigError";
}

/** A passed/failed result scored 1/0. */
export function verdict(passed: boolean, detail?: Record<string, unknown>): EvaluationResult {
  return detail === undefined
    ? { score: passed ? 1 : 0, passed }
    : { score: passed ? 1 : 0, passed, detail };
}

/** An undecided result. */
export function failure(error: string, detail?: Record<string, unknown>): EvaluationResult {
  return detail === undefined
    ? { score: null, passed: null, error }
    : { score: null, passed: null, error, detail };
}

/** The reference answer as text, or null when the item has none. */
export function expectedText(item: EvaluationItem): string | null {
  const e = item.expected;
  if (e === undefined || e === null) return null;
  if (typeof e === "string") return e;
  if (typeof e === "number" || typeof e === "boolean") return String(e);
  return JSON.stringify(e);
}
