import { describe, expect, it } from "vitest";
import {
  MaxOfRateLimiter,
  PerKeyExponentialBackoff,
  TokenBucket,
  exponentialDelay,
  jitter,
} from "./backoff.js";
import { FakeClock } from "./clock.js";

describe("exponentialDelay", () => {
  const cases = [
    { name: "first failure is the base", failures: 0, want: 5 },
    { name: "doubles", failures: 1, want: 10 },
    { name: "keeps doubling", failures: 10, want: 5120 },
    { name: "caps at max", failures: 17, want: 300_000 },
    { name: "huge counts stay at max (no Infinity)", failures: 10_000, want: 300_000 },
    { name: "negative counts are the base", failures: -3, want: 5 },
  ];
  it.each(cases)("$name", ({ failures, want }) => {
    expect(exponentialDelay({ baseMs: 5, maxMs: 300_000, failures })).toBe(want);
  });
});

describe("jitter", () => {
  const cases = [
    { name: "random 0 keeps the value", ms: 1000, factor: 0.1, random: 0, want: 1000 },
    {
      name: "random near 1 adds almost the factor",
      ms: 1000,
      factor: 0.1,
      random: 0.999,
      want: 1100,
    },
    { name: "half way", ms: 60_000, factor: 0.2, random: 0.5, want: 66_000 },
    { name: "factor 0 disables", ms: 1000, factor: 0, random: 0.7, want: 1000 },
    { name: "zero stays zero", ms: 0, factor: 0.5, random: 0.7, want: 0 },
  ];
  it.each(cases)("$name", ({ ms, factor, random, want }) => {
    expect(jitter(ms, { factor, random: () => random })).toBe(want);
  });

  it("never goes below the value nor reaches value × (1 + factor)", () => {
    for (let i = 0; i < 1000; i++) {
      const value = jitter(10_000, { factor: 0.1, random: Math.random });
      expect(value).toBeGreaterThanOrEqual(10_000);
      expect(value).toBeLessThanOrEqual(11_000);
    }
  });
});

describe("PerKeyExponentialBackoff", () => {
  it("counts failures per key and resets on forget", () => {
    const limiter = new PerKeyExponentialBackoff({ baseMs: 5, maxMs: 40 });
    expect([1, 2, 3, 4, 5].map(() => limiter.when("a"))).toEqual([5, 10, 20, 40, 40]);
    expect(limiter.retries("a")).toBe(5);
    expect(limiter.when("b")).toBe(5);
    limiter.forget("a");
    expect(limiter.retries("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
  });

  it("defaults to 5 ms → 5 min", () => {
    const limiter = new PerKeyExponentialBackoff();
    let last = 0;
    for (let i = 0; i < 30; i++) last = limiter.when("k");
    expect(last).toBe(300_000);
  });
});

describe("TokenBucket", () => {
  it("lets the burst through, then paces at the rate, and refills with time", () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ clock, ratePerSecond: 2, burst: 3 });
    expect([1, 2, 3].map(() => bucket.when("x"))).toEqual([0, 0, 0]);
    expect(bucket.when("x")).toBe(500);
    expect(bucket.when("x")).toBe(1000);
    clock.advance(1000);
    // Two tokens refilled, both already reserved: the next waits 500 ms.
    expect(bucket.when("x")).toBe(500);
    clock.advance(10_000);
    // Refill is capped at the burst size.
    expect([1, 2, 3].map(() => bucket.when("x"))).toEqual([0, 0, 0]);
    expect(bucket.when("x")).toBe(500);
  });
});

describe("MaxOfRateLimiter", () => {
  it("waits for the slowest limiter and forgets in all of them", () => {
    const clock = new FakeClock();
    const perKey = new PerKeyExponentialBackoff({ baseMs: 100, maxMs: 10_000 });
    const limiter = new MaxOfRateLimiter([
      perKey,
      new TokenBucket({ clock, ratePerSecond: 1, burst: 1 }),
    ]);
    expect(limiter.when("a")).toBe(100);
    expect(limiter.when("a")).toBe(1000);
    expect(limiter.retries("a")).toBe(2);
    limiter.forget("a");
    expect(perKey.retries("a")).toBe(0);
  });
});
