// The work queue, with client-go's workqueue semantics:
// - a key waiting in the queue is stored once, however often it is added (de-duplication);
// - a key being processed is never handed out again until `done`; if it was added meanwhile it
//   goes back into the queue on `done`, so the newest state is always reconciled once more;
// - delayed adds keep only the earliest deadline per key; they wait in one min-heap under a single
//   timer (10,000 objects with a drift-check requeue are 10,000 deadlines, not 10,000 timers);
// - shutdown stops handing out work; `drain` waits for what is in flight.
import type { Clock, Timer } from "./clock.js";
import type { RateLimiter } from "./backoff.js";

export interface WorkQueueOptions {
  clock: Clock;
  rateLimiter: RateLimiter;
  /** Told how long each key waited, ready, before a worker took it (the queue-latency metric). */
  observeWait?: (ms: number) => void;
}

/** A deadline in the heap; stale once `waiting` holds another deadline for the key (or none). */
interface Deadline {
  readyAt: number;
  key: string;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter;
  /** Keys ready to be handed out, in order. */
  private queue: string[] = [];
  /** When each key in `queue` became ready (only with `observeWait`). */
  private readonly readySince = new Map<string, number>();
  private readonly observeWait: ((ms: number) => void) | undefined;
  private head = 0;
  /** Keys that need processing: queued, or re-added while processing. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** The deadline of each key waiting for later (the earliest asked for). */
  private readonly waiting = new Map<string, number>();
  private heap: Deadline[] = [];
  private timer: { readyAt: number; handle: Timer } | undefined;
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions) {
    this.clock = options.clock;
    this.rateLimiter = options.rateLimiter;
    this.observeWait = options.observeWait;
  }

  /** Marks `key` as needing a reconcile now. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    // Re-queued by `done` when the current run finishes.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; if it is already waiting, the earlier deadline wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.cancelWaiting(key);
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing !== undefined && existing <= readyAt) return;
    this.waiting.set(key, readyAt);
    this.heapPush({ readyAt, key });
    // Deadlines moved earlier leave stale entries behind; rebuild before they outnumber the live.
    if (this.heap.length > 2 * this.waiting.size + 1024) this.rebuildHeap();
    this.arm();
  }

  /** Adds `key` after its backoff delay (at least `minDelayMs`); returns the delay used. */
  addRateLimited(key: string, options: { minDelayMs?: number } = {}): number {
    const delay = Math.max(this.rateLimiter.when(key), options.minDelayMs ?? 0);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the backoff history of `key` (after success or a terminal error). */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.retries(key);
  }

  /**
   * The next key to process, waiting until one is ready. Resolves to undefined once the queue is
   * shut down. The caller must call `done(key)` when finished with it.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Ends processing of `key`; re-queues it if it was added while being processed. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.shuttingDown) this.push(key);
    if (this.processing.size === 0) {
      for (const resolve of this.drainWaiters.splice(0)) resolve();
    }
  }

  /** Keys ready to be processed (the depth metric). */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Keys scheduled for later (backoff or requeue-after). */
  get waitingCount(): number {
    return this.waiting.size;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out work: queued and delayed keys are dropped (whoever runs next lists every
   * object anyway), pending `get` calls resolve to undefined. In-flight keys finish normally.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.timer?.handle.cancel();
    this.timer = undefined;
    this.waiting.clear();
    this.heap = [];
    this.queue = [];
    this.head = 0;
    this.readySince.clear();
    this.dirty.clear();
    for (const resolve of this.getters.splice(0)) resolve(undefined);
  }

  /** Resolves when no key is being processed. */
  drain(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private push(key: string): void {
    const getter = this.getters.shift();
    if (getter !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      this.observeWait?.(0);
      getter(key);
      return;
    }
    this.queue.push(key);
    if (this.observeWait !== undefined) this.readySince.set(key, this.clock.now());
  }

  private pop(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head] as string;
    this.head++;
    // Compact occasionally instead of shifting on every pop (O(n) per shift).
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    if (this.observeWait !== undefined) {
      const since = this.readySince.get(key);
      this.readySince.delete(key);
      if (since !== undefined) this.observeWait(this.clock.now() - since);
    }
    return key;
  }

  private cancelWaiting(key: string): void {
    // Its heap entry goes stale and is dropped when it comes up.
    if (this.waiting.delete(key) && this.waiting.size === 0) {
      this.heap = [];
      this.arm();
    }
  }

  /** Keeps the one timer set for the earliest live deadline (none when nothing waits). */
  private arm(): void {
    this.dropStale();
    const next = this.heap[0];
    if (next !== undefined && this.timer?.readyAt === next.readyAt) return;
    this.timer?.handle.cancel();
    this.timer = undefined;
    if (next === undefined) return;
    const handle = this.clock.setTimer(() => {
      this.timer = undefined;
      this.fire();
    }, next.readyAt - this.clock.now());
    this.timer = { readyAt: next.readyAt, handle };
  }

  /** Adds every key whose deadline has come, then re-arms for the next one. */
  private fire(): void {
    const now = this.clock.now();
    for (;;) {
      this.dropStale();
      const next = this.heap[0];
      if (next === undefined || next.readyAt > now) break;
      this.heapPop();
      this.waiting.delete(next.key);
      this.add(next.key);
    }
    this.arm();
  }

  private rebuildHeap(): void {
    this.heap = [];
    for (const [key, readyAt] of this.waiting) this.heapPush({ readyAt, key });
  }

  private dropStale(): void {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || this.waiting.get(top.key) === top.readyAt) return;
      this.heapPop();
    }
  }

  private heapPush(entry: Deadline): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Deadline).readyAt <= entry.readyAt) break;
      heap[i] = heap[parent] as Deadline;
      i = parent;
    }
    heap[i] = entry;
  }

  private heapPop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && (heap[right] as Deadline).readyAt < (heap[left] as Deadline).readyAt
          ? right
          : left;
      if ((heap[child] as Deadline).readyAt >= last.readyAt) break;
      heap[i] = heap[child] as Deadline;
      i = child;
    }
    heap[i] = last;
  }
}
