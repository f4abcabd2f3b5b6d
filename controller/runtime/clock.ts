// Time as a dependency: the queue, backoff, watchdogs and leader election take a Clock, so tests
// drive time with FakeClock instead of sleeping.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`. Timers never keep the process alive on their own. */
  setTimer(fn: () => void, ms: number): Timer;
}

/** The real clock. */
export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    setTimer: (fn, ms) => {
      const handle = setTimeout(fn, Math.max(0, ms));
      // A pending requeue or watchdog must not hold a finished process open.
      handle.unref();
      return {
        cancel: () => {
          clearTimeout(handle);
        },
      };
    },
  };
}

/**
 * `signal.aborted`, read through a call: TypeScript narrows the property after one check and
 * cannot see that an await in between may have flipped it.
 */
export function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

/** Resolves after `ms` on `clock`, or early (without rejecting) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      resolve();
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A manual clock for deterministic tests: time moves only through `advance`, which fires due
 * timers in time order (ties in creation order), including timers those timers set.
 */
export class FakeClock implements Clock {
  private current: number;
  private timers: FakeTimer[] = [];
  private seq = 0;

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(fn: () => void, ms: number): Timer {
    const timer: FakeTimer = {
      at: this.current + Math.max(0, ms),
      seq: this.seq++,
      fn,
      cancelled: false,
    };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const due = this.timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.current = Math.max(this.current, due.at);
      due.cancelled = true;
      due.fn();
    }
    this.current = target;
  }

  /** Pending timers, soonest first (for assertions). */
  pendingDelays(): number[] {
    return this.timers
      .filter((t) => !t.cancelled)
      .map((t) => t.at - this.current)
      .sort((a, b) => a - b);
  }
}
