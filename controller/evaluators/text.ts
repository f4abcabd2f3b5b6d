// Text evaluators: exact match with normalisation, substring containment and regular expressions.
// Pure: no I/O.
import {
  EvaluatorConfigError,
  expectedText,
  failure,
  verdict,
  type EvaluationInput,
  type EvaluationResult,
} from "./types.js";

/** How to normalise both sides before comparing. All off by default. */
export interface NormalizeOptions {
  trim?: boolean;
  caseInsensitive?: boolean;
  /** Runs of whitespace (including newlines) become one space. */
  collapseWhitespace?: boolean;
  /** Removes Unicode punctuation (\p{P}); symbols such as $ or + are kept. */
  stripPunctuation?: boolean;
}

/** Applies `options` to `text`, in an order that makes the options independent of each other. */
export function normalizeText(text: string, options: NormalizeOptions = {}): string {
  let out = text.normalize("NFC");
  if (options.stripPunctuation === true) out = out.replace(/\p{P}/gu, "");
  if (options.collapseWhitespace === true) out = out.replace(/\s+/gu, " ");
  if (options.trim === true || options.collapseWhitespace === true) out = out.trim();
  if (options.caseInsensitive === true) out = out.toLocaleLowerCase("en-US");
  return out;
}

/** exactMatch: output equals the reference (or `value`) after normalisation; with `field`, only
 * that JSON Pointer of a JSON answer is compared (with the same pointer into a JSON expected
 * value, or with a scalar expected value as it is). */
export function exactMatch(
  input: EvaluationInput,
  options: { value?: string; normalize?: NormalizeOptions; field?: string } = {},
): EvaluationResult {
  const expected = options.value ?? expectedText(input.item);
  if (expected === null) return failure(`item ${input.item.id} has no expected answer to match`);
  if (input.output === null) return verdict(false, { reason: "no output" });
  if (options.field !== undefined) return fieldMatch(input, options.field, options);
  const a = normalizeText(input.output, options.normalize);
  const b = normalizeText(expected, options.normalize);
  return verdict(a === b);
}

/** Undefined when `pointer` (RFC 6901) does not resolve in `value`. */
export function resolvePointer(value: unknown, pointer: string): unknown {
  if (pointer === "") return value;
  let current = value;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(current)) current = current[Number(token)];
    else if (typeof current === "object" && current !== null) {
      current = Object.hasOwn(current, token)
        ? (current as Record<string, unknown>)[token]
        : undefined;
    } else return undefined;
  }
  return current;
}

/** A model's JSON answer, also when wrapped in a ```json fence. */
function parseJsonAnswer(text: string): { ok: true; value: unknown } | { ok: false } {
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/u.exec(text);
  try {
    return { ok: true, value: JSON.parse(fenced?.[1] ?? text) };
  } catch {
    return { ok: false };
  }
}

function scalarText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function fieldMatch(
  input: EvaluationInput,
  field: string,
  options: { value?: string; normalize?: NormalizeOptions },
): EvaluationResult {
  const answer = parseJsonAnswer(input.output ?? "");
  if (!answer.ok) return verdict(false, { reason: "the answer is not JSON" });
  const got = resolvePointer(answer.value, field);
  if (got === undefined) return verdict(false, { reason: `the answer has no ${field}` });
  const reference = options.value ?? input.item.expected;
  const want =
    typeof reference === "object" && reference !== null
      ? resolvePointer(reference, field)
      : reference;
  if (want === undefined || want === null) {
    return failure(`item ${input.item.id}: the expected value has no ${field}`);
  }
  const a = normalizeText(scalarText(got), options.normalize);
  const b = normalizeText(scalarText(want), options.normalize);
  return verdict(a === b);
}

/** contains: the output contains the reference (or each/any of `values`). */
export function contains(
  input: EvaluationInput,
  options: { values?: readonly string[]; mode?: "all" | "any"; normalize?: NormalizeOptions } = {},
): EvaluationResult {
  const expected = expectedText(input.item);
  const needles = options.values ?? (expected === null ? [] : [expected]);
  if (needles.length === 0)
    return failure(`item ${input.item.id} has no expected text to look for`);
  if (input.output === null) return verdict(false, { reason: "no output" });
  const haystack = normalizeText(input.output, options.normalize);
  const found = needles.map((n) => haystack.includes(normalizeText(n, options.normalize)));
  const passed = options.mode === "any" ? found.some(Boolean) : found.every(Boolean);
  return verdict(passed, { found: found.filter(Boolean).length, of: needles.length });
}

/** Longest output a regex runs on; caps the cost of a pathological pattern on a huge output. */
export const REGEX_MAX_INPUT = 100_000;

/** Compiles a regex evaluator's pattern once; an invalid pattern is a spec error. */
export function compileRegex(pattern: string, flags = ""): RegExp {
  if (/[gy]/.test(flags)) {
    throw new EvaluatorConfigError(
      `regex flags "${flags}": g and y make matching stateful; use i, m, s or u`,
    );
  }
  try {
    return new RegExp(pattern, flags);
  } catch (error) {
    throw new EvaluatorConfigError(`regex /${pattern}/${flags} does not compile`, { cause: error });
  }
}

/** regex: the output matches (or, with `mustMatch: false`, does not match) the pattern. */
export function regexMatch(
  input: EvaluationInput,
  options: { regex: RegExp; mustMatch?: boolean },
): EvaluationResult {
  if (input.output === null) return verdict(false, { reason: "no output" });
  const text = input.output.slice(0, REGEX_MAX_INPUT);
  const matched = options.regex.test(text);
  return verdict(matched === (options.mustMatch ?? true), { matched });
}
