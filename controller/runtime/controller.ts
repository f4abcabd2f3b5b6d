// One controller per kind: workers take keys from the queue and run the reconciler; the outcome
// decides what the queue does next. This is the only place that interprets reconcile results.
import type { Logger } from "pino";
import { TerminalError, TransientError, errorMessage, findInCauseChain } from "../kube/errors.js";
import { parseObjectKey } from "../kube/resources.js";
import { jitter } from "./backoff.js";
import type { Clock } from "./clock.js";
import type { ReconcileResultLabel, RuntimeMetrics } from "./metrics.js";
import type { ReconcileFunction } from "./reconciler.js";
import type { WorkQueue } from "./work-queue.js";

export interface ControllerOptions {
  kind: string;
  queue: WorkQueue;
  reconcile: ReconcileFunction;
  /** Keys of this kind reconciled at the same time (never the same key twice). */
  concurrency: number;
  logger: Logger;
  clock: Clock;
  metrics?: RuntimeMetrics;
  /** Spread of `requeueAfter` (0.1 → up to +10 %); objects created together drift apart. */
  requeueJitter?: number;
  /** Injected so jitter is exact in tests. */
  random?: () => number;
}

export class Controller {
  readonly kind: string;
  readonly queue: WorkQueue;
  private readonly options: ControllerOptions;
  private readonly random: () => number;
  private sequence = 0;

  constructor(options: ControllerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`${options.kind}: concurrency must be a positive integer`);
    }
    this.kind = options.kind;
    this.queue = options.queue;
    this.options = options;
    this.random = options.random ?? Math.random;
    options.metrics?.trackQueueDepth(options.kind, () => options.queue.length);
  }

  /** Asks for a reconcile of `key` (`namespace/name`). Cheap, idempotent, never throws. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /**
   * Runs the workers until `stop` aborts, then stops taking keys and resolves once in-flight
   * reconciles have finished. `hardStop` is handed to reconcilers to cancel I/O at the very end.
   */
  async run(options: { stop: AbortSignal; hardStop: AbortSignal }): Promise<void> {
    const onStop = (): void => {
      this.queue.shutDown();
    };
    if (options.stop.aborted) onStop();
    else options.stop.addEventListener("abort", onStop, { once: true });
    const workers = Array.from({ length: this.options.concurrency }, () =>
      this.worker(options.hardStop, options.stop),
    );
    await Promise.all(workers);
    await this.queue.drain();
  }

  private async worker(hardStop: AbortSignal, stopping?: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.processKey(key, hardStop, stopping);
    }
  }

  /** Reconciles one key and tells the queue what to do next. Never throws. */
  async processKey(key: string, hardStop: AbortSignal, stopping?: AbortSignal): Promise<void> {
    const { kind, queue, metrics, clock, logger } = this.options;
    const request = parseObjectKey(key);
    const log = logger.child({
      kind,
      namespace: request.namespace,
      name: request.name,
      reconcileID: ++this.sequence,
    });
    const started = clock.now();
    let result: ReconcileResultLabel;
    try {
      const outcome = await this.options.reconcile(request, {
        log,
        signal: hardStop,
        ...(stopping ? { stopping } : {}),
      });
      queue.forget(key);
      const requeueAfter = outcome?.requeueAfter ?? 0;
      if (requeueAfter > 0) {
        queue.addAfter(
          key,
          jitter(requeueAfter, { factor: this.options.requeueJitter ?? 0.1, random: this.random }),
        );
        result = "requeue";
      } else {
        result = "success";
      }
      log.debug({ requeueAfter: requeueAfter || undefined }, "reconciled");
    } catch (err: unknown) {
      const terminal = findInCauseChain(err, TerminalError);
      if (terminal !== undefined) {
        // Stalled: the reconciler has reported it; only a change to the object brings it back.
        queue.forget(key);
        result = "terminal";
        log.warn({ err: errorMessage(err), reason: terminal.reason }, "reconcile stalled");
      } else {
        const transient = findInCauseChain(err, TransientError);
        const delay = queue.addRateLimited(key, { minDelayMs: transient?.retryAfterMs });
        metrics?.workqueueRetries.inc({ kind });
        result = "error";
        log.error(
          { err: errorMessage(err), retryInMs: delay, retries: queue.numRequeues(key) },
          "reconcile failed; will retry",
        );
      }
    } finally {
      queue.done(key);
    }
    metrics?.reconcileTotal.inc({ kind, result });
    metrics?.reconcileDuration.observe({ kind }, (clock.now() - started) / 1000);
  }
}
