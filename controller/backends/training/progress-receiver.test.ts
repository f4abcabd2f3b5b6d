import { describe, expect, it } from "vitest";
import {
  type AttributedTrainerEvent,
  ExpiringLru,
  ProgressRefusal,
  ProgressStore,
  TokenBuckets,
  identityFromReview,
  progressCaConfigMapData,
  progressEnv,
  trainerEventProblem,
} from "./progress-receiver.js";
import type { TrainerEvent } from "./trainer-contract.js";

const audience = "llmops.dev/training-progress";
const boundExtra = {
  "authentication.kubernetes.io/pod-name": ["tiny-sft-abc-1"],
  "authentication.kubernetes.io/pod-uid": ["0b6f9c0e-uid"],
};

describe("identityFromReview", () => {
  const rows: {
    name: string;
    status: Parameters<typeof identityFromReview>[0];
    want: { status: number; reason: string } | Record<string, string>;
  }[] = [
    {
      name: "a ServiceAccount token bound to a pod",
      status: {
        authenticated: true,
        audiences: [audience],
        user: { username: "system:serviceaccount:team-a:trainer", extra: boundExtra },
      },
      want: {
        namespace: "team-a",
        serviceAccount: "trainer",
        podName: "tiny-sft-abc-1",
        podUid: "0b6f9c0e-uid",
      },
    },
    {
      name: "not authenticated",
      status: { authenticated: false, error: "token expired" },
      want: { status: 401, reason: "Unauthenticated" },
    },
    {
      name: "authenticated for the apiserver's audience only (no audiences in status)",
      status: {
        authenticated: true,
        user: { username: "system:serviceaccount:team-a:trainer", extra: boundExtra },
      },
      want: { status: 401, reason: "Unauthenticated" },
    },
    {
      name: "authenticated for another audience",
      status: {
        authenticated: true,
        audiences: ["vault"],
        user: { username: "system:serviceaccount:team-a:trainer", extra: boundExtra },
      },
      want: { status: 401, reason: "Unauthenticated" },
    },
    {
      name: "a user that is not a ServiceAccount",
      status: {
        authenticated: true,
        audiences: [audience],
        user: { username: "alice@example.com", extra: boundExtra },
      },
      want: { status: 403, reason: "NotAServiceAccount" },
    },
    {
      name: "a malformed ServiceAccount name",
      status: {
        authenticated: true,
        audiences: [audience],
        user: { username: "system:serviceaccount:team-a:trainer:x", extra: boundExtra },
      },
      want: { status: 403, reason: "NotAServiceAccount" },
    },
    {
      name: "a ServiceAccount token bound to no pod",
      status: {
        authenticated: true,
        audiences: [audience],
        user: { username: "system:serviceaccount:team-a:trainer", extra: {} },
      },
      want: { status: 403, reason: "NotBoundToPod" },
    },
    {
      name: "a pod name without its uid",
      status: {
        authenticated: true,
        audiences: [audience],
        user: {
          username: "system:serviceaccount:team-a:trainer",
          extra: { "authentication.kubernetes.io/pod-name": ["p"] },
        },
      },
      want: { status: 403, reason: "NotBoundToPod" },
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const got = identityFromReview(row.status, audience);
      if (got instanceof ProgressRefusal) {
        expect({ status: got.status, reason: got.reason }).toEqual(row.want);
      } else {
        expect(got).toEqual(row.want);
      }
    });
  }
});

describe("trainerEventProblem", () => {
  const rows: { name: string; event: Record<string, unknown>; want: string | undefined }[] = [
    {
      name: "progress",
      event: { event: "progress", step: 3, totalSteps: 10, epoch: 0.3, loss: 1.2 },
      want: undefined,
    },
    {
      name: "progress without a step",
      event: { event: "progress", totalSteps: 10, epoch: 0.3 },
      want: '"progress" event: bad or missing step',
    },
    {
      name: "progress with a NaN-ish step",
      event: { event: "progress", step: "3", totalSteps: 10, epoch: 0.3 },
      want: '"progress" event: bad or missing step',
    },
    {
      name: "started",
      event: { event: "started", runId: "r", attempt: 1, totalSteps: 10 },
      want: undefined,
    },
    {
      name: "started without a run",
      event: { event: "started", attempt: 1, totalSteps: 10 },
      want: '"started" event: bad or missing runId',
    },
    { name: "checkpoint", event: { event: "checkpoint", step: 5, path: "/c/5" }, want: undefined },
    {
      name: "completed",
      event: { event: "completed", output: { path: "/out" }, metrics: { steps: 10, seconds: 3 } },
      want: undefined,
    },
    {
      name: "completed without output",
      event: { event: "completed", metrics: { steps: 10, seconds: 3 } },
      want: '"completed" event: bad or missing output',
    },
    {
      name: "failed",
      event: { event: "failed", reason: "OOM", message: "m", retryable: true },
      want: undefined,
    },
    {
      name: "failed without retryable",
      event: { event: "failed", reason: "OOM", message: "m" },
      want: '"failed" event: bad or missing retryable',
    },
    { name: "unknown event", event: { event: "exploded" }, want: 'unknown event "exploded"' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      expect(trainerEventProblem({ llmops: 1, ...row.event } as unknown as TrainerEvent)).toBe(
        row.want,
      );
    });
  }
});

describe("ExpiringLru", () => {
  it("expires entries and drops the least recently used past its bound", () => {
    const lru = new ExpiringLru<string, number>(2);
    lru.set("a", 1, 100);
    lru.set("b", 2, 1000);
    expect(lru.get("a", 50)).toBe(1); // a is now the most recent
    lru.set("c", 3, 1000);
    expect(lru.get("b", 50)).toBeUndefined();
    expect(lru.get("a", 50)).toBe(1);
    expect(lru.get("a", 100)).toBeUndefined();
    expect(lru.size).toBe(1);
  });
});

describe("TokenBuckets", () => {
  it("allows a burst, then the sustained rate, per key", () => {
    const buckets = new TokenBuckets({ perSecond: 2, burst: 3 }, 10);
    const at = (now: number, n: number): boolean[] =>
      Array.from({ length: n }, () => buckets.take("pod-a", now));
    expect(at(0, 4)).toEqual([true, true, true, false]);
    expect(buckets.take("pod-b", 0)).toBe(true);
    expect(at(499, 1)).toEqual([false]);
    expect(at(500, 2)).toEqual([true, false]);
    // Refills to the burst, never beyond it.
    expect(at(60_000, 4)).toEqual([true, true, true, false]);
  });

  it("forgets the least recent keys past its bound (they start with a full bucket)", () => {
    const buckets = new TokenBuckets({ perSecond: 0.001, burst: 1 }, 1);
    expect(buckets.take("a", 0)).toBe(true);
    expect(buckets.take("b", 0)).toBe(true);
    expect(buckets.take("a", 0)).toBe(true);
  });
});

describe("ProgressStore", () => {
  const key = { namespace: "ns", trainingJob: "tiny", runId: "r1", attempt: 1 };
  const event = (e: Record<string, unknown>, at = 0): AttributedTrainerEvent => ({
    ...key,
    pod: { name: "p", uid: "u" },
    receivedAt: new Date(at),
    event: { llmops: 1, ...e } as unknown as TrainerEvent,
  });

  it("keeps the latest of each kind, the furthest step winning over a late report", () => {
    const store = new ProgressStore();
    store.record(event({ event: "started", runId: "r1", attempt: 1, totalSteps: 10 }, 1));
    store.record(event({ event: "progress", step: 5, totalSteps: 10, epoch: 0.5 }, 2));
    store.record(event({ event: "progress", step: 4, totalSteps: 10, epoch: 0.4 }, 3));
    store.record(event({ event: "checkpoint", step: 5, path: "/c/5" }, 4));
    const latest = store.latest(key);
    expect(latest?.progress?.step).toBe(5);
    expect(latest?.checkpoint?.path).toBe("/c/5");
    expect(latest?.started?.totalSteps).toBe(10);
    expect(latest?.updatedAt).toEqual(new Date(4));
    expect(store.latest({ ...key, attempt: 2 })).toBeUndefined();
    expect(store.latest({ ...key, runId: "r2" })).toBeUndefined();
  });

  it("is bounded and forgets on request", () => {
    const store = new ProgressStore({ maxAttempts: 2 });
    for (const attempt of [1, 2, 3]) {
      store.record({ ...event({ event: "progress", step: 1, totalSteps: 2, epoch: 0 }), attempt });
    }
    expect(store.size).toBe(2);
    expect(store.latest(key)).toBeUndefined();
    store.forget({ ...key, attempt: 3 });
    expect(store.latest({ ...key, attempt: 3 })).toBeUndefined();
    expect(store.latest({ ...key, attempt: 2 })?.progress?.step).toBe(1);
  });
});

describe("progressEnv", () => {
  it("gives the env, a projected volume with a bound token and the CA, and its mount", () => {
    const pod = progressEnv({
      url: "https://llmops.llmops-system.svc:8443/v1/training/progress",
      audience,
      caConfigMap: { name: "tiny-sft-progress-ca" },
      expirationSeconds: 1800,
    });
    expect(pod).toEqual({
      env: [
        {
          name: "LLMOPS_PROGRESS_URL",
          value: "https://llmops.llmops-system.svc:8443/v1/training/progress",
        },
        {
          name: "LLMOPS_PROGRESS_CA_FILE",
          value: "/var/run/secrets/llmops.dev/progress/ca.crt",
        },
        {
          name: "LLMOPS_PROGRESS_TOKEN_FILE",
          value: "/var/run/secrets/llmops.dev/progress/token",
        },
      ],
      volumes: [
        {
          name: "llmops-progress",
          projected: {
            defaultMode: 0o444,
            sources: [
              { serviceAccountToken: { audience, expirationSeconds: 1800, path: "token" } },
              {
                configMap: {
                  name: "tiny-sft-progress-ca",
                  items: [{ key: "ca.crt", path: "ca.crt" }],
                },
              },
            ],
          },
        },
      ],
      volumeMounts: [
        {
          name: "llmops-progress",
          mountPath: "/var/run/secrets/llmops.dev/progress",
          readOnly: true,
        },
      ],
    });
    expect(progressCaConfigMapData("PEM")).toEqual({ "ca.crt": "PEM" });
  });

  it("refuses a token lifetime the apiserver would refuse", () => {
    expect(() =>
      progressEnv({
        url: "https://x",
        audience,
        caConfigMap: { name: "c" },
        expirationSeconds: 60,
      }),
    ).toThrow(/at least 600/);
  });
});
