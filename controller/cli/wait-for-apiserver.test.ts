import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { FakeClock } from "../runtime/clock.js";
import { waitForApiServer } from "./wait-for-apiserver.js";

function capturingLogger() {
  const lines: { level: number; msg: string; retryInSeconds?: number; attempt?: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

/** Fires the one pending retry timer once the loop has set it. */
async function fireNextRetry(clock: FakeClock): Promise<number> {
  await vi.waitFor(() => {
    expect(clock.pendingDelays()).toHaveLength(1);
  });
  const delay = clock.pendingDelays()[0] ?? 0;
  clock.advance(delay);
  return delay;
}

const server = "https://127.0.0.1:1";

describe("waitForApiServer", () => {
  it("retries with exponential backoff up to the cap, one log line per failed attempt", async () => {
    const clock = new FakeClock();
    const { logger, lines } = capturingLogger();
    let calls = 0;
    const waiting = waitForApiServer({
      probe: () => {
        calls++;
        return calls <= 6
          ? Promise.reject(new Error("GET /version: connect ECONNREFUSED 127.0.0.1:1"))
          : Promise.resolve();
      },
      server,
      logger,
      clock,
      stop: new AbortController().signal,
      baseMs: 1000,
      maxMs: 10_000,
    });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) delays.push(await fireNextRetry(clock));
    expect(await waiting).toBe(true);
    expect(delays).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    await vi.waitFor(() => {
      expect(lines).toHaveLength(7);
    });
    expect(lines[0]?.msg).toBe(
      "cannot reach the Kubernetes API server at https://127.0.0.1:1: GET /version: connect " +
        "ECONNREFUSED 127.0.0.1:1; next retry in 1 s",
    );
    expect(lines.slice(0, 6).map((l) => [l.attempt, l.retryInSeconds])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
      [4, 8],
      [5, 10],
      [6, 10],
    ]);
    expect(lines[6]?.msg).toBe("reached the Kubernetes API server at https://127.0.0.1:1");
  });

  it("says nothing when the first attempt succeeds", async () => {
    const { logger, lines } = capturingLogger();
    const ok = await waitForApiServer({
      probe: () => Promise.resolve(),
      server,
      logger,
      clock: new FakeClock(),
      stop: new AbortController().signal,
    });
    expect(ok).toBe(true);
    expect(lines).toEqual([]);
  });

  it("stops waiting when stopped, without another attempt", async () => {
    const clock = new FakeClock();
    const { logger } = capturingLogger();
    const stop = new AbortController();
    let calls = 0;
    const waiting = waitForApiServer({
      probe: () => {
        calls++;
        return Promise.reject(new Error("down"));
      },
      server,
      logger,
      clock,
      stop: stop.signal,
    });
    await vi.waitFor(() => {
      expect(clock.pendingDelays()).toHaveLength(1);
    });
    stop.abort();
    expect(await waiting).toBe(false);
    expect(calls).toBe(1);
  });
});
