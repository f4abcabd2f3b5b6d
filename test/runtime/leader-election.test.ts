// Leader election on a real coordination.k8s.io/v1 Lease, two candidates in one process.
import { afterEach, describe, expect, it } from "vitest";
import type { KubeClient } from "../../controller/kube/client.js";
import { LeaseType, type StoredObject } from "../../controller/kube/resources.js";
import { systemClock } from "../../controller/runtime/clock.js";
import {
  type LeaderElectionConfig,
  type LeaderElectionOutcome,
  LeaderElector,
} from "../../controller/runtime/leader-election.js";
import { testKubeConfig, useTestNamespace } from "../support/cluster.js";
import { eventually, memoryLogger, newClient } from "./helpers.js";

interface Candidate {
  elector: LeaderElector;
  stop: AbortController;
  running: Promise<LeaderElectionOutcome>;
  /** Leadership terms: each entry is the `leading` signal of one term. */
  terms: AbortSignal[];
  stoppedLeading: number;
}

type Lease = StoredObject<{
  spec?: { holderIdentity?: string; leaseTransitions?: number; leaseDurationSeconds?: number };
}>;

describe("LeaderElector against the real apiserver", () => {
  const ns = useTestNamespace("lease");
  const client: KubeClient = newClient(testKubeConfig());
  const candidates: Candidate[] = [];
  afterEach(async () => {
    for (const c of candidates.splice(0)) {
      c.stop.abort();
      await c.running;
    }
  });

  function campaign(identity: string, config: Partial<LeaderElectionConfig>): Candidate {
    const { logger } = memoryLogger();
    const candidate = {
      stop: new AbortController(),
      terms: [],
      stoppedLeading: 0,
    } as unknown as Candidate;
    candidate.elector = new LeaderElector({
      client,
      clock: systemClock(),
      logger,
      config: { namespace: ns.name, name: "llmops-controller", identity, ...config },
      callbacks: {
        onStartedLeading: (leading) => {
          candidate.terms.push(leading);
          return undefined;
        },
        onStoppedLeading: () => {
          candidate.stoppedLeading++;
        },
      },
    });
    candidate.running = candidate.elector.run(candidate.stop.signal);
    candidates.push(candidate);
    return candidate;
  }

  const readLease = (): Promise<Lease> =>
    client.get<Lease>(LeaseType, { namespace: ns.name, name: "llmops-controller" });

  const fast = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };

  it("elects exactly one leader, and the other takes over when the leader dies", async () => {
    // releaseOnCancel off: stopping a is then what a killed process looks like from outside.
    const a = campaign("replica-a", { ...fast, releaseOnCancel: false });
    await eventually("a leads", () => (a.elector.isLeader() ? true : undefined));
    const b = campaign("replica-b", fast);
    // b has seen the Lease held by a, and keeps standing by while a renews.
    await eventually("b observes a", () =>
      b.elector.observedLeader() === "replica-a" ? true : undefined,
    );
    // Waiting is the point here: over 1.5 lease durations (3 × half of one), an unrenewed Lease would
    // have expired and b (retrying every 500 ms) taken it, so b still standing by proves a renewed.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, fast.leaseDurationMs / 2));
      expect(b.elector.isLeader()).toBe(false);
      expect(a.elector.isLeader()).toBe(true);
    }
    const before = await readLease();
    expect(before.spec?.holderIdentity).toBe("replica-a");

    // a dies: it stops renewing and does not release.
    a.stop.abort();
    await a.running;
    expect(a.terms[0]?.aborted).toBe(true);

    await eventually(
      "b takes over after the lease expires",
      () => (b.elector.isLeader() ? true : undefined),
      20_000,
    );
    const after = await readLease();
    expect(after.spec?.holderIdentity).toBe("replica-b");
    expect(after.spec?.leaseTransitions).toBe((before.spec?.leaseTransitions ?? 0) + 1);
    expect(b.terms).toHaveLength(1);
  });

  it("a clean stop releases the Lease, so the standby takes over without waiting for expiry", async () => {
    // A lease far longer than this test may take: only a release lets b in.
    const slow = { leaseDurationMs: 120_000, renewDeadlineMs: 60_000, retryPeriodMs: 500 };
    const a = campaign("replica-a", slow);
    await eventually("a leads", () => (a.elector.isLeader() ? true : undefined));
    const b = campaign("replica-b", slow);
    await eventually("b observes a", () =>
      b.elector.observedLeader() === "replica-a" ? true : undefined,
    );

    a.stop.abort();
    expect(await a.running).toBe("stopped");
    expect(a.stoppedLeading).toBe(1);
    const released = await readLease();
    expect(released.spec?.holderIdentity ?? "").toBe("");

    await eventually("b leads", () => (b.elector.isLeader() ? true : undefined), 10_000);
    expect((await readLease()).spec?.holderIdentity).toBe("replica-b");
  });

  it("steps down when it cannot renew (someone else took the Lease), reporting 'lost'", async () => {
    const a = campaign("replica-a", fast);
    await eventually("a leads", () => (a.elector.isLeader() ? true : undefined));
    // Another writer grabs the Lease with a long duration; a's next renew sees it held by another.
    // Retried: a's renewals move the resourceVersion under us.
    await eventually("the intruder holds the Lease", async () => {
      const lease = await readLease();
      return client.update(LeaseType, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "intruder", leaseDurationSeconds: 3600 },
      });
    });
    expect(await a.running).toBe("lost");
    expect(a.elector.isLeader()).toBe(false);
    expect(a.terms[0]?.aborted).toBe(true);
    // Leadership lost is not a clean stop: the Lease is left to its holder.
    expect((await readLease()).spec?.holderIdentity).toBe("intruder");
  });

  it("rejects timings that could let two leaders overlap", () => {
    expect(
      () =>
        new LeaderElector({
          client,
          clock: systemClock(),
          logger: memoryLogger().logger,
          config: {
            namespace: "x",
            name: "y",
            identity: "z",
            leaseDurationMs: 1000,
            renewDeadlineMs: 2000,
          },
          callbacks: { onStartedLeading: () => undefined },
        }),
    ).toThrow(/leaseDuration > renewDeadline/);
  });
});
