import { describe, expect, it } from "vitest";
import { EndpointConcurrency, Semaphore, endpointKey } from "./concurrency.js";

describe("Semaphore", () => {
  it("admits up to the limit and serves waiters in arrival order", async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    await s.acquire();
    const order: string[] = [];
    const w1 = s.acquire().then((release) => {
      order.push("w1");
      return release;
    });
    const w2 = s.acquire().then((release) => {
      order.push("w2");
      return release;
    });
    expect(s.inUse).toBe(2);
    expect(s.waiting).toBe(2);
    r1();
    (await w1)();
    await w2;
    expect(order).toStrictEqual(["w1", "w2"]);
    expect(s.inUse).toBe(2);
  });

  it("ignores a second release of the same permit", async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    release();
    release();
    expect(s.inUse).toBe(0);
    await s.acquire();
    expect(s.inUse).toBe(1);
  });

  it("drops a waiter whose signal aborts", async () => {
    const s = new Semaphore(1);
    const release = await s.acquire();
    const controller = new AbortController();
    const waiting = s.acquire(controller.signal);
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    expect(s.waiting).toBe(0);
    release();
    expect(s.inUse).toBe(0);
  });

  it("rejects a limit below one", () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
  });
});

describe("EndpointConcurrency", () => {
  it("shares one semaphore per endpoint", () => {
    const c = new EndpointConcurrency({ defaultLimit: 4, limits: { "http://a:8000/v1": 32 } });
    expect(c.for("http://a:8000/v1/")).toBe(c.for("http://a:8000/v1"));
    expect(c.for("http://a:8000/v1").limit).toBe(32);
    expect(c.for("http://b/v1").limit).toBe(4);
  });

  it("keys endpoints without credentials or query", () => {
    expect(endpointKey("https://user:secret@api.example.com/v1/?x=1")).toBe(
      "https://api.example.com/v1",
    );
  });
});
