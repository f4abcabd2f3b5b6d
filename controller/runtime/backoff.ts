// Retry pacing, as client-go's workqueue rate limiters: per-key exponential backoff, a global
// token bucket so a burst of failures cannot hammer the apiserver, and jitter for periodic
// requeues so objects created together do not reconcile in lockstep forever.
import type { Clock } from "./clock.js";

/** `baseMs * 2^failures`, capped at `maxMs` (and safe for large failure counts). */
export function exponentialDelay(options: {
  baseMs: number;
  maxMs: number;
  failures: number;
}): number {
  const { baseMs, maxMs, failures } = options;
  if (failures <= 0) return baseMs;
  // 2^64 already dwarfs any sane cap; clamping avoids Infinity arithmetic.
  const exp = Math.min(failures, 64);
  return Math.min(maxMs, baseMs * 2 ** exp);
}

/**
 * Spreads `ms` to `[ms, ms * (1 + factor))`, like wait.Jitter in apimachinery. `random` returns a
 * number in [0, 1) and is injected so tests are exact.
 */
export function jitter(ms: number, options: { factor: number; random: () => number }): number {
  if (ms <= 0 || options.factor <= 0) return ms;
  return Math.round(ms + options.random() * options.factor * ms);
}

export interface RateLimiter {
  /** How long to wait before retrying `key`; counts a failure. */
  when(key: string): number;
  /** Failures counted for `key` since the last forget. */
  retries(key: string): number;
  /** Resets `key` after a success (or a terminal error). */
  forget(key: string): void;
}

/** Per-key exponential backoff: base, 2·base, 4·base … capped at max. */
export class PerKeyExponentialBackoff implements RateLimiter {
  private readonly failures = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(options: { baseMs?: number; maxMs?: number } = {}) {
    this.baseMs = options.baseMs ?? 5;
    this.maxMs = options.maxMs ?? 5 * 60_000;
  }

  when(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    return exponentialDelay({ baseMs: this.baseMs, maxMs: this.maxMs, failures });
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }
}

/**
 * A global token bucket (golang.org/x/time/rate semantics with reservations): `burst` retries go
 * through at once, after that one every `1/ratePerSecond` s. Tokens may go negative; the delay
 * returned is when this reservation's token exists.
 */
export class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number;
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly clock: Clock;

  constructor(options: { ratePerSecond?: number; burst?: number; clock: Clock }) {
    this.ratePerMs = (options.ratePerSecond ?? 10) / 1000;
    this.burst = options.burst ?? 100;
    this.tokens = this.burst;
    this.clock = options.clock;
    this.last = options.clock.now();
  }

  when(_key: string): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.ratePerMs);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.ratePerMs);
  }

  retries(_key: string): number {
    return 0;
  }

  forget(_key: string): void {
    // The bucket is global: a success does not refund tokens.
  }
}

/** The longest delay of several limiters (controller-runtime's default combination). */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(limiters: readonly RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    let delay = 0;
    for (const limiter of this.limiters) delay = Math.max(delay, limiter.when(key));
    return delay;
  }

  retries(key: string): number {
    let retries = 0;
    for (const limiter of this.limiters) retries = Math.max(retries, limiter.retries(key));
    return retries;
  }

  forget(key: string): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }
}

export interface DefaultRateLimiterOptions {
  clock: Clock;
  baseMs?: number;
  maxMs?: number;
  ratePerSecond?: number;
  burst?: number;
}

/** Per-key 5 ms → 5 min, globally 10 retries/s with a burst of 100. */
export function defaultRateLimiter(options: DefaultRateLimiterOptions): RateLimiter {
  return new MaxOfRateLimiter([
    new PerKeyExponentialBackoff({ baseMs: options.baseMs, maxMs: options.maxMs }),
    new TokenBucket({
      clock: options.clock,
      ratePerSecond: options.ratePerSecond,
      burst: options.burst,
    }),
  ]);
}
