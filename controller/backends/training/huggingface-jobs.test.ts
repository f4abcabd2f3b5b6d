import { HubApiError } from "@huggingface/hub";
import { describe, expect, it } from "vitest";
import { TerminalError, TransientError } from "../../kube/errors.js";
import type { AttemptRequest, AttemptState } from "./backend.js";
import {
  attemptLabels,
  attemptStateFor,
  chooseFlavor,
  defaultTimeoutSeconds,
  huggingFaceJobsSettings,
  hubJobsError,
  jobSpecFor,
  labelValue,
  namespaceFromJobUrl,
  nextLink,
  stageKind,
  trainerConfigEnv,
  type AttemptRecords,
  type HubJob,
} from "./huggingface-jobs.js";
import type { TrainerConfig } from "./trainer-contract.js";

const config: TrainerConfig = {
  runId: "abc123",
  attempt: 1,
  method: "sft",
  baseModel: { repo: "acme/base", revision: "0".repeat(40) },
  dataset: { format: "chat", path: "/data/train.jsonl" },
  hyperparameters: {
    epochs: 1,
    learningRate: 0.001,
    lrScheduler: "constant",
    warmupRatio: 0,
    batchSize: 1,
    gradientAccumulationSteps: 1,
    maxSeqLength: 128,
  },
  output: { dir: "/tmp/out", huggingFace: { repo: "acme/out", private: true } },
  checkpoints: { dir: "/tmp/ckpt", saveSteps: 10 },
};

function request(overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  return {
    owner: {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      namespace: "ns",
      name: "tj",
      uid: "u",
    },
    runId: "abc123",
    attempt: 1,
    config,
    secrets: [
      { env: "HF_TOKEN", secretRef: { name: "hf", key: "token" }, value: "hf_secretsecret" },
    ],
    gpu: { type: "A10G", count: 1, flavor: "a10g-small" },
    options: {},
    ...overrides,
  };
}

describe("chooseFlavor", () => {
  const rows: {
    name: string;
    gpu: AttemptRequest["gpu"];
    options?: Record<string, unknown>;
    want: string | RegExp;
  }[] = [
    {
      name: "the estimate's flavor",
      gpu: { type: "A10G", count: 1, flavor: "a10g-small" },
      want: "a10g-small",
    },
    {
      name: "h200 for big models",
      gpu: { type: "H200", count: 2, flavor: "h200x2" },
      want: "h200x2",
    },
    {
      name: "the spec's flavor when the estimate chose none",
      gpu: { type: "A100", count: 1 },
      options: { flavor: "a100-large" },
      want: "a100-large",
    },
    {
      name: "auto and no estimate",
      gpu: { type: "A100", count: 1 },
      options: { flavor: "auto" },
      want: /no Hugging Face Jobs flavor was chosen.*spec\.backend\.huggingFaceJobs\.flavor/,
    },
    {
      name: "an unknown flavor (no H100 on Hugging Face Jobs)",
      gpu: { type: "H100", count: 1, flavor: "h100" },
      want: /^spec\.backend\.huggingFaceJobs\.flavor: Hugging Face Jobs has no flavor "h100"; use one of cpu-basic/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const run = () => chooseFlavor({ gpu: row.gpu, options: row.options ?? {} });
      if (typeof row.want === "string") {
        expect(run()).toBe(row.want);
      } else {
        expect(run).toThrow(TerminalError);
        expect(run).toThrow(row.want);
      }
    });
  }
});

describe("huggingFaceJobsSettings", () => {
  it("reads spec.backend.huggingFaceJobs, nested or not", () => {
    const inner = {
      owner: "acme",
      flavor: "l4x1",
      image: "img",
      tokenSecretRef: { name: "s", key: "k" },
    };
    expect(huggingFaceJobsSettings(inner)).toEqual(inner);
    expect(huggingFaceJobsSettings({ type: "huggingFaceJobs", huggingFaceJobs: inner })).toEqual(
      inner,
    );
    expect(huggingFaceJobsSettings({ owner: "", tokenSecretRef: { name: 1 } })).toEqual({});
  });
});

describe("labelValue", () => {
  const rows = [
    { value: "3f9c2a1b7d4e", want: "3f9c2a1b7d4e" },
    { value: "team-a.ticket-sft", want: "team-a.ticket-sft" },
    { value: "team a/ticket", want: /^team-a-ticket-[0-9a-f]{8}$/ },
    { value: "x".repeat(80), want: /^x{54}-[0-9a-f]{8}$/ },
  ];
  for (const row of rows) {
    it(row.value.slice(0, 20), () => {
      const got = labelValue(row.value);
      if (typeof row.want === "string") expect(got).toBe(row.want);
      else expect(got).toMatch(row.want);
      expect(got.length).toBeLessThanOrEqual(63);
      expect(got).toMatch(/^[A-Za-z0-9._-]+$/);
    });
  }
  it("keeps two values that clean up alike apart", () => {
    expect(labelValue("a/b")).not.toBe(labelValue("a b"));
  });
});

describe("attemptLabels", () => {
  it("names the run, the attempt and the TrainingJob as namespace.name", () => {
    expect(attemptLabels(request({ attempt: 3 }))).toEqual({
      "llmops.dev/run-id": "abc123",
      "llmops.dev/attempt": "3",
      "llmops.dev/training-job": "ns.tj",
      name: "tj-attempt-3",
    });
  });
});

describe("jobSpecFor", () => {
  const choice = { image: "img:1", flavor: "a10g-small" };

  it("puts secrets in secrets only and the config, base64, in the environment", () => {
    const spec = jobSpecFor(
      request({ env: { HF_TOKEN: "plain?", OTHER: "1" }, maxSeconds: 3599.2 }),
      choice,
    );
    expect(spec.secrets).toEqual({ HF_TOKEN: "hf_secretsecret" });
    expect(spec.environment?.HF_TOKEN).toBeUndefined();
    expect(spec.environment?.OTHER).toBe("1");
    expect(
      JSON.parse(Buffer.from(spec.environment?.[trainerConfigEnv] ?? "", "base64").toString()),
    ).toEqual(config);
    expect(spec.timeoutSeconds).toBe(3600);
    expect(spec.flavor).toBe("a10g-small");
    expect(spec.dockerImage).toBe("img:1");
  });

  it("always sends a timeout", () => {
    expect(jobSpecFor(request(), choice).timeoutSeconds).toBe(defaultTimeoutSeconds);
  });

  it("refuses a secret value that would travel in plain text", () => {
    expect(() => jobSpecFor(request({ env: { SOMETHING: "hf_secretsecret" } }), choice)).toThrow(
      /Secret hf key token appears outside the job's secrets/,
    );
    const leaky = { ...config, output: { ...config.output, dir: "/tmp/hf_secretsecret" } };
    expect(() => jobSpecFor(request({ config: leaky }), choice)).toThrow(TerminalError);
  });
});

describe("stageKind", () => {
  const rows: [string, ReturnType<typeof stageKind>][] = [
    ["SCHEDULING", "pending"],
    ["RUNNING", "running"],
    ["UPDATING", "running"],
    ["COMPLETED", "completed"],
    ["ERROR", "error"],
    ["CANCELED", "cancelled"],
    ["STOPPED", "cancelled"],
    ["DELETED", "gone"],
    ["DELETING", "gone"],
    ["running", "running"],
    ["SOMETHING_NEW", "pending"],
  ];
  for (const [stage, want] of rows) {
    it(stage, () => {
      expect(stageKind(stage)).toBe(want);
    });
  }
});

describe("attemptStateFor", () => {
  const t0 = "2026-01-01T00:00:00.000Z";
  function job(stage: string, extra: Partial<Record<string, unknown>> = {}): HubJob {
    return {
      type: "job",
      id: "j1",
      createdAt: t0,
      flavor: "a10g-small",
      status: { stage, message: null, failureCount: 0 },
      ...extra,
    } as unknown as HubJob;
  }
  const progress = {
    llmops: 1,
    event: "progress",
    step: 5,
    totalSteps: 10,
    epoch: 0.5,
    loss: 1,
  } as const;
  const completed = {
    llmops: 1,
    event: "completed",
    output: { path: "/tmp/out", repo: "acme/out", revision: "f".repeat(40) },
    metrics: { steps: 10, seconds: 60 },
  } as const;
  const failed = (reason: string, retryable: boolean) =>
    ({ llmops: 1, event: "failed", reason, message: "m", field: "spec.x", retryable }) as const;

  const rows: {
    name: string;
    job: HubJob;
    records?: AttemptRecords;
    want: Partial<AttemptState> | undefined;
  }[] = [
    { name: "scheduling is Pending", job: job("SCHEDULING"), want: { phase: "Pending" } },
    {
      name: "running with the latest progress",
      job: job("RUNNING", { startedAt: t0 }),
      records: { progress },
      want: { phase: "Running", lastProgress: progress, startedAt: new Date(t0) },
    },
    {
      name: "completed with the completed record",
      job: job("COMPLETED", { finishedAt: t0 }),
      records: { completed },
      want: { phase: "Succeeded", completed, finishedAt: new Date(t0) },
    },
    {
      name: "completed without it",
      job: job("COMPLETED"),
      want: { phase: "Failed", retryable: true, reason: "TrainerRecordMissing" },
    },
    {
      name: "error with a permanent reason, even if the record says retryable",
      job: job("ERROR"),
      records: { failed: failed("BaseModelNotFound", true) },
      want: {
        phase: "Failed",
        retryable: false,
        reason: "BaseModelNotFound",
        message: "spec.x: m",
      },
    },
    {
      name: "error with a retryable record",
      job: job("ERROR"),
      records: { failed: failed("OutOfMemory", true) },
      want: { phase: "Failed", retryable: true, reason: "OutOfMemory" },
    },
    {
      name: "error without a record",
      job: job("ERROR", { status: { stage: "ERROR", message: "exit code 1", failureCount: 1 } }),
      want: {
        phase: "Failed",
        retryable: true,
        reason: "RemoteJobError",
        message: "Hugging Face job j1 ended in ERROR: exit code 1",
      },
    },
    {
      name: "error at the timeout (by message)",
      job: job("ERROR", { status: { stage: "ERROR", message: "Job timed out", failureCount: 1 } }),
      want: { phase: "Failed", retryable: false, reason: "DeadlineExceeded" },
    },
    {
      name: "error at the timeout (by the clock)",
      job: job("ERROR", {
        startedAt: t0,
        finishedAt: "2026-01-01T01:00:00.000Z",
        timeoutSeconds: 3600,
      }),
      want: { phase: "Failed", retryable: false, reason: "DeadlineExceeded" },
    },
    { name: "canceled", job: job("CANCELED"), want: { phase: "Cancelled" } },
    { name: "deleted is gone", job: job("DELETED"), want: undefined },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const got = attemptStateFor(row.job, row.records ?? {});
      if (row.want === undefined) expect(got).toBeUndefined();
      else expect(got).toMatchObject(row.want);
    });
  }
});

describe("hubJobsError", () => {
  function apiError(status: number, error?: string): HubApiError {
    const err = new HubApiError(
      "http://hub/api/jobs/alice",
      status,
      undefined,
      `Api error ${status}`,
    );
    if (error !== undefined) err.data = { error };
    return err;
  }

  it("401 and 403 are terminal and name tokenSecretRef", () => {
    for (const status of [401, 403]) {
      const err = hubJobsError(
        apiError(status, "Invalid credentials in Authorization header"),
        "creating",
        {
          namespace: "alice",
        },
      );
      expect(err).toBeInstanceOf(TerminalError);
      expect(err.message).toContain("spec.backend.huggingFaceJobs.tokenSecretRef");
      expect(err.message).toContain(`HTTP ${status}`);
      expect((err as TerminalError).reason).toBe("HubTokenRefused");
    }
  });

  it("429, 408 and 5xx are transient with Retry-After", () => {
    for (const status of [408, 429, 500, 503]) {
      const err = hubJobsError(apiError(status), "listing", { retryAfterMs: 5000 });
      expect(err).toBeInstanceOf(TransientError);
      expect((err as TransientError).retryAfterMs).toBe(5000);
    }
  });

  it("a rejected flavor names the flavor field", () => {
    const err = hubJobsError(apiError(400, 'Invalid flavor "x"'), "creating");
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toMatch(
      /^spec\.backend\.huggingFaceJobs\.flavor: creating: .*Invalid flavor "x"/,
    );
  });

  it("404 on create names the owner field", () => {
    const err = hubJobsError(apiError(404), "creating", { namespace: "nobody" });
    expect(err).toBeInstanceOf(TerminalError);
    expect(err.message).toContain("spec.backend.huggingFaceJobs.owner");
  });

  it("a network failure is transient", () => {
    const err = hubJobsError(
      new TypeError("fetch failed", { cause: new Error("ECONNREFUSED") }),
      "reading",
    );
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe("reading: fetch failed: ECONNREFUSED");
  });
});

describe("namespaceFromJobUrl and nextLink", () => {
  it("reads the namespace of a job URL", () => {
    expect(namespaceFromJobUrl("https://huggingface.co/jobs/acme/68a1")).toBe("acme");
    expect(namespaceFromJobUrl("http://127.0.0.1:1/hub/jobs/alice/68a1/")).toBe("alice");
    expect(namespaceFromJobUrl("https://huggingface.co/acme")).toBeUndefined();
    expect(namespaceFromJobUrl(undefined)).toBeUndefined();
    expect(namespaceFromJobUrl("not a url")).toBeUndefined();
  });

  it("reads rel=next of a Link header", () => {
    const base = "https://huggingface.co/api/jobs/alice?label=a%3Db";
    expect(nextLink('<https://huggingface.co/api/jobs/alice?cursor=x>; rel="next"', base)).toBe(
      "https://huggingface.co/api/jobs/alice?cursor=x",
    );
    expect(
      nextLink('</api/jobs/alice?p=2>; rel="next", </api/jobs/alice?p=0>; rel="prev"', base),
    ).toBe("https://huggingface.co/api/jobs/alice?p=2");
    expect(nextLink('<https://x/?p=0>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(null, base)).toBeUndefined();
  });
});
