import { describe, expect, it } from "vitest";
import { FakeClock } from "../runtime/clock.js";
import { RateLimiter } from "./rate-limit.js";

describe("RateLimiter", () => {
  it("allows a burst, then the rate, per client", () => {
    const clock = new FakeClock(0);
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, clock });
    expect([1, 2, 3].map(() => limiter.take("a"))).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(1);
    // Another client has its own bucket.
    expect(limiter.take("b")).toBe(0);
    clock.advance(500);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(1);
    clock.advance(10_000);
    expect([1, 2, 3, 4].map(() => limiter.take("a"))).toEqual([0, 0, 0, 1]);
  });

  it("keeps at most maxClients buckets", () => {
    const clock = new FakeClock(0);
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, clock, maxClients: 2 });
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("b")).toBe(0);
    expect(limiter.take("c")).toBe(0);
    // "a" was dropped to make room: it starts full again.
    expect(limiter.take("a")).toBe(0);
  });

  it("refuses a limit that could never admit anything", () => {
    const clock = new FakeClock(0);
    expect(() => new RateLimiter({ ratePerSecond: 0, burst: 1, clock })).toThrow(/positive/);
  });
});
