// Leader election on a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics:
//
// - A candidate acquires the Lease when nobody holds it (empty holderIdentity) or when the
//   holder's record has not changed for leaseDuration *as observed on our own clock* — never by
//   comparing renewTime with our clock, because clocks of different nodes disagree.
// - The leader renews every retryPeriod; if it cannot renew within renewDeadline it steps down
//   (renewDeadline < leaseDuration, so it stops acting before anyone else may start).
// - Every write is a PUT conditional on resourceVersion: two candidates cannot both win.
// - A clean stop releases the Lease (holderIdentity cleared, leaseDurationSeconds 1), so another
//   replica takes over on its next retry instead of waiting out the lease.
import type { Logger } from "pino";
import type { KubeClient } from "../kube/client.js";
import { ConflictError, NotFoundError, errorMessage } from "../kube/errors.js";
import { LeaseType, type StoredObject } from "../kube/resources.js";
import { microTime } from "../kube/time.js";
import { jitter } from "./backoff.js";
import { type Clock, isAborted, sleep } from "./clock.js";

export interface LeaderElectionConfig {
  /** Lease namespace and name. */
  namespace: string;
  name: string;
  /** Unique per replica (pod name + random suffix). */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Clear holderIdentity when `run` is stopped cleanly (default true). */
  releaseOnCancel?: boolean;
}

export interface LeaderCallbacks {
  /**
   * Called once leadership is acquired; `leading` aborts when it is lost or given up. On a clean
   * stop the returned promise (the leader's work winding down) is awaited before the Lease is
   * released, so the next leader never overlaps with us.
   */
  onStartedLeading: (leading: AbortSignal) => Promise<void> | undefined;
  /** Called when leadership ends (lost, released, or never acquired before stop). */
  onStoppedLeading?: () => void;
  /** Called whenever the observed holder changes (including to ourselves). */
  onNewLeader?: (identity: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

type Lease = StoredObject<{ spec?: LeaseSpec }>;

export interface LeaderElectorOptions {
  client: KubeClient;
  config: LeaderElectionConfig;
  callbacks: LeaderCallbacks;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

/** How a `run` ended. */
export type LeaderElectionOutcome = "stopped" | "lost";

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly config: Required<LeaderElectionConfig>;
  private readonly callbacks: LeaderCallbacks;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
  /** The last Lease we read or wrote, and when (our clock) its content last changed. */
  private observed: Lease | undefined;
  private observedSpecJson = "";
  private observedTime = 0;
  private reportedLeader = "";
  private leading = false;

  constructor(options: LeaderElectorOptions) {
    this.client = options.client;
    this.config = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      ...options.config,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.config;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs * 1.2)) {
      throw new RangeError(
        "leader election needs leaseDuration > renewDeadline > 1.2 × retryPeriod " +
          `(got ${leaseDurationMs}, ${renewDeadlineMs}, ${retryPeriodMs} ms)`,
      );
    }
    this.callbacks = options.callbacks;
    this.clock = options.clock;
    this.logger = options.logger.child({
      lease: `${this.config.namespace}/${this.config.name}`,
      identity: this.config.identity,
    });
    this.random = options.random ?? Math.random;
  }

  get identity(): string {
    return this.config.identity;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder we last saw, or "" when none. */
  observedLeader(): string {
    return this.observed?.spec?.holderIdentity ?? "";
  }

  /**
   * Campaigns until `stop` aborts; leads while it can. Resolves with "lost" when leadership
   * was lost (the process should exit: its work may now be done by another replica) or
   * "stopped" after a requested stop (the Lease is released first when we held it).
   */
  async run(stop: AbortSignal): Promise<LeaderElectionOutcome> {
    const acquired = await this.acquire(stop);
    if (!acquired) {
      this.callbacks.onStoppedLeading?.();
      return "stopped";
    }
    const leading = new AbortController();
    this.leading = true;
    this.logger.info("became leader");
    let work: Promise<void> | undefined;
    try {
      work = this.callbacks.onStartedLeading(leading.signal);
    } catch (err: unknown) {
      this.logger.error({ err: errorMessage(err) }, "onStartedLeading threw");
    }
    const outcome = await this.renew(stop);
    this.leading = false;
    leading.abort();
    if (outcome === "stopped") {
      await work?.catch((err: unknown) => {
        this.logger.error({ err: errorMessage(err) }, "leader work failed while stopping");
      });
      if (this.config.releaseOnCancel) await this.release();
    }
    // On "lost" we do not wait: another replica may already lead; the caller should exit.
    this.callbacks.onStoppedLeading?.();
    if (outcome === "lost") this.logger.warn("leadership lost");
    return outcome;
  }

  private async acquire(stop: AbortSignal): Promise<boolean> {
    this.logger.info("campaigning for leadership");
    while (!stop.aborted) {
      if (await this.tryAcquireOrRenew(stop)) return true;
      await sleep(
        this.clock,
        jitter(this.config.retryPeriodMs, { factor: 0.2, random: this.random }),
        stop,
      );
    }
    return false;
  }

  private async renew(stop: AbortSignal): Promise<LeaderElectionOutcome> {
    while (!stop.aborted) {
      const deadline = this.clock.now() + this.config.renewDeadlineMs;
      let renewed = false;
      // Keep trying until the renew deadline: one failed PUT is not a lost lease.
      while (!isAborted(stop) && this.clock.now() < deadline) {
        if (await this.tryAcquireOrRenew(stop, deadline)) {
          renewed = true;
          break;
        }
        await sleep(this.clock, this.config.retryPeriodMs, stop);
      }
      if (isAborted(stop)) return "stopped";
      if (!renewed) return "lost";
      await sleep(this.clock, this.config.retryPeriodMs, stop);
    }
    return "stopped";
  }

  /** One attempt: true when we hold the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(stop: AbortSignal, deadline?: number): Promise<boolean> {
    const request = new AbortController();
    const onStop = (): void => {
      request.abort();
    };
    stop.addEventListener("abort", onStop, { once: true });
    // A hung request must not outlive the renew deadline: bound it on our clock.
    const timeout = this.clock.setTimer(
      () => {
        request.abort();
      },
      deadline === undefined
        ? this.config.renewDeadlineMs
        : Math.max(0, deadline - this.clock.now()),
    );
    try {
      return await this.attempt(request.signal);
    } catch (err: unknown) {
      if (!(err instanceof ConflictError)) {
        this.logger.warn({ err: errorMessage(err) }, "lease update failed");
      }
      return false;
    } finally {
      timeout.cancel();
      stop.removeEventListener("abort", onStop);
    }
  }

  private async attempt(signal: AbortSignal): Promise<boolean> {
    const { namespace, name, identity } = this.config;
    const now = this.clock.now();
    const leaseDurationSeconds = Math.ceil(this.config.leaseDurationMs / 1000);
    let current: Lease;
    try {
      current = await this.client.get<Lease>(LeaseType, { namespace, name }, { signal });
    } catch (err: unknown) {
      if (!(err instanceof NotFoundError)) throw err;
      const created = await this.client.create<Lease>(
        LeaseType,
        {
          metadata: { namespace, name },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        } as Lease,
        { signal },
      );
      this.observe(created, now);
      return true;
    }
    this.observe(current, now);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const holderDurationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const heldByOther = holder !== "" && holder !== identity;
    if (heldByOther && this.observedTime + holderDurationMs > now) return false;
    const weHeldIt = holder === identity;
    const next: Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: weHeldIt && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (weHeldIt ? 0 : 1),
      },
    };
    const updated = await this.client.update<Lease>(LeaseType, next, { signal });
    this.observe(updated, now);
    return true;
  }

  /** Clears holderIdentity so a standby takes over at once. Never throws. */
  private async release(): Promise<void> {
    let lease = this.observed;
    if (lease?.spec?.holderIdentity !== this.config.identity) return;
    // A renewal cancelled by the stop may still have reached the apiserver, leaving our copy one
    // resourceVersion behind: on a conflict, read the Lease again and release it if still ours.
    for (let attempt = 0; attempt < 2; attempt++) {
      const now = this.clock.now();
      try {
        await this.client.update<Lease>(LeaseType, {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            acquireTime: microTime(now),
            renewTime: microTime(now),
          },
        });
        this.logger.info("released leadership");
        return;
      } catch (err: unknown) {
        if (attempt === 0 && err instanceof ConflictError) {
          const fresh = await this.client
            .tryGet<Lease>(LeaseType, {
              namespace: this.config.namespace,
              name: this.config.name,
            })
            .catch(() => undefined);
          if (fresh?.spec?.holderIdentity !== this.config.identity) return;
          lease = fresh;
          continue;
        }
        // The lease will expire on its own; a standby waits leaseDuration at worst.
        this.logger.warn({ err: errorMessage(err) }, "could not release the lease");
        return;
      }
    }
  }

  private observe(lease: Lease, now: number): void {
    const specJson = JSON.stringify(lease.spec ?? {});
    if (specJson !== this.observedSpecJson) {
      this.observedSpecJson = specJson;
      this.observedTime = now;
    }
    this.observed = lease;
    const holder = lease.spec?.holderIdentity ?? "";
    if (holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      if (holder !== "") {
        this.logger.info({ leader: holder }, "new leader observed");
        try {
          this.callbacks.onNewLeader?.(holder);
        } catch (err: unknown) {
          this.logger.error({ err: errorMessage(err) }, "onNewLeader threw");
        }
      }
    }
  }
}
