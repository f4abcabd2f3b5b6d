// Retry pacing for LLM calls: exponential backoff with jitter, unless the server said how long to
// wait. Pure, so the schedule is tested without sleeping.
import { exponentialDelay, jitter } from "../../runtime/backoff.js";

/** How the client retries. */
export interface RetryPolicy {
  /** Retries after the first attempt; default 4 (so at most 5 attempts). */
  maxRetries: number;
  /** First backoff, ms; default 500. */
  baseDelayMs: number;
  /** Backoff cap, ms; default 30 s. */
  maxDelayMs: number;
  /** Jitter spreads a delay d to [d, d·(1 + factor)); default 0.5. */
  jitterFactor: number;
  /**
   * A Retry-After longer than this is not waited out inside one call (it would hold a worker for
   * minutes): the call fails with the delay attached, for the caller to requeue. Default 60 s.
   */
  maxRetryAfterMs: number;
}

/** The defaults described on RetryPolicy. */
export function defaultRetryPolicy(): RetryPolicy {
  return {
    maxRetries: 4,
    baseDelayMs: 500,
    maxDelayMs: 30_000,
    jitterFactor: 0.5,
    maxRetryAfterMs: 60_000,
  };
}

/**
 * Milliseconds a response asks the client to wait: `retry-after-ms` (OpenAI/Azure), else
 * `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3). Null when absent or unparseable;
 * never negative.
 */
export function parseRetryAfter(
  headers: { get(name: string): string | null } | undefined,
  nowMs: number,
): number | null {
  if (headers === undefined) return null;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.max(0, Number(ms));
  const value = headers.get("retry-after")?.trim();
  if (value === undefined || value === "") return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.max(0, Number(value) * 1000);
  // Only something that looks like an HTTP date: Date.parse would read "-5" as a year.
  if (!/[a-z]/i.test(value)) return null;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - nowMs);
}

/** Backoff before retry number `retry` (0-based): base·2^retry capped, then jittered. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number): number {
  const base = exponentialDelay({
    baseMs: policy.baseDelayMs,
    maxMs: policy.maxDelayMs,
    failures: retry,
  });
  return jitter(base, { factor: policy.jitterFactor, random });
}
