// The `Retry-After` header (RFC 9110 §10.2.3), read once for every client that honours it: the
// apiserver transport (kube/) and the model client (backends/llm/). It imports nothing, so the
// layer below runtime/ can use it without depending on the rest of runtime/.

/**
 * Milliseconds a `Retry-After` value asks the client to wait: delta-seconds (`"120"`; fractions
 * such as `"0.5"` are accepted, as some proxies send them) or an HTTP date, counted from `nowMs`.
 * Undefined when absent or unparseable; never negative (a date in the past means "now").
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  // Only something that looks like an HTTP date: Date.parse would read "-5" as a year.
  if (!/[a-z]/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
