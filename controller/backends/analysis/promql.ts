// The pure half of the Prometheus provider: the query a metric asks for ({{revision}} and
// {{service}} filled in), and what an instant-query response (GET /api/v1/query) means as one
// number. Prometheus' HTTP API: https://prometheus.io/docs/prometheus/latest/querying/api/
import { readableExcerpt } from "../llm/errors.js";
import type { Measurement } from "./provider.js";

/** What {{revision}} and {{service}} stand for. */
export interface QueryVariables {
  revision: string;
  service: string;
}

/**
 * `value` escaped for use inside a quoted PromQL string literal, so that a name can never end the
 * literal early. Quotes become hex escapes (`\x22`, `\x27`), which PromQL reads the same inside
 * "…" and '…' (an escaped quote of the other kind is a parse error there); backslashes and
 * control characters are escaped too. Not a regex escape: inside `=~"…"` the value still reads as
 * a regular expression; inside a raw `…` string nothing is unescaped.
 */
export function promqlString(value: string): string {
  // Control characters are exactly what this pattern is for.
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\\"'\u0000-\u001f\u007f]/g, (c) => {
    switch (c) {
      case "\\":
        return "\\\\";
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
}

const placeholder = /\{\{\s*(revision|service)\s*\}\}/g;

/** `query` with each {{revision}} and {{service}} (spaces inside the braces allowed) replaced, escaped for a PromQL string. */
export function renderQuery(query: string, variables: QueryVariables): string {
  return query.replace(placeholder, (_match, name: string) =>
    promqlString(name === "revision" ? variables.revision : variables.service),
  );
}

interface Sample {
  metric?: Record<string, string>;
  value?: [number, string];
}

/** A sample value as Prometheus writes it ("0.5", "NaN", "+Inf", "-Inf"): a finite number or an error. */
export function sampleValue(text: unknown): Measurement {
  if (typeof text !== "string") return { ok: false, error: "the sample has no value" };
  if (text === "NaN") {
    return { ok: false, error: "the result is NaN (a division by zero, such as no requests yet)" };
  }
  if (text === "+Inf" || text === "-Inf" || text === "Inf") {
    return { ok: false, error: `the result is ${text}` };
  }
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    return { ok: false, error: `the result "${readableExcerpt(text, 40)}" is not a number` };
  }
  return { ok: true, value };
}

function labels(sample: Sample): string {
  const entries = Object.entries(sample.metric ?? {});
  return `{${entries.map(([k, v]) => `${k}="${v}"`).join(", ")}}`;
}

/**
 * What a GET /api/v1/query response means: a vector of exactly one sample or a scalar gives its
 * value; no sample ("empty result"), several, a range vector, a string, NaN or ±Inf are errors,
 * as are HTTP errors (with Prometheus' own `errorType` and `error` when the body has them).
 */
export function readQueryResponse(response: { status: number; body: string }): Measurement {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body);
  } catch {
    const said = readableExcerpt(response.body);
    return {
      ok: false,
      error:
        response.status >= 400
          ? `HTTP ${String(response.status)}${said === "" ? "" : `: ${said}`}`
          : `the response is not JSON: ${said}`,
    };
  }
  const envelope = (parsed ?? {}) as {
    status?: unknown;
    errorType?: unknown;
    error?: unknown;
    data?: { resultType?: unknown; result?: unknown };
  };
  if (response.status >= 400 || envelope.status !== "success") {
    const type = typeof envelope.errorType === "string" ? ` ${envelope.errorType}` : "";
    const error =
      typeof envelope.error === "string"
        ? readableExcerpt(envelope.error, 500)
        : readableExcerpt(response.body);
    return { ok: false, error: `HTTP ${String(response.status)}${type}: ${error}` };
  }
  const { resultType, result } = envelope.data ?? {};
  switch (resultType) {
    case "scalar":
      return sampleValue(Array.isArray(result) ? result[1] : undefined);
    case "vector": {
      const samples = Array.isArray(result) ? (result as Sample[]) : [];
      const [first] = samples;
      if (first === undefined) return { ok: false, error: "empty result (no series matched)" };
      if (samples.length > 1) {
        const shown = samples.slice(0, 3).map(labels).join(", ");
        return {
          ok: false,
          error:
            `the result has ${String(samples.length)} series, not one (${shown}${samples.length > 3 ? ", …" : ""}); ` +
            `aggregate it, e.g. with sum() or avg()`,
        };
      }
      return sampleValue(first.value?.[1]);
    }
    case "matrix":
      return {
        ok: false,
        error:
          "the result is a range vector; measure one number, e.g. with rate(x[5m]) or avg_over_time(x[5m])",
      };
    case "string":
      return { ok: false, error: "the result is a string, not a number" };
    default:
      return {
        ok: false,
        error: `unknown resultType ${resultType === undefined ? "none" : JSON.stringify(resultType)} in the response`,
      };
  }
}
