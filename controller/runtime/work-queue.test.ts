import { describe, expect, it } from "vitest";
import { PerKeyExponentialBackoff, defaultRateLimiter } from "./backoff.js";
import { FakeClock } from "./clock.js";
import { WorkQueue } from "./work-queue.js";

function newQueue(clock = new FakeClock()): { queue: WorkQueue; clock: FakeClock } {
  return {
    clock,
    queue: new WorkQueue({
      clock,
      rateLimiter: new PerKeyExponentialBackoff({ baseMs: 5, maxMs: 300_000 }),
    }),
  };
}

/** Takes every ready key without waiting. */
async function takeReady(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
  }
  return keys;
}

describe("WorkQueue", () => {
  it("hands out keys in order and stores a waiting key once", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    queue.add("ns/b");
    queue.add("ns/a");
    expect(queue.length).toBe(2);
    expect(await takeReady(queue)).toEqual(["ns/a", "ns/b"]);
  });

  it("never hands out a key twice at once, and re-runs it once if added while processing", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    const first = await queue.get();
    expect(first).toBe("ns/a");
    queue.add("ns/a");
    queue.add("ns/a");
    // Still processing: not available to another worker.
    expect(queue.length).toBe(0);
    queue.done("ns/a");
    expect(queue.length).toBe(1);
    expect(await queue.get()).toBe("ns/a");
    queue.done("ns/a");
    expect(queue.length).toBe(0);
  });

  it("does not re-queue a key on done when nobody added it meanwhile", async () => {
    const { queue } = newQueue();
    queue.add("ns/a");
    await queue.get();
    queue.done("ns/a");
    expect(queue.length).toBe(0);
  });

  it("wakes a waiting getter when a key arrives", async () => {
    const { queue } = newQueue();
    const pending = queue.get();
    queue.add("ns/a");
    expect(await pending).toBe("ns/a");
    expect(queue.inFlight).toBe(1);
  });

  it("delays addAfter keys on the clock and keeps only the earliest deadline", async () => {
    const { queue, clock } = newQueue();
    queue.addAfter("ns/a", 1000);
    queue.addAfter("ns/a", 500);
    queue.addAfter("ns/a", 2000);
    expect(queue.waitingCount).toBe(1);
    clock.advance(499);
    expect(queue.length).toBe(0);
    clock.advance(1);
    expect(await takeReady(queue)).toEqual(["ns/a"]);
    // The later deadlines were dropped, not kept as extra runs.
    queue.done("ns/a");
    clock.advance(5000);
    expect(queue.length).toBe(0);
  });

  it("backs a failing key off exponentially and resets it on forget", () => {
    const { queue, clock } = newQueue();
    const delays = [1, 2, 3, 4, 5].map(() => queue.addRateLimited("ns/a"));
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(queue.numRequeues("ns/a")).toBe(5);
    queue.forget("ns/a");
    expect(queue.numRequeues("ns/a")).toBe(0);
    expect(queue.addRateLimited("ns/a")).toBe(5);
    clock.advance(5);
    expect(queue.length).toBe(1);
  });

  it("honours a minimum delay (Retry-After) over a shorter backoff", () => {
    const { queue, clock } = newQueue();
    expect(queue.addRateLimited("ns/a", { minDelayMs: 3000 })).toBe(3000);
    clock.advance(2999);
    expect(queue.length).toBe(0);
    clock.advance(1);
    expect(queue.length).toBe(1);
  });

  it("keeps backoff per key", () => {
    const { queue } = newQueue();
    queue.addRateLimited("ns/a");
    queue.addRateLimited("ns/a");
    expect(queue.addRateLimited("ns/b")).toBe(5);
  });

  it("on shutdown stops handing out work, drops waiting keys and drains in-flight ones", async () => {
    const { queue, clock } = newQueue();
    queue.add("ns/a");
    queue.add("ns/b");
    queue.addAfter("ns/c", 100);
    const inFlight = await queue.get();
    const idleGetter = new WorkQueue({
      clock,
      rateLimiter: new PerKeyExponentialBackoff(),
    });
    const pendingIdle = idleGetter.get();
    idleGetter.shutDown();
    expect(await pendingIdle).toBeUndefined();

    queue.shutDown();
    expect(await queue.get()).toBeUndefined();
    queue.add("ns/d");
    clock.advance(1000);
    expect(queue.length).toBe(0);

    let drained = false;
    const drain = queue.drain().then(() => {
      drained = true;
    });
    await Promise.resolve();
    expect(drained).toBe(false);
    queue.done(inFlight as string);
    await drain;
    expect(drained).toBe(true);
  });

  it("drain resolves at once when nothing is in flight", async () => {
    const { queue } = newQueue();
    queue.shutDown();
    await expect(queue.drain()).resolves.toBeUndefined();
  });

  it("stays correct over many keys (compaction of the ready list)", async () => {
    const { queue } = newQueue();
    for (let i = 0; i < 5000; i++) queue.add(`ns/k${i}`);
    for (let i = 0; i < 5000; i++) queue.add(`ns/k${i}`);
    expect(queue.length).toBe(5000);
    const keys = await takeReady(queue);
    expect(keys.length).toBe(5000);
    expect(keys[0]).toBe("ns/k0");
    expect(keys[4999]).toBe("ns/k4999");
  });

  it("keeps one timer for any number of delayed keys, firing them in deadline order", async () => {
    const { queue, clock } = newQueue();
    for (let i = 0; i < 1000; i++) queue.addAfter(`ns/k${i}`, 1000 + ((i * 7919) % 1000));
    // Earlier deadlines win, later ones are ignored; cancelling one leaves the others.
    queue.addAfter("ns/k5", 10);
    queue.addAfter("ns/k5", 5000);
    queue.addAfter("ns/k6", 0);
    expect(clock.pendingDelays()).toEqual([10]);
    expect(queue.waitingCount).toBe(999);
    clock.advance(10);
    expect(await takeReady(queue)).toEqual(["ns/k6", "ns/k5"]);
    expect(clock.pendingDelays()).toHaveLength(1);
    const fired: string[] = [];
    for (let t = 1000; t < 2000; t += 100) {
      clock.advance(t === 1000 ? 990 : 100);
      fired.push(...(await takeReady(queue)));
    }
    clock.advance(1000);
    fired.push(...(await takeReady(queue)));
    expect(fired).toHaveLength(998);
    const deadline = (key: string) => (Number(key.slice(4)) * 7919) % 1000;
    for (let i = 1; i < fired.length; i++) {
      expect(deadline(fired[i] as string)).toBeGreaterThanOrEqual(deadline(fired[i - 1] as string));
    }
    expect(clock.pendingDelays()).toEqual([]);
    expect(queue.waitingCount).toBe(0);
  });
});

describe("defaultRateLimiter", () => {
  it("applies the global token bucket once the burst is used up", () => {
    const clock = new FakeClock();
    const limiter = defaultRateLimiter({ clock, ratePerSecond: 10, burst: 2 });
    // Distinct keys: per-key backoff is 5 ms for each; the bucket decides.
    expect(limiter.when("a")).toBe(5);
    expect(limiter.when("b")).toBe(5);
    expect(limiter.when("c")).toBe(100);
    expect(limiter.when("d")).toBe(200);
    clock.advance(1000);
    expect(limiter.when("e")).toBe(5);
  });
});
