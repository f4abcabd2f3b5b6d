// Retry pacing for LLM calls: exponential backoff with jitter, unless the server said how long to
// wait. Pure, so the schedule is tested without sleeping.
import { exponentialDelay, jitter } from "../../runtime/backoff.js";
import { parseRetryAfter } from "../../runtime/retry-after.js";

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
 * `Retry-After` (delta-seconds or an HTTP date, read by the one parser every client shares).
 * Null when absent or unparseable; never negative.
 */
export function retryAfterFromHeaders(
  headers: { get(name: string): string | null } | undefined,
  nowMs: number,
): number | null {
  if (headers === undefined) return null;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Number(ms);
  return parseRetryAfter(headers.get("retry-after"), nowMs) ?? null;
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
