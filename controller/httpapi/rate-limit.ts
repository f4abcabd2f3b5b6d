// Per-client rate limits: a token bucket per key (the authenticated user, or the remote address
// for requests not yet authenticated), `ratePerSecond` refilled up to `burst`. Buckets idle long
// enough to be full again are forgotten, so the table stays as large as the set of active clients.
import type { Clock } from "../runtime/clock.js";

export interface RateLimitOptions {
  ratePerSecond: number;
  burst: number;
  clock: Clock;
  /** Buckets kept at most; the oldest are dropped beyond it. Default 100,000. */
  maxClients?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new RangeError(
        `rate limit must be positive with a burst of at least 1 (got ${String(options.ratePerSecond)}/s, burst ${String(options.burst)})`,
      );
    }
    this.#options = options;
  }

  /** Takes one token for `key`: 0 when allowed, else the seconds until one is available. */
  take(key: string): number {
    const { ratePerSecond, burst, clock } = this.#options;
    const now = clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= (this.#options.maxClients ?? 100_000)) this.#evict(now);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond));
  }

  #evict(now: number): void {
    const fullAfterMs = (this.#options.burst / this.#options.ratePerSecond) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at >= fullAfterMs) this.#buckets.delete(key);
    }
    // Still full of active clients: drop the oldest entries (Map keeps insertion order).
    const excess = this.#buckets.size - (this.#options.maxClients ?? 100_000) + 1;
    let dropped = 0;
    for (const key of this.#buckets.keys()) {
      if (dropped >= excess) break;
      this.#buckets.delete(key);
      dropped += 1;
    }
  }
}
