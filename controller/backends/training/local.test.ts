// The local backend against real child processes: test/training/fake-trainer.js speaks the
// trainer contract in milliseconds and is steered by the environment (see its header).
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TerminalError } from "../../kube/errors.js";
import { systemClock } from "../../runtime/clock.js";
import type { AttemptRef, AttemptRequest, AttemptState } from "./backend.js";
import {
  createLocalBackend,
  localAttemptDir,
  localAttemptState,
  type LocalAttemptFacts,
  type LocalBackendOptions,
} from "./local.js";
import type { TrainerConfig } from "./trainer-contract.js";

const fakeTrainer = fileURLToPath(
  new URL("../../../test/training/fake-trainer.js", import.meta.url),
);

let root: string;
/** Process groups the tests started, killed at the end whatever happened. */
const groups: number[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "llmops-local-backend-"));
});

afterEach(() => {
  for (const pid of groups.splice(0)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true });
});

function backend(options: Partial<LocalBackendOptions> = {}) {
  return createLocalBackend({
    command: [process.execPath, fakeTrainer],
    runsDir: join(root, "runs"),
    ...options,
  });
}

function config(overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  return {
    runId: "r-0123456789",
    attempt: 1,
    method: "sft",
    baseModel: { path: join(root, "base") },
    dataset: { format: "chat", path: join(root, "train.jsonl") },
    hyperparameters: {
      epochs: 1,
      learningRate: 1e-4,
      lrScheduler: "linear",
      warmupRatio: 0,
      batchSize: 2,
      gradientAccumulationSteps: 1,
      maxSeqLength: 128,
      maxSteps: 4,
    },
    output: { dir: join(root, "out", "model") },
    checkpoints: { dir: join(root, "out", "checkpoints"), saveSteps: 2 },
    ...overrides,
  };
}

/** A request whose trainer appends its pid to <root>/starts, once per start. */
function request(
  env: Record<string, string> = {},
  extra: Partial<AttemptRequest> = {},
): AttemptRequest {
  return {
    owner: {
      apiVersion: "llmops.dev/v1alpha1",
      kind: "TrainingJob",
      namespace: "team-a",
      name: "triage",
      uid: "uid-1",
    },
    runId: "r-0123456789",
    attempt: 1,
    config: config(),
    secrets: [],
    gpu: { type: "cpu", count: 0 },
    options: {},
    env: { FAKE_TRAINER_STARTS: join(root, "starts"), ...env },
    ...extra,
  };
}

function starts(): number {
  const path = join(root, "starts");
  return existsSync(path) ? readFileSync(path, "utf8").trim().split("\n").length : 0;
}

function track(ref: AttemptRef): number {
  const pid = Number(ref.remoteId);
  groups.push(pid);
  return pid;
}

/** Whether a process (or, negative, a process group) has a member that is not a zombie. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (pid < 0) {
    return readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .some((entry) => {
        const stat = procStat(Number(entry));
        return stat?.pgrp === -pid && stat.state !== "Z";
      });
  }
  return procStat(pid)?.state !== "Z";
}

function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

async function until<T>(
  read: () => Promise<T> | T,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const finished = (state: AttemptState | undefined) =>
  state !== undefined && ["Succeeded", "Failed", "Cancelled"].includes(state.phase);

describe("local training backend", () => {
  it("starts an attempt once, reports its progress and its output, and survives a restart", async () => {
    const gateStart = join(root, "gate-start");
    const gateEnd = join(root, "gate-end");
    const req = request({ FAKE_TRAINER_GATE_START: gateStart, FAKE_TRAINER_GATE_END: gateEnd });
    const local = backend();
    const dir = localAttemptDir(join(root, "runs"), req);
    expect(dir).toBe(join(root, "runs", "team-a", "triage", "r-0123456789", "attempt-1"));

    const ref = await local.submit(req);
    const pid = track(ref);
    expect(ref).toEqual({
      name: "r-0123456789/attempt-1",
      remoteId: String(pid),
      url: pathToFileURL(dir).href,
    });
    expect(JSON.parse(readFileSync(join(dir, "trainer.json"), "utf8"))).toEqual(req.config);
    expect(readFileSync(join(dir, "pid"), "utf8").trim()).toBe(String(pid));

    // Again, and from a fresh backend as after a controller restart: the same attempt, no start.
    expect(await local.submit(req)).toEqual(ref);
    expect(await backend().submit(req)).toEqual(ref);

    const pending = await until(
      () => local.observe(req, ref),
      () => starts() === 1,
    );
    expect(pending?.phase).toBe("Pending");
    expect(pending?.startedAt).toBeInstanceOf(Date);

    writeFileSync(gateStart, "");
    const seen: number[] = [];
    const running4 = await until(
      () => local.observe(req, ref),
      (state) => {
        if (state?.lastProgress?.loss !== undefined) seen.push(state.lastProgress.loss);
        return state?.lastCheckpoint !== undefined;
      },
    );
    expect(running4).toMatchObject({
      phase: "Running",
      lastProgress: { step: 4, totalSteps: 4, loss: 0.5 },
      lastCheckpoint: { step: 4, path: join(root, "out", "checkpoints", "checkpoint-4") },
    });
    expect(seen).toEqual([...seen].sort((a, b) => b - a)); // the loss only falls
    // A restarted controller reads the log from the start and sees the same attempt.
    expect(await backend().observe(req, ref)).toMatchObject({
      phase: "Running",
      lastProgress: { step: 4 },
    });

    writeFileSync(gateEnd, "");
    const done = await until(() => local.observe(req, ref), finished);
    expect(done).toMatchObject({
      phase: "Succeeded",
      completed: { output: { path: join(root, "out", "model") }, metrics: { steps: 4 } },
      lastProgress: { step: 4 },
    });
    expect(done?.finishedAt?.getTime()).toBeGreaterThanOrEqual(done?.startedAt?.getTime() ?? 0);
    expect(readFileSync(join(dir, "exit-code"), "utf8").trim()).toBe("0");
    // The wrapper writes exit-code as its last act; its process group is gone a moment later.
    expect(
      await until(
        () => running(-pid),
        (alive) => !alive,
        5000,
      ),
    ).toBe(false);

    // Finished: a restarted controller recovers the outcome, and a submit still starts nothing.
    expect(await backend().observe(req, ref)).toEqual(done);
    expect(await backend().submit(req)).toEqual(ref);
    expect(starts()).toBe(1);
  });

  it("hands the trainer its config path, OMP_NUM_THREADS=1 and secrets only through the environment", async () => {
    const envOut = join(root, "env.json");
    const req = request(
      { FAKE_TRAINER_ENV_OUT: envOut, HF_ENDPOINT: "http://127.0.0.1:1" },
      {
        secrets: [
          { env: "HF_TOKEN", secretRef: { name: "hub", key: "token" }, value: "hf_s3cr3t-value" },
        ],
      },
    );
    const local = backend({ env: { FROM_OPTIONS: "yes", HF_ENDPOINT: "overridden" } });
    const ref = await local.submit(req);
    track(ref);
    expect((await until(() => local.observe(req, ref), finished))?.phase).toBe("Succeeded");

    const dir = localAttemptDir(join(root, "runs"), req);
    const env = JSON.parse(readFileSync(envOut, "utf8")) as Record<string, string>;
    expect(env).toMatchObject({
      HF_TOKEN: "hf_s3cr3t-value",
      HF_ENDPOINT: "http://127.0.0.1:1", // the request's env over the backend's
      FROM_OPTIONS: "yes",
      TRAINER_CONFIG: join(dir, "trainer.json"),
      OMP_NUM_THREADS: "1",
    });
    expect(env.PATH).toBe(process.env.PATH);
    for (const file of readdirSync(dir)) {
      expect(readFileSync(join(dir, file), "utf8"), file).not.toContain("hf_s3cr3t-value");
    }
  });

  // How an attempt that did not succeed ends: what the reconciler retries and what it does not.
  const failures: {
    name: string;
    env: Record<string, string>;
    want: Partial<AttemptState>;
    message: RegExp;
  }[] = [
    {
      name: "a permanent failed record is not retryable, and names the field",
      env: { FAKE_TRAINER_MODE: "fail" },
      want: { phase: "Failed", reason: "DatasetFormat", retryable: false },
      message: /^spec\.dataset\.format: line 1 has no messages/,
    },
    {
      name: "a permanent reason is not retried even when the record says retryable",
      env: { FAKE_TRAINER_MODE: "fail", FAKE_TRAINER_RETRYABLE: "true" },
      want: { phase: "Failed", reason: "DatasetFormat", retryable: false },
      message: /no messages/,
    },
    {
      name: "another reason is retried",
      env: {
        FAKE_TRAINER_MODE: "fail",
        FAKE_TRAINER_REASON: "OutOfMemory",
        FAKE_TRAINER_RETRYABLE: "true",
      },
      want: { phase: "Failed", reason: "OutOfMemory", retryable: true },
      message: /no messages/,
    },
    {
      name: "a trainer killed by a signal is retried",
      env: { FAKE_TRAINER_MODE: "kill" },
      want: { phase: "Failed", reason: "Killed", retryable: true },
      message: /killed by SIGKILL \(exit code 137\): out of memory/,
    },
    {
      name: "a trainer that exits without a record is retried, with the end of its stderr",
      env: { FAKE_TRAINER_MODE: "exit" },
      want: { phase: "Failed", reason: "TrainerExited", retryable: true },
      message:
        /exited with code 3 without a failed record; stderr\.log ends: .*RuntimeError: the last words$/s,
    },
  ];

  it.each(failures)("$name", async ({ env, want, message }) => {
    const req = request(env);
    const local = backend();
    const ref = await local.submit(req);
    track(ref);
    const state = await until(() => local.observe(req, ref), finished);
    expect(state).toMatchObject({ ...want, lastCheckpoint: { step: 4 } });
    expect(state?.message).toMatch(message);
    expect(state?.message?.length).toBeLessThan(2300); // the stderr tail is bounded
    expect(state?.finishedAt).toBeInstanceOf(Date);
    // The same from a restarted controller.
    expect(await backend().observe(req, ref)).toEqual(state);
  });

  it("cancel stops the whole process group and is idempotent", async () => {
    const childPid = join(root, "child-pid");
    const req = request({ FAKE_TRAINER_MODE: "hang", FAKE_TRAINER_CHILD_PID: childPid });
    const local = backend();
    const ref = await local.submit(req);
    const pid = track(ref);
    const state = await until(
      () => local.observe(req, ref),
      (s) => s?.lastProgress !== undefined && existsSync(childPid),
    );
    expect(state).toMatchObject({ phase: "Running", lastProgress: { step: 1 } });
    const child = Number(readFileSync(childPid, "utf8"));
    expect(running(child)).toBe(true);

    await local.cancel(req, ref);
    await until(
      () => running(-pid),
      (alive) => !alive,
    );
    expect(running(-pid)).toBe(false);
    expect(running(child)).toBe(false);
    // The wrapper outlived the trainer's SIGTERM and recorded how it ended.
    const dir = localAttemptDir(join(root, "runs"), req);
    expect(await until(() => existsSync(join(dir, "exit-code")), Boolean)).toBe(true);
    expect(readFileSync(join(dir, "exit-code"), "utf8").trim()).toBe("143");
    const cancelled = await local.observe(req, ref);
    expect(cancelled).toMatchObject({ phase: "Cancelled", lastProgress: { step: 1 } });
    expect(cancelled?.finishedAt).toBeInstanceOf(Date);

    await local.cancel(req, ref);
    await backend().cancel(req, ref);
    expect(await backend().observe(req, ref)).toMatchObject({ phase: "Cancelled" });
    // A cancelled attempt is not started again.
    expect(await local.submit(req)).toEqual(ref);
    expect(starts()).toBe(1);
  });

  it("cancel kills a trainer that ignores SIGTERM after the grace", async () => {
    const req = request({ FAKE_TRAINER_MODE: "stubborn" });
    const local = backend({ killGraceMs: 1_500 });
    const ref = await local.submit(req);
    const pid = track(ref);
    await until(
      () => local.observe(req, ref),
      (s) => s?.phase === "Running",
    );
    await local.cancel(req, ref);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(running(-pid)).toBe(true); // still in its grace
    expect(
      await until(
        () => running(-pid),
        (alive) => !alive,
      ),
    ).toBe(false);
    expect(await local.observe(req, ref)).toMatchObject({ phase: "Cancelled" });
  });

  it("cancelling a finished or missing attempt changes nothing", async () => {
    const req = request();
    const local = backend();
    const ref = await local.submit(req);
    track(ref);
    expect((await until(() => local.observe(req, ref), finished))?.phase).toBe("Succeeded");
    await local.cancel(req, ref);
    expect((await local.observe(req, ref))?.phase).toBe("Succeeded");

    const missing = request({}, { attempt: 2 });
    await local.cancel(missing, {});
    expect(await local.observe(missing, {})).toBeUndefined();
    expect(existsSync(localAttemptDir(join(root, "runs"), missing))).toBe(false);

    // A controller stopped while starting attempt 3 left its directory; cancel keeps it unstarted.
    const interrupted = request({}, { attempt: 3 });
    const dir = localAttemptDir(join(root, "runs"), interrupted);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "trainer.json"), JSON.stringify(interrupted.config));
    expect(await local.observe(interrupted, {})).toMatchObject({ reason: "AttemptLost" });
    await local.cancel(interrupted, {});
    expect(await local.submit(interrupted)).toEqual({
      name: "r-0123456789/attempt-3",
      url: pathToFileURL(dir).href,
    });
    expect(await local.observe(interrupted, {})).toMatchObject({ phase: "Cancelled" });
    expect(starts()).toBe(1);
  });

  it("an attempt whose process group vanished without an exit status is lost (retryable)", async () => {
    const req = request({ FAKE_TRAINER_MODE: "hang" });
    const local = backend();
    const ref = await local.submit(req);
    const pid = track(ref);
    await until(
      () => local.observe(req, ref),
      (s) => s?.phase === "Running",
    );
    process.kill(-pid, "SIGKILL"); // the wrapper too: as if the machine had restarted
    const state = await until(() => backend().observe(req, ref), finished);
    expect(state).toMatchObject({ phase: "Failed", reason: "AttemptLost", retryable: true });
  });

  it("stops an attempt that runs past maxSeconds (budget.maxHours)", async () => {
    const req = request({ FAKE_TRAINER_MODE: "hang" }, { maxSeconds: 60 });
    const real = systemClock();
    const local = backend({ killGraceMs: 100 });
    const ref = await local.submit(req);
    const pid = track(ref);
    await until(
      () => local.observe(req, ref),
      (s) => s?.phase === "Running",
    );

    const later = backend({ clock: { ...real, now: () => real.now() + 61_000 }, killGraceMs: 100 });
    const state = await later.observe(req, ref);
    expect(state).toMatchObject({ phase: "Failed", reason: "BudgetExceeded", retryable: false });
    expect(state?.message).toMatch(/ran past 60 s \(budget\.maxHours\)/);
    expect(
      await until(
        () => running(-pid),
        (alive) => !alive,
      ),
    ).toBe(false);
    expect(await local.observe(req, ref)).toMatchObject({ reason: "BudgetExceeded" });
  });

  it("refuses a trainer that is not installed, and a run directory outside runsDir", async () => {
    const missing = backend({ command: [join(root, "venv", "bin", "llmops-train")] });
    await expect(missing.submit(request())).rejects.toThrow(TerminalError);
    await expect(missing.submit(request())).rejects.toThrow(/is not an executable file/);
    expect(starts()).toBe(0);

    const climbing = request({}, { runId: ".." });
    await expect(backend().submit(climbing)).rejects.toThrow(/status\.runId "\.\." cannot name/);
    expect(() => createLocalBackend({ command: [], runsDir: root })).toThrow(/command is empty/);
  });
});

describe("localAttemptState", () => {
  const progress = { llmops: 1, event: "progress", step: 3, totalSteps: 4, epoch: 0.75 } as const;
  const completed = {
    llmops: 1,
    event: "completed",
    output: { path: "/out" },
    metrics: { steps: 4, seconds: 1 },
  } as const;
  const base: LocalAttemptFacts = {
    cancelled: false,
    started: true,
    alive: false,
    records: {},
    stderrTail: "",
  };
  const rows: { name: string; facts: Partial<LocalAttemptFacts>; want: Partial<AttemptState> }[] = [
    {
      name: "alive before the started record",
      facts: { alive: true },
      want: { phase: "Pending" },
    },
    {
      name: "alive after it",
      facts: {
        alive: true,
        records: {
          started: { llmops: 1, event: "started", runId: "r", attempt: 1, totalSteps: 4 },
          lastProgress: progress,
        },
      },
      want: { phase: "Running", lastProgress: progress },
    },
    {
      name: "completed and exited 0",
      facts: { exitCode: 0, records: { completed } },
      want: { phase: "Succeeded", completed },
    },
    {
      name: "completed, then cancelled too late",
      facts: { exitCode: 0, cancelled: true, records: { completed } },
      want: { phase: "Succeeded" },
    },
    {
      name: "exited 0 without a completed record",
      facts: { exitCode: 0 },
      want: { phase: "Failed", reason: "TrainerExited", retryable: true },
    },
    {
      name: "a completed record but a non-zero exit",
      facts: { exitCode: 1, records: { completed } },
      want: { phase: "Failed", reason: "TrainerExited" },
    },
    {
      name: "terminated by SIGTERM without a record",
      facts: { exitCode: 143 },
      want: { phase: "Failed", reason: "Killed", retryable: true },
    },
    {
      name: "cancelled while still shutting down",
      facts: { alive: true, cancelled: true },
      want: { phase: "Cancelled" },
    },
    {
      name: "never started",
      facts: { started: false },
      want: { phase: "Failed", reason: "AttemptLost", retryable: true },
    },
  ];
  it.each(rows)("$name", ({ facts, want }) => {
    expect(localAttemptState({ ...base, ...facts })).toMatchObject(want);
  });
});
