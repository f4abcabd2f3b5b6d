// The controller's interpretation of reconcile outcomes, with a fake clock and an in-memory
// reconcile function (no Kubernetes involved: this is queue mechanics).
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConflictError, TerminalError, TransientError } from "../kube/errors.js";
import { createLogger } from "../log/logger.js";
import { PerKeyExponentialBackoff } from "./backoff.js";
import { FakeClock } from "./clock.js";
import { Controller } from "./controller.js";
import { RuntimeMetrics } from "./metrics.js";
import type { ReconcileFunction } from "./reconciler.js";
import { WorkQueue } from "./work-queue.js";

function setup(reconcile: ReconcileFunction, options: { concurrency?: number } = {}) {
  const clock = new FakeClock();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: "debug",
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split("\n")) {
          if (line !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        cb();
      },
    }),
  });
  const queue = new WorkQueue({
    clock,
    rateLimiter: new PerKeyExponentialBackoff({ baseMs: 5, maxMs: 1000 }),
  });
  const metrics = new RuntimeMetrics({ processMetrics: false });
  const controller = new Controller({
    kind: "Prompt",
    queue,
    reconcile,
    concurrency: options.concurrency ?? 1,
    logger,
    clock,
    metrics,
    requeueJitter: 0.1,
    random: () => 0.5,
  });
  const never = new AbortController().signal;
  return { clock, queue, controller, metrics, lines, never };
}

async function counterValue(metrics: RuntimeMetrics, result: string): Promise<number> {
  const data = await metrics.reconcileTotal.get();
  return data.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe("Controller.processKey", () => {
  it("success: forgets backoff and does not requeue", async () => {
    const { controller, queue, clock, metrics, never } = setup(() => Promise.resolve(undefined));
    queue.addRateLimited("ns/a");
    clock.advance(5);
    const key = (await queue.get()) as string;
    await controller.processKey(key, never);
    expect(queue.numRequeues("ns/a")).toBe(0);
    expect(queue.length + queue.waitingCount).toBe(0);
    expect(await counterValue(metrics, "success")).toBe(1);
  });

  it("requeueAfter: schedules the key again with jitter", async () => {
    const { controller, queue, clock, metrics, never } = setup(() =>
      Promise.resolve({ requeueAfter: 60_000 }),
    );
    queue.add("ns/a");
    await controller.processKey((await queue.get()) as string, never);
    // 60 s + 0.5 × 10 % jitter.
    expect(clock.pendingDelays()).toEqual([63_000]);
    clock.advance(63_000);
    expect(queue.length).toBe(1);
    expect(await counterValue(metrics, "requeue")).toBe(1);
  });

  it("transient error: retried with growing backoff; retries counted", async () => {
    const { controller, queue, clock, metrics, never } = setup(() =>
      Promise.reject(new TransientError("apiserver unavailable")),
    );
    queue.add("ns/a");
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const key = (await queue.get()) as string;
      await controller.processKey(key, never);
      const [delay] = clock.pendingDelays();
      delays.push(delay as number);
      clock.advance(delay as number);
    }
    expect(delays).toEqual([5, 10, 20, 40]);
    expect((await metrics.workqueueRetries.get()).values[0]?.value).toBe(4);
    expect(await counterValue(metrics, "error")).toBe(4);
  });

  it("a plain Error and a ConflictError are retried too", async () => {
    for (const err of [new Error("boom"), new ConflictError("stale resourceVersion")]) {
      const { controller, queue, clock, never } = setup(() => Promise.reject(err));
      queue.add("ns/a");
      await controller.processKey((await queue.get()) as string, never);
      expect(clock.pendingDelays()).toEqual([5]);
    }
  });

  it("Retry-After from the server is honoured over a shorter backoff", async () => {
    const { controller, queue, clock, never } = setup(() =>
      Promise.reject(new TransientError("too many requests", { retryAfterMs: 2000 })),
    );
    queue.add("ns/a");
    await controller.processKey((await queue.get()) as string, never);
    expect(clock.pendingDelays()).toEqual([2000]);
  });

  it("terminal error (also when wrapped as a cause): not retried, backoff forgotten", async () => {
    const { controller, queue, clock, metrics, lines, never } = setup(() =>
      Promise.reject(
        new Error("reconcile Prompt ns/a failed", {
          cause: new TerminalError("spec.template: {{x}} is not declared", {
            reason: "InvalidTemplate",
          }),
        }),
      ),
    );
    queue.addRateLimited("ns/a");
    clock.advance(5);
    await controller.processKey((await queue.get()) as string, never);
    expect(clock.pendingDelays()).toEqual([]);
    expect(queue.length).toBe(0);
    expect(queue.numRequeues("ns/a")).toBe(0);
    expect(await counterValue(metrics, "terminal")).toBe(1);
    expect(lines.at(-1)).toMatchObject({ reason: "InvalidTemplate", msg: "reconcile stalled" });
  });

  it("binds kind, namespace and name on every reconcile log line", async () => {
    const { controller, queue, lines, never } = setup((_req, ctx) => {
      ctx.log.info("inside");
      return Promise.resolve(undefined);
    });
    queue.add("team-a/triage");
    await controller.processKey((await queue.get()) as string, never);
    const inside = lines.find((l) => l.msg === "inside");
    expect(inside).toMatchObject({ kind: "Prompt", namespace: "team-a", name: "triage" });
  });
});

describe("Controller.run", () => {
  it("never runs one key twice at once and re-runs it after an add during processing", async () => {
    const active = new Set<string>();
    const runs: string[] = [];
    let overlap = false;
    const gates: (() => void)[] = [];
    const { controller } = setup(
      async (req) => {
        const key = `${req.namespace}/${req.name}`;
        if (active.has(key)) overlap = true;
        active.add(key);
        runs.push(key);
        await new Promise<void>((resolve) => gates.push(resolve));
        active.delete(key);
        return undefined;
      },
      { concurrency: 4 },
    );
    const stop = new AbortController();
    const running = controller.run({ stop: stop.signal, hardStop: new AbortController().signal });
    controller.enqueue("ns/a");
    await waitFor(() => gates.length === 1);
    controller.enqueue("ns/a");
    controller.enqueue("ns/a");
    controller.enqueue("ns/b");
    await waitFor(() => gates.length === 2);
    expect(runs).toEqual(["ns/a", "ns/b"]);
    gates.shift()?.();
    await waitFor(() => gates.length === 2 && runs.length === 3);
    expect(runs).toEqual(["ns/a", "ns/b", "ns/a"]);
    for (const release of gates.splice(0)) release();
    stop.abort();
    await running;
    expect(overlap).toBe(false);
  });

  it("shutdown stops taking keys and waits for the in-flight reconcile", async () => {
    let release: (() => void) | undefined;
    let finished = 0;
    const { controller, queue } = setup(async () => {
      await new Promise<void>((resolve) => (release = resolve));
      finished++;
      return undefined;
    });
    const stop = new AbortController();
    controller.enqueue("ns/a");
    const running = controller.run({ stop: stop.signal, hardStop: new AbortController().signal });
    await waitFor(() => release !== undefined);
    controller.enqueue("ns/b");
    stop.abort();
    let done = false;
    void running.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release?.();
    await running;
    expect(finished).toBe(1);
    expect(queue.isShuttingDown()).toBe(true);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error("condition not reached");
}
