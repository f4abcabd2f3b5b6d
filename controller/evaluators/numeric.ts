// Numeric tolerance: the output's number is close enough to the reference. Pure.
import {
  expectedText,
  failure,
  verdict,
  type EvaluationInput,
  type EvaluationResult,
} from "./types.js";

/** How to find the number in the output. */
export type NumberExtraction = "strict" | "first" | "last";

// Accepts 1,234.5 / -3 / 2.5e-3; thousands separators only in groups of three.
const NUMBER =
  /[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?/g;

/**
 * The number in `text`: `strict` needs the whole (trimmed) text to be one number; `first`/`last`
 * take the first/last number anywhere ("The answer is 42." → 42). Null when there is none.
 */
export function extractNumber(text: string, extraction: NumberExtraction = "last"): number | null {
  const parse = (s: string): number => Number(s.replace(/,/g, ""));
  if (extraction === "strict") {
    const trimmed = text.trim();
    if (trimmed === "") return null;
    const value = parse(trimmed);
    return Number.isFinite(value) ? value : null;
  }
  const matches = text.match(NUMBER);
  if (matches === null) return null;
  const pick = extraction === "first" ? matches[0] : matches[matches.length - 1];
  if (pick === undefined) return null;
  const value = parse(pick);
  return Number.isFinite(value) ? value : null;
}

/** Options of the numeric evaluator; with neither tolerance the numbers must be equal. */
export interface NumericOptions {
  /** |output − expected| ≤ absoluteTolerance passes. */
  absoluteTolerance?: number;
  /** |output − expected| ≤ relativeTolerance · |expected| passes. */
  relativeTolerance?: number;
  extraction?: NumberExtraction;
  /** Reference value; default the item's expected answer. */
  value?: number;
}

/** numeric: passes when either tolerance is met. */
export function numericTolerance(
  input: EvaluationInput,
  options: NumericOptions = {},
): EvaluationResult {
  const text = expectedText(input.item);
  const expected = options.value ?? (text === null ? null : extractNumber(text, "strict"));
  if (expected === null) return failure(`item ${input.item.id} has no numeric expected answer`);
  if (input.output === null) return verdict(false, { reason: "no output" });
  const actual = extractNumber(input.output, options.extraction);
  if (actual === null) return verdict(false, { reason: "no number in output" });
  const error = Math.abs(actual - expected);
  const passed =
    error <= (options.absoluteTolerance ?? 0) ||
    error <= (options.relativeTolerance ?? 0) * Math.abs(expected);
  return verdict(passed, { actual, expected, absoluteError: error });
}
