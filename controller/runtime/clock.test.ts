import { describe, expect, it } from "vitest";
import { FakeClock, sleep } from "./clock.js";

describe("FakeClock", () => {
  it("fires due timers in time order, including timers set by timers", () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.setTimer(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimer(() => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(() => fired.push(`c@${clock.now()}`), 5);
    }, 10);
    const cancelled = clock.setTimer(() => fired.push("never"), 15);
    cancelled.cancel();
    clock.advance(30);
    expect(fired).toEqual(["a@1010", "c@1015", "b@1020"]);
    expect(clock.now()).toBe(1030);
    expect(clock.pendingDelays()).toEqual([]);
  });

  it("keeps creation order for timers due at the same time", () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    for (let i = 0; i < 5; i++) clock.setTimer(() => fired.push(i), 10);
    clock.advance(10);
    expect(fired).toEqual([0, 1, 2, 3, 4]);
  });
});

describe("sleep", () => {
  it("resolves when the clock reaches the deadline", async () => {
    const clock = new FakeClock();
    let done = false;
    const pending = sleep(clock, 100).then(() => {
      done = true;
    });
    clock.advance(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await pending;
    expect(done).toBe(true);
  });

  it("resolves early, without rejecting, when the signal aborts", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const pending = sleep(clock, 1_000_000, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBeUndefined();
    expect(clock.pendingDelays()).toEqual([]);
  });
});
