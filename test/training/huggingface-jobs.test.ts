// The Hugging Face Jobs training backend, through the official @huggingface/hub client, against
// the local server that speaks the Jobs API (routes, payloads, SSE logs, error bodies).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AttemptRequest, AttemptState } from "../../controller/backends/training/backend.js";
import {
  createHuggingFaceJobsBackend,
  trainerConfigEnv,
  type HuggingFaceJobsBackend,
  type HuggingFaceJobsBackendOptions,
} from "../../controller/backends/training/huggingface-jobs.js";
import type { TrainerConfig } from "../../controller/backends/training/trainer-contract.js";
import { TerminalError, TransientError } from "../../controller/kube/errors.js";
import { HuggingFaceJobsTestServer } from "../servers/huggingface-jobs/server.js";

const token = "hf_aliceAliceAliceAliceAliceAlice01";
const otherToken = "hf_notKnownNotKnownNotKnownNotKn02";
const pushToken = "hf_pushPushPushPushPushPushPush03";

const config: TrainerConfig = {
  runId: "5d1e0c9a7b3f",
  attempt: 1,
  method: "sft",
  baseModel: { repo: "acme/base-1b", revision: "0123456789abcdef0123456789abcdef01234567" },
  dataset: {
    format: "chat",
    huggingFace: {
      repo: "acme/tickets",
      revision: "89abcdef0123456789abcdef0123456789abcdef",
      split: "train",
    },
  },
  hyperparameters: {
    epochs: 1,
    learningRate: 0.0002,
    lrScheduler: "cosine",
    warmupRatio: 0.03,
    batchSize: 4,
    gradientAccumulationSteps: 1,
    maxSeqLength: 1024,
  },
  output: { dir: "/tmp/output", huggingFace: { repo: "acme/ticket-sft", private: true } },
  checkpoints: { dir: "/tmp/checkpoints", saveSteps: 50 },
};

function attempt(overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  return {
    owner: {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      namespace: "team-a",
      name: "ticket-sft",
      uid: "0b6c3c1e-0000-4000-8000-000000000001",
    },
    runId: config.runId,
    attempt: 1,
    config,
    secrets: [
      { env: "HF_JOBS_TOKEN", secretRef: { name: "hf-jobs", key: "token" }, value: token },
      { env: "HF_TOKEN", secretRef: { name: "hf-push", key: "token" }, value: pushToken },
    ],
    gpu: { type: "A10G", count: 1, flavor: "a10g-small" },
    maxSeconds: 7200,
    options: { tokenSecretRef: { name: "hf-jobs", key: "token" }, image: "ghcr.io/acme/trainer:1" },
    env: { HF_HUB_ENABLE_HF_TRANSFER: "1" },
    ...overrides,
  };
}

const started = { llmops: 1, event: "started", runId: config.runId, attempt: 1, totalSteps: 100 };
const progress = (step: number, loss: number) => ({
  llmops: 1,
  event: "progress",
  step,
  totalSteps: 100,
  epoch: step / 100,
  loss,
});
const completed = {
  llmops: 1,
  event: "completed",
  output: {
    path: "/tmp/output",
    repo: "acme/ticket-sft",
    revision: "fedcba9876543210fedcba9876543210fedcba98",
  },
  metrics: { trainLoss: 0.41, steps: 100, seconds: 812 },
};

async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Awaits a rejection; checks that no token leaks into any message of the cause chain. */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err: unknown) {
    expect(err).toBeInstanceOf(Error);
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      for (const secret of [token, otherToken, pushToken]) expect(e.message).not.toContain(secret);
    }
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("Hugging Face Jobs backend", () => {
  let server: HuggingFaceJobsTestServer;
  let hubUrl: string;
  const backends: HuggingFaceJobsBackend[] = [];

  function backend(options: HuggingFaceJobsBackendOptions = {}): HuggingFaceJobsBackend {
    const created = createHuggingFaceJobsBackend({
      hubUrl,
      finalRecordWaitMs: 2000,
      logReconnectMs: 50,
      ...options,
    });
    backends.push(created);
    return created;
  }

  const posts = () =>
    server.requests.filter((r) => r.method === "POST" && /\/api\/jobs\/[^/]+$/.test(r.url));

  beforeEach(async () => {
    server = new HuggingFaceJobsTestServer();
    server.addUser({ name: "alice", token, orgs: ["acme"] });
    server.keepAliveMs = 100;
    hubUrl = await server.start();
  });

  afterEach(async () => {
    for (const b of backends.splice(0)) b.close();
    await server.stop();
  });

  it("creates the job with the estimate's flavor, the timeout and the labels; tokens only as secrets", async () => {
    const ref = await backend().submit(attempt());

    expect(ref.remoteId).toMatch(/^[0-9a-f]{24}$/);
    // The namespace is the token's user (no spec.backend.huggingFaceJobs.owner).
    expect(ref.url).toBe(`${hubUrl}/jobs/alice/${ref.remoteId ?? ""}`);
    expect(posts()).toHaveLength(1);
    const body = posts()[0]?.body as Record<string, unknown>;
    expect(posts()[0]?.url).toBe("/api/jobs/alice");
    expect(body.flavor).toBe("a10g-small");
    expect(body.timeoutSeconds).toBe(7200);
    expect(body.dockerImage).toBe("ghcr.io/acme/trainer:1");
    expect(body.labels).toMatchObject({
      "llmops.dev/run-id": config.runId,
      "llmops.dev/attempt": "1",
      "llmops.dev/training-job": "team-a.ticket-sft",
    });
    expect(body.secrets).toEqual({ HF_JOBS_TOKEN: token, HF_TOKEN: pushToken });
    const environment = body.environment as Record<string, string>;
    expect(environment.HF_HUB_ENABLE_HF_TRANSFER).toBe("1");
    const decoded = JSON.parse(
      Buffer.from(environment[trainerConfigEnv] ?? "", "base64").toString(),
    ) as unknown;
    expect(decoded).toEqual(config);
    expect((body.command as string[]).join(" ")).toContain("llmops-train");

    // Outside `secrets`, no request carried a token anywhere but in the Authorization header.
    for (const request of server.requests) {
      const { secrets: _secrets, ...rest } = (request.body ?? {}) as Record<string, unknown>;
      const plain = JSON.stringify(rest) + request.url;
      for (const secret of [token, pushToken]) expect(plain).not.toContain(secret);
      expect(request.authorization).toBe(`Bearer ${token}`);
    }
    // The job as the API shows it: secrets by name only.
    const shown = server.allJobs()[0];
    expect(shown?.stage).toBe("SCHEDULING");
  });

  it("always sends a timeout, a day without budget.maxHours (the service's default is 30 minutes)", async () => {
    await backend().submit(attempt({ maxSeconds: undefined }));
    expect((posts()[0]?.body as Record<string, unknown>).timeoutSeconds).toBe(86_400);
  });

  it("runs in spec.backend.huggingFaceJobs.owner without asking whose token it is", async () => {
    const ref = await backend().submit(
      attempt({ options: { ...attempt().options, owner: "acme" } }),
    );
    expect(ref.url).toBe(`${hubUrl}/jobs/acme/${ref.remoteId ?? ""}`);
    expect(posts()[0]?.url).toBe("/api/jobs/acme");
    expect(server.requests.some((r) => r.url.includes("whoami"))).toBe(false);
  });

  it("takes h200 (no H100 on Hugging Face Jobs) and refuses an unknown flavor before any call", async () => {
    await backend().submit(attempt({ gpu: { type: "H200", count: 1, flavor: "h200" } }));
    expect((posts()[0]?.body as Record<string, unknown>).flavor).toBe("h200");

    const before = server.requests.length;
    const err = await failure(
      backend().submit(attempt({ attempt: 2, gpu: { type: "H100", count: 1, flavor: "h100" } })),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain("spec.backend.huggingFaceJobs.flavor");
    expect(err.message).toContain('"h100"');
    expect((err as TerminalError).reason).toBe("UnknownFlavor");
    expect(server.requests.length).toBe(before);
  });

  it("reports the service's own refusal of a flavor against the flavor field", async () => {
    // A flavor this backend is told exists but the service does not run.
    const err = await failure(
      backend({ flavors: ["a10g-small", "b200"] }).submit(
        attempt({ gpu: { type: "B200", count: 1, flavor: "b200" } }),
      ),
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toMatch(
      /^spec\.backend\.huggingFaceJobs\.flavor: .*HTTP 400: Invalid flavor "b200"/,
    );
  });

  it("refuses a volume output: the job's disk is gone when it ends", async () => {
    const { huggingFace: _hf, ...output } = config.output;
    const err = await failure(backend().submit(attempt({ config: { ...config, output } })));
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain("spec.output.huggingFace");
    expect(server.requests).toHaveLength(0);
  });

  it("a second submit for the same run and attempt creates nothing, also from a restarted controller", async () => {
    const first = await backend().submit(attempt());
    expect(await backend().submit(attempt())).toEqual(first);
    expect(posts()).toHaveLength(1);
    // The listing was asked for the attempt's labels.
    const list = server.requests.find(
      (r) => r.method === "GET" && r.url.startsWith("/api/jobs/alice?"),
    );
    expect(decodeURIComponent(list?.url ?? "")).toContain(
      `label=llmops.dev/run-id=${config.runId}`,
    );

    // Another attempt of the same run is another job.
    const second = await backend().submit(attempt({ attempt: 2 }));
    expect(second.remoteId).not.toBe(first.remoteId);
    expect(posts()).toHaveLength(2);
  });

  it("finds the attempt's job on a later page when the listing ignores the label filter", async () => {
    const first = await backend().submit(attempt());
    server.honourListFilters = false;
    server.pageSize = 2;
    for (let i = 0; i < 5; i++) {
      server.seedJob("alice", {
        flavor: "cpu-basic",
        dockerImage: "python:3.12",
        labels: { name: `other-${i}` },
      });
    }
    expect(await backend().submit(attempt())).toEqual(first);
    expect(posts()).toHaveLength(1);
  });

  it("concurrent submits of one attempt create one job", async () => {
    const b = backend();
    const refs = await Promise.all([b.submit(attempt()), b.submit(attempt()), b.submit(attempt())]);
    expect(new Set(refs.map((r) => r.remoteId)).size).toBe(1);
    expect(posts()).toHaveLength(1);
  });

  it("shows the trainer's progress from the log stream, across a dropped and a stalled connection", async () => {
    const b = backend({ logIdleMs: 600 });
    const request = attempt();
    const ref = await b.submit(request);
    expect(await b.observe(request, ref)).toMatchObject({ phase: "Pending" });

    const job = server.job(ref.remoteId ?? "");
    job.run().log("Loading checkpoint shards: 100%", started, progress(10, 2.1));
    const running = await eventually(
      () => b.observe(request, ref),
      (s) => s?.lastProgress?.step === 10,
    );
    expect(running).toMatchObject({ phase: "Running", lastProgress: { step: 10, loss: 2.1 } });
    expect(running?.startedAt).toBeInstanceOf(Date);

    // A dropped connection: the follower reconnects and skips the replayed lines.
    const connections = server.logConnections();
    server.dropLogStreams();
    job.log(progress(20, 1.7), {
      llmops: 1,
      event: "checkpoint",
      step: 20,
      path: "/tmp/checkpoints/checkpoint-20",
    });
    const after = await eventually(
      () => b.observe(request, ref),
      (s) => s?.lastCheckpoint?.step === 20,
    );
    expect(after).toMatchObject({ lastProgress: { step: 20, loss: 1.7 } });
    expect(server.logConnections()).toBeGreaterThan(connections);

    // A connection that goes silent (no keep-alive either) is given up and reopened.
    const beforeStall = server.logConnections();
    server.stallLogStreams();
    job.log(progress(30, 1.2));
    const resumed = await eventually(
      () => b.observe(request, ref),
      (s) => s?.lastProgress?.step === 30,
    );
    expect(resumed?.phase).toBe("Running");
    expect(server.logConnections()).toBeGreaterThan(beforeStall);
  });

  it("follows a log the service opens only once the job runs (404 before)", async () => {
    server.logsNotFoundUntilRunning = true;
    const b = backend();
    const request = attempt();
    const ref = await b.submit(request);
    expect(await b.observe(request, ref)).toMatchObject({ phase: "Pending" });
    await eventually(
      () => Promise.resolve(server.logConnections()),
      (n) => n >= 2,
    );
    server
      .job(ref.remoteId ?? "")
      .run()
      .log(started, progress(3, 2.5));
    const state = await eventually(
      () => b.observe(request, ref),
      (s) => s?.lastProgress?.step === 3,
    );
    expect(state?.phase).toBe("Running");
  });

  it("completes with the output from the trainer's completed record, also after a restart", async () => {
    const b = backend();
    const request = attempt();
    const ref = await b.submit(request);
    const job = server.job(ref.remoteId ?? "");
    job.run().log(started, progress(100, 0.4), completed).complete();

    const state = await b.observe(request, ref);
    expect(state).toMatchObject({
      phase: "Succeeded",
      completed: { output: completed.output, metrics: { steps: 100 } },
      lastProgress: { step: 100 },
    });
    expect(state?.finishedAt).toBeInstanceOf(Date);
    expect(server.openLogStreams()).toBe(0);

    // A fresh controller reads the finished job's log from its start.
    const restarted = await backend().observe(request, ref);
    expect(restarted).toMatchObject({
      phase: "Succeeded",
      completed: { output: completed.output },
    });
  });

  it("a permanent failed record is Failed, not retryable, naming the field", async () => {
    const b = backend();
    const request = attempt();
    const ref = await b.submit(request);
    server
      .job(ref.remoteId ?? "")
      .run()
      .log(started, {
        llmops: 1,
        event: "failed",
        reason: "DatasetFormat",
        message: "line 3 has no messages field; chat datasets need one",
        field: "spec.dataset.format",
        retryable: false,
      })
      .error("exit code 1");
    const state = await b.observe(request, ref);
    expect(state).toMatchObject({ phase: "Failed", retryable: false, reason: "DatasetFormat" });
    expect(state?.message).toContain("spec.dataset.format: line 3");
  });

  it("a retryable failed record (OOM) and an ERROR stage without a record are retryable", async () => {
    const b = backend({ finalRecordWaitMs: 300 });
    const first = attempt();
    const ref = await b.submit(first);
    server
      .job(ref.remoteId ?? "")
      .run()
      .log({
        llmops: 1,
        event: "failed",
        reason: "OutOfMemory",
        message: "CUDA out of memory",
        retryable: true,
      })
      .error("exit code 137");
    expect(await b.observe(first, ref)).toMatchObject({
      phase: "Failed",
      retryable: true,
      reason: "OutOfMemory",
    });

    const second = attempt({ attempt: 2 });
    const ref2 = await b.submit(second);
    server
      .job(ref2.remoteId ?? "")
      .run()
      .log("Segmentation fault")
      .error("exit code 139");
    expect(await b.observe(second, ref2)).toMatchObject({
      phase: "Failed",
      retryable: true,
      reason: "RemoteJobError",
      message: expect.stringContaining("exit code 139") as string,
    });
  });

  it("a job that exits 0 without a completed record has no known output", async () => {
    const b = backend({ finalRecordWaitMs: 300 });
    const request = attempt();
    const ref = await b.submit(request);
    server
      .job(ref.remoteId ?? "")
      .run()
      .log(started)
      .complete();
    expect(await b.observe(request, ref)).toMatchObject({
      phase: "Failed",
      reason: "TrainerRecordMissing",
    });
  });

  it("cancels a running job once; a finished or deleted job is fine", async () => {
    const b = backend();
    const request = attempt();
    const ref = await b.submit(request);
    server.job(ref.remoteId ?? "").run();
    await b.cancel(request, ref);
    expect(server.job(ref.remoteId ?? "").stage).toBe("CANCELED");
    expect(await b.observe(request, ref)).toMatchObject({ phase: "Cancelled" });

    const cancels = () => server.requests.filter((r) => r.url.endsWith("/cancel")).length;
    expect(cancels()).toBe(1);
    await b.cancel(request, ref);
    expect(cancels()).toBe(1);

    const done = attempt({ attempt: 2 });
    const doneRef = await b.submit(done);
    server
      .job(doneRef.remoteId ?? "")
      .run()
      .log(completed)
      .complete();
    await b.cancel(done, doneRef);
    expect(server.job(doneRef.remoteId ?? "").stage).toBe("COMPLETED");
    expect(cancels()).toBe(1);

    await b.cancel(done, {
      remoteId: "000000000000000000000000",
      url: `${hubUrl}/jobs/alice/000000000000000000000000`,
    });
  });

  it("a deleted or unknown job is not there", async () => {
    const b = backend();
    const request = attempt();
    const ref = await b.submit(request);
    server
      .job(ref.remoteId ?? "")
      .run()
      .remove();
    expect(await b.observe(request, ref)).toBeUndefined();
    expect(
      await b.observe(request, {
        remoteId: "ffffffffffffffffffffffff",
        url: `${hubUrl}/jobs/alice/ffffffffffffffffffffffff`,
      }),
    ).toBeUndefined();
  });

  it("a refused token is terminal and names tokenSecretRef", async () => {
    const wrong = attempt({
      secrets: [
        { env: "HF_JOBS_TOKEN", secretRef: { name: "hf-jobs", key: "token" }, value: otherToken },
      ],
    });
    const err = await failure(backend().submit(wrong));
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain("spec.backend.huggingFaceJobs.tokenSecretRef");
    expect(err.message).toContain("HTTP 401");

    // A known user whose account has no Jobs: 403, also terminal.
    server.addUser({ name: "bob", token: otherToken, canRunJobs: false });
    const forbidden = await failure(backend().submit(wrong));
    expect(forbidden).toBeInstanceOf(TerminalError);
    expect(forbidden.message).toContain("HTTP 403");
    expect(forbidden.message).toContain("spec.backend.huggingFaceJobs.tokenSecretRef");
    expect(posts().every((r) => r.authorization !== `Bearer ${token}`)).toBe(true);
  });

  it("429 honours Retry-After and 500 is transient; the retry then creates exactly one job", async () => {
    const b = backend();
    server.failNext = { count: 1, status: 429, retryAfter: "7", path: /^\/api\/jobs\/alice$/ };
    const limited = await failure(
      b.submit(attempt({ options: { ...attempt().options, owner: "alice" } })),
    );
    expect(limited).toBeInstanceOf(TransientError);
    expect((limited as TransientError).retryAfterMs).toBe(7000);

    server.failNext = { count: 1, status: 500 };
    const broken = await failure(b.submit(attempt()));
    expect(broken).toBeInstanceOf(TransientError);
    expect(broken.message).toContain("HTTP 500");

    const ref = await b.submit(attempt());
    expect(posts().filter((r) => r.body !== undefined)).toHaveLength(1);
    server.failNext = { count: 1, status: 503, path: /\/api\/jobs\/alice\/[0-9a-f]+$/ };
    const observed = await failure(b.observe(attempt(), ref));
    expect(observed).toBeInstanceOf(TransientError);
    const state: AttemptState | undefined = await b.observe(attempt(), ref);
    expect(state?.phase).toBe("Pending");
  });
});
