// Bounded concurrency per endpoint. Experiments, judges and benchmarks that hit the same endpoint
// share one limiter, so `spec.concurrency` is what the endpoint sees in total, not per caller.

interface Waiter {
  grant: () => void;
  onAbort?: () => void;
}

/** A counting semaphore whose waiters are served in arrival order and can give up via a signal. */
export class Semaphore {
  private available: number;
  private readonly waiters: Waiter[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    }
    this.available = limit;
  }

  /** Permits in use now. */
  get inUse(): number {
    return this.limit - this.available;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Waits for a permit; resolves to its release function. Rejects with the signal's reason on abort. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    if (this.available > 0) {
      this.available--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          if (waiter.onAbort) signal?.removeEventListener("abort", waiter.onAbort);
          resolve(this.releaser());
        },
      };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      // Releasing twice would mint a permit; make the second call a no-op.
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.available++;
    };
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error("aborted", { cause: reason });
}

/** Semaphores keyed by endpoint; one instance is shared by everything that calls models. */
export class EndpointConcurrency {
  private readonly semaphores = new Map<string, Semaphore>();
  private readonly defaultLimit: number;
  private readonly limits: Readonly<Record<string, number>>;

  /** `limits` by endpoint key (see `endpointKey`); others get `defaultLimit` (default 8). */
  constructor(options: { defaultLimit?: number; limits?: Readonly<Record<string, number>> } = {}) {
    this.defaultLimit = options.defaultLimit ?? 8;
    this.limits = options.limits ?? {};
  }

  /** The semaphore of `baseURL`'s endpoint, created on first use. */
  for(baseURL: string): Semaphore {
    const key = endpointKey(baseURL);
    let semaphore = this.semaphores.get(key);
    if (semaphore === undefined) {
      semaphore = new Semaphore(this.limits[key] ?? this.defaultLimit);
      this.semaphores.set(key, semaphore);
    }
    return semaphore;
  }
}

/** Identity of an endpoint: origin and path without credentials, query or trailing slash. */
export function endpointKey(baseURL: string): string {
  const url = new URL(baseURL);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}
