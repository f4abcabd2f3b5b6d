// Training attempts on Hugging Face Jobs, through @huggingface/hub's jobs functions (runJob,
// getJob, listJobs, cancelJob, streamJobLogs, whoAmI).
//
// One attempt is one job. Idempotency lives in the job's labels: llmops.dev/run-id,
// llmops.dev/attempt and llmops.dev/training-job, so submit first lists the namespace's jobs with
// those labels and returns the one it finds. Nothing about an attempt needs to survive a restart
// but its ref (the job id and its URL, which names the namespace).
//
// The trainer reads its config from a file (TRAINER_CONFIG). A job has no file we can mount, so
// the config travels base64-encoded in the plain environment variable TRAINER_CONFIG_B64 and the
// command writes it to a file before it starts the trainer. Base64 rather than raw JSON: the
// value survives any handling of quotes, braces or newlines on the way (API, UI, shell), and the
// config holds no secrets by contract. Secrets (the Hub token among them) go only in the job's
// `secrets`, which Hugging Face stores encrypted and never shows again.
//
// Progress comes from the job's log stream (server-sent events): one follower per running
// attempt reads it in the background, keeps the trainer's latest records, and reconnects when the
// stream drops or stalls. On a reconnect the stream replays the log from its start, so the
// follower skips the entries it has already read, as huggingface_hub's fetch_job_logs does.
//
// Where the JS types and the service disagree (status.stage is typed as a Space stage; the
// listing has no label filter and reads one page), this file goes by the service: stages are
// strings, the listing is asked for the labels (the `label=key=value` query the Python client
// sends) and follows the Link header's next page.
import { createHash } from "node:crypto";
import type { getJob, HubApiError, runJob, SpaceHardwareFlavor } from "@huggingface/hub";
import type { Logger } from "pino";
import { attemptLabel, runIdLabel, trainingJobLabel } from "../../api/well-known.js";
import { errorMessage, TerminalError, TransientError } from "../../kube/errors.js";
import { exponentialDelay } from "../../runtime/backoff.js";
import { isAborted, sleep, systemClock, type Clock, type Timer } from "../../runtime/clock.js";
import { parseRetryAfter } from "../../runtime/retry-after.js";
import type {
  AttemptRef,
  AttemptRequest,
  AttemptState,
  SecretEnv,
  TrainingBackend,
} from "./backend.js";
import {
  parseTrainerLine,
  permanentTrainerReasons,
  type TrainerEvent,
} from "./trainer-contract.js";

type HubLibrary = typeof import("@huggingface/hub");
let hubLibrary: Promise<HubLibrary> | undefined;

/**
 * @huggingface/hub, imported with the first call to the Jobs API: a controller that never runs a
 * TrainingJob there does not keep it in memory (~2 MiB of heap and 5 MiB of buffers at import).
 */
function hub(): Promise<HubLibrary> {
  hubLibrary ??= import("@huggingface/hub");
  return hubLibrary;
}

/**
 * The library's HubApiError (every HTTP failure): told by its name and status rather than with
 * instanceof, which would need the library loaded to ask.
 */
function isHubApiError(err: unknown): err is HubApiError {
  return (
    err instanceof Error &&
    err.constructor.name === "HubApiError" &&
    typeof (err as Partial<HubApiError>).statusCode === "number"
  );
}

/** A job as the Jobs API returns it (the library does not export its ApiJob type). */
export type HubJob = Awaited<ReturnType<typeof getJob>>;
type RunJobParams = Parameters<typeof runJob>[0];
/** What runJob sends, without the namespace and credentials. */
export type HubJobSpec = Omit<
  RunJobParams,
  "namespace" | "hubUrl" | "fetch" | "accessToken" | "credentials"
>;

/**
 * Hardware flavors Hugging Face Jobs runs (huggingface_hub's JobHardware, which its maintainers
 * keep in sync with the Hub API). The library's SpaceHardwareFlavor type lacks the newer ones.
 */
export const huggingFaceJobsFlavors: readonly string[] = [
  "cpu-basic",
  "cpu-upgrade",
  "cpu-performance",
  "cpu-xl",
  "t4-small",
  "t4-medium",
  "l4x1",
  "l4x4",
  "l40sx1",
  "l40sx4",
  "l40sx8",
  "a10g-small",
  "a10g-large",
  "a10g-largex2",
  "a10g-largex4",
  "a100-large",
  "a100x4",
  "a100x8",
  "h200",
  "h200x2",
  "h200x4",
  "h200x8",
  "rtx-pro-6000",
  "rtx-pro-6000x2",
  "rtx-pro-6000x4",
  "rtx-pro-6000x8",
];

/** The plain environment variable that carries the trainer config, base64-encoded JSON. */
export const trainerConfigEnv = "TRAINER_CONFIG_B64";
/** Writes the config to a file and starts the reference trainer on it. */
export const trainerCommand: readonly string[] = [
  "sh",
  "-c",
  `printf %s "$${trainerConfigEnv}" | base64 -d > /tmp/llmops-trainer.json && TRAINER_CONFIG=/tmp/llmops-trainer.json exec llmops-train`,
];
/** Hugging Face's own default is 30 minutes; without budget.maxHours an attempt gets a day. */
export const defaultTimeoutSeconds = 24 * 3600;

const field = {
  flavor: "spec.backend.huggingFaceJobs.flavor",
  image: "spec.backend.huggingFaceJobs.image",
  owner: "spec.backend.huggingFaceJobs.owner",
  token: "spec.backend.huggingFaceJobs.tokenSecretRef",
  output: "spec.output.huggingFace",
} as const;

/** spec.backend.huggingFaceJobs, as far as this backend reads it. */
export interface HuggingFaceJobsSettings {
  owner?: string;
  flavor?: string;
  image?: string;
  tokenSecretRef?: { name: string; key: string };
}

/**
 * Reads the settings from AttemptRequest.options: spec.backend.huggingFaceJobs, or the whole
 * spec.backend with a huggingFaceJobs member (both shapes are accepted).
 */
export function huggingFaceJobsSettings(options: Record<string, unknown>): HuggingFaceJobsSettings {
  const nested = options.huggingFaceJobs;
  const source = isRecord(nested) ? nested : options;
  const settings: HuggingFaceJobsSettings = {};
  if (typeof source.owner === "string" && source.owner !== "") settings.owner = source.owner;
  if (typeof source.flavor === "string" && source.flavor !== "") settings.flavor = source.flavor;
  if (typeof source.image === "string" && source.image !== "") settings.image = source.image;
  const ref = source.tokenSecretRef;
  if (isRecord(ref) && typeof ref.name === "string" && typeof ref.key === "string") {
    settings.tokenSecretRef = { name: ref.name, key: ref.key };
  }
  return settings;
}

/**
 * The flavor the attempt runs on: the estimate's (request.gpu.flavor), else an explicit
 * spec.backend.huggingFaceJobs.flavor. Throws a TerminalError for none or an unknown one.
 */
export function chooseFlavor(
  request: Pick<AttemptRequest, "gpu" | "options">,
  known: readonly string[] = huggingFaceJobsFlavors,
): string {
  const configured = huggingFaceJobsSettings(request.options).flavor;
  const flavor =
    request.gpu.flavor ?? (configured !== undefined && configured !== "auto" ? configured : "");
  if (flavor === "") {
    throw new TerminalError(
      `no Hugging Face Jobs flavor was chosen for GPU ${request.gpu.type} ×${request.gpu.count}: set ${field.flavor} to one of ${known.join(", ")}`,
      { reason: "UnknownFlavor" },
    );
  }
  if (!known.includes(flavor)) {
    throw new TerminalError(
      `${field.flavor}: Hugging Face Jobs has no flavor ${JSON.stringify(flavor)}; use one of ${known.join(", ")} (or auto, to let the estimate choose)`,
      { reason: "UnknownFlavor" },
    );
  }
  return flavor;
}

/** A label value the Jobs API accepts: [A-Za-z0-9._-], at most 63 characters. */
export function labelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  if (cleaned === value && value.length <= 63 && value !== "") return value;
  // Changed or cut: a hash of the original keeps two different values apart.
  const hash = createHash("sha256").update(value).digest("hex").slice(0, 8);
  return `${cleaned.slice(0, 54).replace(/[-.]+$/, "")}-${hash}`.replace(/^-/, "");
}

/**
 * The labels that identify an attempt: run, attempt and the TrainingJob as `namespace.name`
 * (the Jobs namespace is shared by every cluster namespace; a Kubernetes namespace has no dot, so
 * the pair stays unambiguous). `name` is what `hf jobs ps` shows.
 */
export function attemptLabels(
  request: Pick<AttemptRequest, "owner" | "runId" | "attempt">,
): Record<string, string> {
  return {
    [runIdLabel]: labelValue(request.runId),
    [attemptLabel]: String(request.attempt),
    [trainingJobLabel]: labelValue(`${request.owner.namespace}.${request.owner.name}`),
    name: labelValue(`${request.owner.name}-attempt-${request.attempt}`),
  };
}

/**
 * The job to create for an attempt. Secrets go only in `secrets`; a plain variable that shares a
 * secret's name is dropped, and a secret value found anywhere else is refused (a bug upstream).
 */
export function jobSpecFor(
  request: AttemptRequest,
  choice: { image: string; flavor: string },
): HubJobSpec {
  const secrets: Record<string, string> = {};
  for (const secret of request.secrets) secrets[secret.env] = secret.value;
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.env ?? {})) {
    if (!(name in secrets) && name !== trainerConfigEnv) environment[name] = value;
  }
  environment[trainerConfigEnv] = Buffer.from(JSON.stringify(request.config)).toString("base64");
  const spec: HubJobSpec = {
    dockerImage: choice.image,
    command: [...trainerCommand],
    environment,
    secrets,
    // The library's flavor type predates h200 and friends; chooseFlavor checked the value.
    flavor: choice.flavor as SpaceHardwareFlavor,
    timeoutSeconds:
      request.maxSeconds !== undefined && request.maxSeconds > 0
        ? Math.ceil(request.maxSeconds)
        : defaultTimeoutSeconds,
    labels: attemptLabels(request),
  };
  assertNoSecretInPlainText(spec, request.secrets);
  return spec;
}

function assertNoSecretInPlainText(spec: HubJobSpec, secrets: SecretEnv[]): void {
  const { secrets: _secrets, environment, ...rest } = spec;
  // The config is checked decoded: base64 would hide a token from a plain search.
  const decodedConfig = Buffer.from(environment?.[trainerConfigEnv] ?? "", "base64").toString();
  const plain = JSON.stringify({ ...rest, environment }) + decodedConfig;
  for (const secret of secrets) {
    if (secret.value.length >= 8 && plain.includes(secret.value)) {
      throw new TerminalError(
        `the value of Secret ${secret.secretRef.name} key ${secret.secretRef.key} appears outside the job's secrets; refusing to send it to Hugging Face in plain text`,
        { reason: "SecretInPlainText" },
      );
    }
  }
}

/** The trainer's latest records of one attempt, newest of each kind. */
export interface AttemptRecords {
  started?: Extract<TrainerEvent, { event: "started" }>;
  progress?: Extract<TrainerEvent, { event: "progress" }>;
  checkpoint?: Extract<TrainerEvent, { event: "checkpoint" }>;
  completed?: Extract<TrainerEvent, { event: "completed" }>;
  failed?: Extract<TrainerEvent, { event: "failed" }>;
}

/** Keeps `event` as the newest record of its kind (mutates `records`). */
export function recordTrainerEvent(records: AttemptRecords, event: TrainerEvent): void {
  switch (event.event) {
    case "started":
      records.started = event;
      break;
    case "progress":
      records.progress = event;
      break;
    case "checkpoint":
      records.checkpoint = event;
      break;
    case "completed":
      records.completed = event;
      break;
    case "failed":
      records.failed = event;
      break;
  }
}

type StageKind = "pending" | "running" | "completed" | "error" | "cancelled" | "gone";

/**
 * What a stage means. The service sends SCHEDULING, RUNNING, COMPLETED, CANCELED, ERROR and
 * DELETED; the library's types name Space stages (DELETING, PAUSED, STOPPED, UPDATING), accepted
 * too. Anything unknown is treated as not started yet.
 */
export function stageKind(stage: unknown): StageKind {
  switch (String(stage).toUpperCase()) {
    case "RUNNING":
    case "UPDATING":
      return "running";
    case "COMPLETED":
      return "completed";
    case "ERROR":
      return "error";
    case "CANCELED":
    case "CANCELLED":
    case "STOPPED":
      return "cancelled";
    case "DELETED":
    case "DELETING":
      return "gone";
    default:
      return "pending";
  }
}

/** The job has finished (or is gone): it will print nothing more. */
export function isFinishedStage(stage: unknown): boolean {
  const kind = stageKind(stage);
  return kind === "completed" || kind === "error" || kind === "cancelled" || kind === "gone";
}

/** Maps a job and the trainer's records to the attempt's state; undefined for a deleted job. */
export function attemptStateFor(job: HubJob, records: AttemptRecords): AttemptState | undefined {
  const stage: string = job.status.stage;
  const kind = stageKind(stage);
  if (kind === "gone") return undefined;
  const state: AttemptState = { phase: "Pending" };
  if (records.progress) state.lastProgress = records.progress;
  if (records.checkpoint) state.lastCheckpoint = records.checkpoint;
  const startedAt =
    parseDate(job.startedAt) ?? (kind === "pending" ? undefined : parseDate(job.createdAt));
  if (startedAt) state.startedAt = startedAt;
  const finishedAt = parseDate(job.finishedAt);
  const serviceMessage = typeof job.status.message === "string" ? job.status.message : "";
  switch (kind) {
    case "pending":
      return { ...state, message: `Hugging Face job ${job.id} is ${stage || "waiting"}` };
    case "running":
      return { ...state, phase: "Running" };
    case "cancelled":
      return withFinish({ ...state, phase: "Cancelled", reason: "Cancelled" }, finishedAt);
    case "completed":
      if (records.completed) {
        return withFinish(
          { ...state, phase: "Succeeded", completed: records.completed },
          finishedAt,
        );
      }
      if (records.failed) return withFinish(failedFromRecord(state, records.failed), finishedAt);
      // Exit 0 without the record that says where the model went: the output is unknown.
      return withFinish(
        {
          ...state,
          phase: "Failed",
          retryable: true,
          reason: "TrainerRecordMissing",
          message: `Hugging Face job ${job.id} COMPLETED, but its log has no completed record from the trainer, so where its output went is unknown`,
        },
        finishedAt,
      );
    case "error":
      if (records.failed) return withFinish(failedFromRecord(state, records.failed), finishedAt);
      if (hitTimeout(job, startedAt, finishedAt, serviceMessage)) {
        return withFinish(
          {
            ...state,
            phase: "Failed",
            retryable: false,
            reason: "DeadlineExceeded",
            message: `Hugging Face job ${job.id} reached its timeout of ${job.timeoutSeconds ?? "?"} s (budget.maxHours)${serviceMessage ? `: ${serviceMessage}` : ""}`,
          },
          finishedAt,
        );
      }
      return withFinish(
        {
          ...state,
          phase: "Failed",
          retryable: true,
          reason: "RemoteJobError",
          message: `Hugging Face job ${job.id} ended in ERROR${serviceMessage ? `: ${serviceMessage}` : " without a message"}`,
        },
        finishedAt,
      );
  }
}

function failedFromRecord(
  state: AttemptState,
  failed: Extract<TrainerEvent, { event: "failed" }>,
): AttemptState {
  return {
    ...state,
    phase: "Failed",
    retryable: failed.retryable && !permanentTrainerReasons.has(failed.reason),
    reason: failed.reason,
    message: failed.field ? `${failed.field}: ${failed.message}` : failed.message,
  };
}

function withFinish(state: AttemptState, finishedAt: Date | undefined): AttemptState {
  return finishedAt ? { ...state, finishedAt } : state;
}

function hitTimeout(
  job: HubJob,
  startedAt: Date | undefined,
  finishedAt: Date | undefined,
  message: string,
): boolean {
  if (/timed? ?out|timeout/i.test(message)) return true;
  const limit = job.timeoutSeconds;
  if (typeof limit !== "number" || !startedAt || !finishedAt) return false;
  // A second of slack: the service stops the job at the limit, give or take its own latency.
  return finishedAt.getTime() - startedAt.getTime() >= (limit - 1) * 1000;
}

/** The namespace in a job URL such as https://huggingface.co/jobs/{namespace}/{id}. */
export function namespaceFromJobUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const match = /\/jobs\/([^/]+)\/[^/]+\/?$/.exec(new URL(url).pathname);
    return match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * The typed error for a failed Jobs API call: 401/403 are terminal (the token must change), 429,
 * 408 and 5xx transient with the server's Retry-After, a rejected request terminal.
 */
export function hubJobsError(
  err: unknown,
  what: string,
  context: { namespace?: string; retryAfterMs?: number } = {},
): Error {
  if (err instanceof TerminalError || err instanceof TransientError) return err;
  if (isHubApiError(err)) {
    const status = err.statusCode;
    const detail = hubDetail(err);
    const apiStatus = { code: status, reason: `HTTP${status}`, message: detail };
    if (status === 401 || status === 403) {
      return new TerminalError(
        `${what}: Hugging Face refused the token (HTTP ${status}${detail ? `: ${detail}` : ""}): put a token that may run jobs${context.namespace ? ` in ${context.namespace}` : ""} (a write token, or a fine-grained one with the Jobs permission; Jobs need a PRO account or a Team or Enterprise organisation) in the Secret key that ${field.token} names`,
        { reason: "HubTokenRefused", cause: err, status: apiStatus },
      );
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new TransientError(
        `${what}: Hugging Face answered HTTP ${status}${detail ? ` (${detail})` : ""}; will retry`,
        {
          cause: err,
          status: apiStatus,
          ...(context.retryAfterMs === undefined ? {} : { retryAfterMs: context.retryAfterMs }),
        },
      );
    }
    if (status === 404) {
      return new TerminalError(
        `${what}: Hugging Face has no namespace ${context.namespace ?? "(unknown)"}, or the token cannot see it: fix ${field.owner}`,
        { reason: "HubNamespaceNotFound", cause: err, status: apiStatus },
      );
    }
    if (status === 400 || status === 422) {
      const at = /flavor/i.test(detail) ? `${field.flavor}: ` : "";
      return new TerminalError(
        `${at}${what}: Hugging Face rejected the job (HTTP ${status}${detail ? `: ${detail}` : ""})`,
        { reason: "HubJobRejected", cause: err, status: apiStatus },
      );
    }
    return new TransientError(
      `${what}: Hugging Face answered HTTP ${status}${detail ? ` (${detail})` : ""}`,
      {
        cause: err,
        status: apiStatus,
      },
    );
  }
  // fetch failed: DNS, refused or reset connection, timeout.
  return new TransientError(`${what}: ${causeMessage(err)}`, { cause: err });
}

/** The service's own error text, without the URL trailer the library appends. */
function hubDetail(err: HubApiError): string {
  const data = err.data as { error?: unknown; message?: unknown } | undefined;
  const text = typeof data?.error === "string" ? data.error : data?.message;
  return typeof text === "string" ? text.trim().slice(0, 300) : "";
}

function causeMessage(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return errorMessage(err) + cause;
}

export interface HuggingFaceJobsBackendOptions {
  /** The Hub (HF_ENDPOINT); default https://huggingface.co. */
  hubUrl?: string;
  /** Handed to every @huggingface/hub call (proxies, tests). */
  fetch?: typeof fetch;
  clock?: Clock;
  /** Trainer image when spec.backend.huggingFaceJobs.image is unset. */
  defaultImage?: string;
  /** Flavors accepted (default huggingFaceJobsFlavors). */
  flavors?: readonly string[];
  /** How long observe waits for the trainer's last record once a job has finished (default 10 s). */
  finalRecordWaitMs?: number;
  /** First delay before reconnecting a dropped log stream, doubled up to 30 s (default 1 s). */
  logReconnectMs?: number;
  /**
   * A log stream that sends nothing, not even its 30-second keep-alive, for this long is
   * reconnected (default 90 s): a half-open connection stalls silently.
   */
  logIdleMs?: number;
  /** Limit of one API call other than the log stream (default 30 s). */
  requestTimeoutMs?: number;
  /** Log followers kept at once; the least recently observed stops first (default 64). */
  maxFollowers?: number;
  logger?: Pick<Logger, "debug" | "warn">;
}

/** The backend, plus close() for shutdown (stops every log follower). */
export interface HuggingFaceJobsBackend extends TrainingBackend {
  readonly type: "huggingFaceJobs";
  close(): void;
}

interface CallContext {
  token: string;
  namespace: string;
}

/** Creates the Hugging Face Jobs training backend. */
export function createHuggingFaceJobsBackend(
  options: HuggingFaceJobsBackendOptions = {},
): HuggingFaceJobsBackend {
  return new HuggingFaceJobs(options);
}

const finishedCacheSize = 256;
const submittedCacheSize = 1024;

class HuggingFaceJobs implements HuggingFaceJobsBackend {
  readonly type = "huggingFaceJobs" as const;
  private readonly hubUrl: string;
  private readonly baseFetch: typeof fetch;
  private readonly clock: Clock;
  private readonly flavors: readonly string[];
  private readonly finalRecordWaitMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxFollowers: number;
  private readonly followerOptions: FollowerOptions;
  /** Job id → follower of its log stream, in least-recently-observed order. */
  private readonly followers = new Map<string, LogFollower>();
  /** Job id → its final state, once observed: re-observing a finished attempt costs one call. */
  private readonly finished = new Map<string, AttemptState>();
  /** Attempt key → the ref submit returned (a listing may lag a creation). */
  private readonly submitted = new Map<string, AttemptRef>();
  private readonly inFlight = new Map<string, Promise<AttemptRef>>();
  /** sha256(token) → the token's user, for namespaces not set in the spec. */
  private readonly users = new Map<string, string>();

  constructor(private readonly options: HuggingFaceJobsBackendOptions) {
    this.hubUrl = (options.hubUrl ?? "https://huggingface.co").replace(/\/+$/, "");
    this.baseFetch = options.fetch ?? fetch;
    this.clock = options.clock ?? systemClock();
    this.flavors = options.flavors ?? huggingFaceJobsFlavors;
    this.finalRecordWaitMs = options.finalRecordWaitMs ?? 10_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.maxFollowers = options.maxFollowers ?? 64;
    this.followerOptions = {
      hubUrl: this.hubUrl,
      fetch: this.baseFetch,
      clock: this.clock,
      reconnectMs: options.logReconnectMs ?? 1000,
      idleMs: options.logIdleMs ?? 90_000,
      requestTimeoutMs: this.requestTimeoutMs,
      ...(options.logger ? { logger: options.logger } : {}),
    };
  }

  /** Creates the attempt's job unless one with its labels exists; returns where it runs. */
  async submit(request: AttemptRequest): Promise<AttemptRef> {
    const key = attemptKey(request);
    const running = this.inFlight.get(key);
    if (running) return running;
    const promise = this.submitOnce(request, key).finally(() => {
      this.inFlight.delete(key);
    });
    this.inFlight.set(key, promise);
    return promise;
  }

  private async submitOnce(request: AttemptRequest, key: string): Promise<AttemptRef> {
    // Everything that can never work is refused before any call.
    const flavor = chooseFlavor(request, this.flavors);
    const settings = huggingFaceJobsSettings(request.options);
    const image = settings.image ?? this.options.defaultImage;
    if (image === undefined || image === "") {
      throw new TerminalError(
        `no trainer image for Hugging Face Jobs: set ${field.image} (the controller has no default trainer image)`,
        { reason: "NoTrainerImage" },
      );
    }
    if (request.config.output.huggingFace === undefined) {
      throw new TerminalError(
        `a Hugging Face job's disk is gone when it ends: set ${field.output} so the trainer pushes the model to a Hub repository`,
        { reason: "OutputNotReachable" },
      );
    }
    const spec = jobSpecFor(request, { image, flavor });
    const known = this.submitted.get(key);
    if (known) return known;
    const context = await this.context(request);
    const existing = await this.findJob(context, request);
    if (existing) return this.remember(key, context, existing);
    const call = this.call();
    let job: HubJob;
    try {
      job = await (
        await hub()
      ).runJob({
        ...spec,
        namespace: context.namespace,
        hubUrl: this.hubUrl,
        accessToken: context.token,
        fetch: call.fetch,
      });
    } catch (err: unknown) {
      throw this.failure(
        err,
        `creating a Hugging Face job for run ${request.runId} attempt ${request.attempt}`,
        context,
        call,
      );
    }
    this.options.logger?.debug(
      { runId: request.runId, attempt: request.attempt, jobId: job.id, flavor },
      "started a Hugging Face job",
    );
    const ref = this.remember(key, context, job);
    this.follow(context, job.id);
    return ref;
  }

  /** The attempt's state now, with the trainer's latest records from the log stream. */
  async observe(request: AttemptRequest, ref: AttemptRef): Promise<AttemptState | undefined> {
    const context = await this.context(request, ref);
    const jobId = ref.remoteId ?? (await this.findJob(context, request))?.id;
    if (jobId === undefined) return undefined;
    const final = this.finished.get(jobId);
    if (final) {
      touch(this.finished, jobId, final);
      return final;
    }
    const job = await this.getJob(context, jobId);
    if (job === undefined || stageKind(job.status.stage) === "gone") {
      this.forget(request, jobId);
      return undefined;
    }
    const finished = isFinishedStage(job.status.stage);
    const follower = this.follow(context, jobId);
    if (finished && stageKind(job.status.stage) !== "cancelled" && !follower.hasFinalRecord()) {
      // The log stream may still be catching up with the trainer's last lines.
      await follower.settled(this.finalRecordWaitMs);
    }
    const state = attemptStateFor(job, follower.records);
    if (finished && state) {
      follower.stop();
      this.followers.delete(jobId);
      touch(this.finished, jobId, state);
      trim(this.finished, finishedCacheSize);
    }
    return state;
  }

  /** Cancels the attempt's job; a finished, deleted or unknown job is fine. */
  async cancel(request: AttemptRequest, ref: AttemptRef): Promise<void> {
    const context = await this.context(request, ref);
    const jobId = ref.remoteId ?? (await this.findJob(context, request))?.id;
    if (jobId === undefined) return;
    this.stopFollowing(jobId);
    const job = await this.getJob(context, jobId);
    if (job === undefined || isFinishedStage(job.status.stage)) return;
    const call = this.call();
    try {
      await (
        await hub()
      ).cancelJob({
        namespace: context.namespace,
        jobId,
        hubUrl: this.hubUrl,
        accessToken: context.token,
        fetch: call.fetch,
      });
    } catch (err: unknown) {
      if (isHubApiError(err) && err.statusCode < 500 && err.statusCode !== 429) {
        // It may have finished between the read and the cancel.
        const again = await this.getJob(context, jobId);
        if (again === undefined || isFinishedStage(again.status.stage)) return;
      }
      throw this.failure(err, `cancelling Hugging Face job ${jobId}`, context, call);
    }
  }

  close(): void {
    for (const follower of this.followers.values()) follower.stop();
    this.followers.clear();
  }

  private async context(request: AttemptRequest, ref?: AttemptRef): Promise<CallContext> {
    const token = hubToken(request);
    const settings = huggingFaceJobsSettings(request.options);
    const namespace =
      namespaceFromJobUrl(ref?.url) ?? settings.owner ?? (await this.tokenUser(token));
    return { token, namespace };
  }

  private async tokenUser(token: string): Promise<string> {
    const digest = createHash("sha256").update(token).digest("hex");
    const cached = this.users.get(digest);
    if (cached !== undefined) return cached;
    const call = this.call();
    try {
      const user = await (
        await hub()
      ).whoAmI({ accessToken: token, hubUrl: this.hubUrl, fetch: call.fetch });
      this.users.set(digest, user.name);
      return user.name;
    } catch (err: unknown) {
      throw this.failure(
        err,
        `reading the Hub token's user (${field.owner} is unset)`,
        undefined,
        call,
      );
    }
  }

  /** The attempt's job, found by its labels on every page of the listing. */
  private async findJob(
    context: CallContext,
    request: AttemptRequest,
  ): Promise<HubJob | undefined> {
    const labels = attemptLabels(request);
    const wanted = [runIdLabel, attemptLabel, trainingJobLabel] as const;
    const query = wanted.map((name): [string, string] => [
      "label",
      `${name}=${labels[name] ?? ""}`,
    ]);
    let next: string | undefined;
    // A bound on pages: a listing that never ends must not hold the reconcile forever.
    for (let page = 0; page < 50; page++) {
      const call = this.call(next === undefined ? { query } : { url: next });
      let jobs: HubJob[];
      try {
        jobs = await (
          await hub()
        ).listJobs({
          namespace: context.namespace,
          hubUrl: this.hubUrl,
          accessToken: context.token,
          fetch: call.fetch,
        });
      } catch (err: unknown) {
        throw this.failure(
          err,
          `listing the Hugging Face jobs of ${context.namespace}`,
          context,
          call,
        );
      }
      // The filter is checked here too: a service that ignores it still lists everything.
      const match = jobs.find(
        (job) =>
          wanted.every((name) => job.labels?.[name] === labels[name]) &&
          stageKind(job.status.stage) !== "gone",
      );
      if (match) return match;
      next = call.nextPage();
      if (next === undefined) return undefined;
    }
    return undefined;
  }

  private async getJob(context: CallContext, jobId: string): Promise<HubJob | undefined> {
    const call = this.call();
    try {
      return await (
        await hub()
      ).getJob({
        namespace: context.namespace,
        jobId,
        hubUrl: this.hubUrl,
        accessToken: context.token,
        fetch: call.fetch,
      });
    } catch (err: unknown) {
      if (isHubApiError(err) && err.statusCode === 404) return undefined;
      throw this.failure(err, `reading Hugging Face job ${jobId}`, context, call);
    }
  }

  private follow(context: CallContext, jobId: string): LogFollower {
    const existing = this.followers.get(jobId);
    if (existing && !existing.gaveUp) {
      touch(this.followers, jobId, existing);
      return existing;
    }
    const follower = new LogFollower(this.followerOptions, context, jobId, existing);
    this.followers.delete(jobId);
    this.followers.set(jobId, follower);
    for (const [oldestId, oldest] of this.followers) {
      if (this.followers.size <= this.maxFollowers) break;
      oldest.stop();
      this.followers.delete(oldestId);
    }
    return follower;
  }

  private stopFollowing(jobId: string): void {
    this.followers.get(jobId)?.stop();
    this.followers.delete(jobId);
  }

  private remember(key: string, context: CallContext, job: HubJob): AttemptRef {
    const ref: AttemptRef = {
      remoteId: job.id,
      url: `${this.hubUrl}/jobs/${encodeURIComponent(context.namespace)}/${encodeURIComponent(job.id)}`,
    };
    touch(this.submitted, key, ref);
    trim(this.submitted, submittedCacheSize);
    return ref;
  }

  private forget(request: AttemptRequest, jobId: string): void {
    this.stopFollowing(jobId);
    this.finished.delete(jobId);
    this.submitted.delete(attemptKey(request));
  }

  private call(extra: Omit<CallFetchOptions, "timeoutMs"> = {}): CallFetch {
    return callFetch(this.baseFetch, this.clock, { ...extra, timeoutMs: this.requestTimeoutMs });
  }

  private failure(
    err: unknown,
    what: string,
    context: CallContext | undefined,
    call: CallFetch,
  ): Error {
    const retryAfterMs = call.retryAfterMs();
    return hubJobsError(err, what, {
      ...(context ? { namespace: context.namespace } : {}),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
}

/** The Hub token the API calls use: the Secret value that tokenSecretRef names. */
function hubToken(request: AttemptRequest): string {
  const ref = huggingFaceJobsSettings(request.options).tokenSecretRef;
  const secret =
    (ref &&
      request.secrets.find(
        (candidate) => candidate.secretRef.name === ref.name && candidate.secretRef.key === ref.key,
      )) ??
    request.secrets.find((candidate) => candidate.env === "HF_TOKEN");
  const token = secret?.value.trim() ?? "";
  if (token === "") {
    throw new TerminalError(
      `no Hub token for Hugging Face Jobs: set ${field.token} to a Secret key that holds one`,
      { reason: "NoHubToken" },
    );
  }
  if (!token.startsWith("hf_")) {
    // The library refuses such a token before any call; say which Secret to fix.
    throw new TerminalError(
      `the value of ${field.token} (Secret ${secret?.secretRef.name ?? "?"} key ${secret?.secretRef.key ?? "?"}) is not a Hub token (they start with hf_)`,
      { reason: "HubTokenRefused" },
    );
  }
  return token;
}

function attemptKey(request: Pick<AttemptRequest, "owner" | "runId" | "attempt">): string {
  return `${request.owner.uid}/${request.runId}/${request.attempt}`;
}

interface CallFetchOptions {
  /** Query parameters appended to the request URL. */
  query?: [string, string][];
  /** Replaces the request URL (the next page of a listing). */
  url?: string;
  signal?: AbortSignal;
  /** Aborts the request after this long. */
  timeoutMs?: number;
  /** Sees every chunk of a successful response's body (the log stream's watchdog). */
  onChunk?: () => void;
}

interface CallFetch {
  fetch: typeof fetch;
  /** The Retry-After of the last failed response, in milliseconds. */
  retryAfterMs(): number | undefined;
  /** The Link header's rel="next" URL of the last response. */
  nextPage(): string | undefined;
}

/**
 * A fetch for one library call: the library keeps neither Retry-After nor Link, takes no signal
 * and no query, so this wrapper adds them around the caller's fetch.
 */
function callFetch(base: typeof fetch, clock: Clock, options: CallFetchOptions): CallFetch {
  let retryAfterMs: number | undefined;
  let next: string | undefined;
  const wrapped: typeof fetch = async (input, init) => {
    let url = options.url ?? requestUrl(input);
    if (options.query && options.url === undefined) {
      const target = new URL(url);
      for (const [name, value] of options.query) target.searchParams.append(name, value);
      url = target.href;
    }
    const signals = [options.signal, init?.signal].filter((s): s is AbortSignal => s != null);
    if (options.timeoutMs !== undefined) signals.push(AbortSignal.timeout(options.timeoutMs));
    const response = await base(url, {
      ...init,
      ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
    });
    retryAfterMs = response.ok
      ? undefined
      : parseRetryAfter(response.headers.get("retry-after"), clock.now());
    next = nextLink(response.headers.get("link"), url);
    if (!response.ok || !options.onChunk || response.body === null) return response;
    const onChunk = options.onChunk;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onChunk();
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: wrapped, retryAfterMs: () => retryAfterMs, nextPage: () => next };
}

function requestUrl(input: Parameters<typeof fetch>[0]): string {
  return typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
}

/** The rel="next" target of an RFC 8288 Link header, resolved against the request URL. */
export function nextLink(header: string | null, base: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(",")) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match?.[1] !== undefined && /\brel="?next"?/i.test(match[2] ?? "")) {
      try {
        return new URL(match[1], base).href;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

interface FollowerOptions {
  hubUrl: string;
  fetch: typeof fetch;
  clock: Clock;
  reconnectMs: number;
  idleMs: number;
  requestTimeoutMs: number;
  logger?: Pick<Logger, "debug" | "warn">;
}

/**
 * Reads one job's log stream in the background and keeps the trainer's latest records. Stops on
 * stop(), when the stream ends after the job finished, or when the token is refused (then
 * gaveUp is set, and the next observe starts a successor with the token it has then).
 */
class LogFollower {
  readonly records: AttemptRecords;
  /** Log entries read so far: a reconnected stream replays these first. */
  private consumed: number;
  private done = false;
  /** Stopped for a refused token, not because the log was read to its end. */
  gaveUp = false;
  private readonly stopping = new AbortController();
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly options: FollowerOptions,
    private readonly context: CallContext,
    private readonly jobId: string,
    predecessor?: LogFollower,
  ) {
    this.records = { ...predecessor?.records };
    this.consumed = predecessor?.consumed ?? 0;
    void this.run();
  }

  /** The trainer said how the attempt ended (completed or failed). */
  hasFinalRecord(): boolean {
    return this.records.completed !== undefined || this.records.failed !== undefined;
  }

  /** Resolves when a final record arrives, the stream is read to its end, or after `ms`. */
  settled(ms: number): Promise<void> {
    if (this.done || this.hasFinalRecord()) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: Timer | undefined = undefined;
      const finish = (): void => {
        timer?.cancel();
        this.waiters.delete(finish);
        resolve();
      };
      this.waiters.add(finish);
      timer = this.options.clock.setTimer(finish, ms);
    });
  }

  stop(): void {
    this.stopping.abort();
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private async run(): Promise<void> {
    const { clock } = this.options;
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      let delay: number | undefined;
      const connection = new AbortController();
      let lastChunkAt = clock.now();
      const call = callFetch(this.options.fetch, clock, {
        signal: AbortSignal.any([signal, connection.signal]),
        onChunk: () => {
          lastChunkAt = clock.now();
        },
      });
      const watchdog = this.watchdog(() => lastChunkAt, connection);
      try {
        let index = 0;
        for await (const entry of (await hub()).streamJobLogs({
          namespace: this.context.namespace,
          jobId: this.jobId,
          hubUrl: this.options.hubUrl,
          accessToken: this.context.token,
          fetch: call.fetch,
        })) {
          index += 1;
          if (index <= this.consumed) continue;
          this.consumed = index;
          failures = 0;
          this.take(entry.message);
        }
        // The stream ended: the job finished, or the connection was closed under us.
        if (await this.jobFinished()) {
          this.finish();
          return;
        }
      } catch (err: unknown) {
        if (isAborted(signal)) return;
        if (isHubApiError(err) && (err.statusCode === 401 || err.statusCode === 403)) {
          // observe's own call reports the refused token; a successor takes over once it works.
          this.options.logger?.debug(
            { jobId: this.jobId, status: err.statusCode },
            "stopped following a Hugging Face job's log: token refused",
          );
          this.gaveUp = true;
          this.finish();
          return;
        }
        // A 404 is a deleted job, or a log the service has not opened yet (a job still scheduling).
        if (isHubApiError(err) && err.statusCode === 404 && (await this.jobFinished())) {
          this.finish();
          return;
        }
        if (!connection.signal.aborted) {
          delay = call.retryAfterMs();
          this.options.logger?.debug(
            { jobId: this.jobId, err: errorMessage(err) },
            "the Hugging Face job's log stream failed; reconnecting",
          );
        }
      } finally {
        watchdog.cancel();
      }
      failures += 1;
      await sleep(
        clock,
        delay ??
          exponentialDelay({
            baseMs: this.options.reconnectMs,
            maxMs: 30_000,
            failures: failures - 1,
          }),
        signal,
      );
    }
  }

  /** Aborts the connection when it has sent nothing for idleMs (checked every idleMs / 3). */
  private watchdog(lastChunkAt: () => number, connection: AbortController): Timer {
    const { clock, idleMs } = this.options;
    let timer: Timer;
    const check = (): void => {
      if (clock.now() - lastChunkAt() >= idleMs) {
        connection.abort(new Error(`no data on the log stream for ${idleMs} ms`));
        return;
      }
      timer = clock.setTimer(check, Math.max(1, Math.floor(idleMs / 3)));
    };
    timer = clock.setTimer(check, Math.max(1, Math.floor(idleMs / 3)));
    return {
      cancel: () => {
        timer.cancel();
      },
    };
  }

  private take(message: unknown): void {
    if (typeof message !== "string") return;
    for (const line of message.split("\n")) {
      const event = parseTrainerLine(line);
      if (event === undefined) continue;
      recordTrainerEvent(this.records, event);
      if (event.event === "completed" || event.event === "failed") this.wake();
    }
  }

  private async jobFinished(): Promise<boolean> {
    const call = callFetch(this.options.fetch, this.options.clock, {
      signal: this.stopping.signal,
      timeoutMs: this.options.requestTimeoutMs,
    });
    try {
      const job = await (
        await hub()
      ).getJob({
        namespace: this.context.namespace,
        jobId: this.jobId,
        hubUrl: this.options.hubUrl,
        accessToken: this.context.token,
        fetch: call.fetch,
      });
      return isFinishedStage(job.status.stage);
    } catch (err: unknown) {
      return isHubApiError(err) && err.statusCode === 404;
    }
  }
}

/** Moves `key` to the newest end of an insertion-ordered map. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
}

/** Drops the oldest entries beyond `size`. */
function trim<V>(map: Map<string, V>, size: number): void {
  while (map.size > size) {
    const oldest = map.keys().next().value;
    if (oldest === undefined) return;
    map.delete(oldest);
  }
}

function parseDate(value: unknown): Date | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
