// The training progress endpoint: trainer pods POST their JSON-line events to the controller over
// TLS instead of the controller tailing pod logs. After Kubeflow Trainer (KEP-2779): the pod
// authenticates with a projected ServiceAccount token bound to itself, which the controller checks
// with a TokenReview; the event is attributed from the *pod's labels*, read from the apiserver,
// never from the request, so a pod can only ever report for the run and attempt it belongs to.
//
// Request path, cheapest check first: route → bearer present → bounded body → TokenReview (cached
// by token hash) → bound pod read from the apiserver (cached briefly) → per-pod rate limit → parse
// → onEvent. Tokens are never logged, cached or compared in the clear: only their SHA-256.
import { createHash } from "node:crypto";
import { type IncomingMessage, type ServerResponse } from "node:http";
import { type Server, createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { attemptLabel, runIdLabel, trainingJobLabel } from "../../api/well-known.js";
import type { KubeClient } from "../../kube/client.js";
import { errorMessage } from "../../kube/errors.js";
import { type KubeObject, PodType } from "../../kube/resources.js";
import type { Clock } from "../../runtime/clock.js";
import { createSelfSignedTls } from "./progress-tls.js";
import { type TrainerEvent, parseTrainerLine } from "./trainer-contract.js";

/** The one route the receiver serves. */
export const progressPath = "/v1/training/progress";
/** Audience of the projected token unless configured otherwise. */
export const defaultProgressAudience = "llmops.dev/training-progress";

/** Which attempt of which run an event belongs to: all of it read from the pod's labels. */
export interface ProgressKey {
  namespace: string;
  /** The TrainingJob's name. */
  trainingJob: string;
  runId: string;
  /** 1-based. */
  attempt: number;
}

/** One accepted event, attributed to the attempt whose pod sent it. */
export interface AttributedTrainerEvent extends ProgressKey {
  event: TrainerEvent;
  pod: { name: string; uid: string };
  receivedAt: Date;
}

export interface ProgressReceiverOptions {
  /** Reviews tokens and reads pods (RBAC: create tokenreviews; get pods in training namespaces). */
  client: Pick<KubeClient, "reviewToken" | "tryGet">;
  logger: Logger;
  /** Where to listen; host undefined = all interfaces, port 0 = any free port. */
  listen: { host?: string; port: number };
  /**
   * Serving certificate and key (PEM). `ca` is what pods must trust; without it the certificate
   * itself is the trust anchor (fine for a self-signed one). Absent: a private CA and a
   * certificate for `hosts` are minted at start.
   */
  tls?: { cert: string; key: string; ca?: string };
  /** Names and IPs pods reach the receiver by (minted certificate only; default loopback). */
  hosts?: readonly string[];
  /** Tokens must be valid for this audience (the projection's `audience`). */
  audience: string;
  /** Called once per accepted event; the request waits for it, so a slow sink slows the pods. */
  onEvent(event: AttributedTrainerEvent): void | Promise<void>;
  /** Largest accepted body (default 16 KiB); larger → 413. */
  maxBodyBytes?: number;
  /** Per pod (token bucket): `burst` events at once, `perSecond` sustained (default 20 / 5). */
  rateLimit?: { perSecond: number; burst: number };
  /** TokenReview results: entries, lifetime of accepted and of refused tokens. */
  reviewCache?: { maxEntries?: number; ttlMs?: number; negativeTtlMs?: number };
  /** How long a pod read is reused (default 5 s): the delay before a relabel or delete counts. */
  podCacheTtlMs?: number;
  clock?: Pick<Clock, "now">;
}

export interface ProgressReceiver {
  /** `https://host:port` the server is bound to (not necessarily what pods use). */
  readonly url: string;
  /** The CA pods verify the receiver with: put it in the ConfigMap progressEnv mounts. */
  readonly caPem: string;
  close(): Promise<void>;
}

const defaultMaxBodyBytes = 16 * 1024;
const defaultRateLimit = { perSecond: 5, burst: 20 };
const defaultReviewTtlMs = 60_000;
const defaultNegativeReviewTtlMs = 5_000;
const defaultReviewCacheEntries = 4096;
const defaultPodCacheTtlMs = 5_000;
const podCacheEntries = 4096;
const rateLimiterEntries = 4096;

// ServiceAccount token claims the TokenReview reports for a token bound to a pod.
const podNameExtra = "authentication.kubernetes.io/pod-name";
const podUidExtra = "authentication.kubernetes.io/pod-uid";
const serviceAccountUserPrefix = "system:serviceaccount:";

/** Starts the HTTPS server; resolves once it listens. */
export async function startProgressReceiver(
  options: ProgressReceiverOptions,
): Promise<ProgressReceiver> {
  const logger = options.logger.child({ component: "training-progress" });
  const tls =
    options.tls !== undefined
      ? { cert: options.tls.cert, key: options.tls.key, caPem: options.tls.ca ?? options.tls.cert }
      : await createSelfSignedTls({ hosts: options.hosts ?? ["localhost", "127.0.0.1", "::1"] });
  const handler = new ProgressRequestHandler(options, logger);
  const server = createServer(
    {
      cert: tls.cert,
      key: tls.key,
      // Slow or stuck clients must not hold sockets: a progress POST is tiny.
      requestTimeout: 15_000,
      headersTimeout: 10_000,
      keepAliveTimeout: 30_000,
    },
    (req, res) => {
      void handler.handle(req, res);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const url = `https://${host}:${bound.port}`;
  logger.info(
    { address: `${host}:${bound.port}`, path: progressPath, audience: options.audience },
    "serving training progress",
  );
  return { url, caPem: tls.caPem, close: () => closeServer(server) };
}

/** Why a request was refused: the HTTP status and a PascalCase reason the trainer can log. */
export class ProgressRefusal extends Error {
  override name = "ProgressRefusal";

  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Who a token belongs to, as the TokenReview said: a ServiceAccount and the pod it is bound to. */
export interface BoundPodIdentity {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

interface Pod extends KubeObject {
  spec?: { serviceAccountName?: string };
}

class ProgressRequestHandler {
  private readonly maxBodyBytes: number;
  private readonly now: () => number;
  private readonly reviews: ExpiringLru<string, BoundPodIdentity | ProgressRefusal>;
  private readonly reviewsInFlight = new Map<string, Promise<BoundPodIdentity | ProgressRefusal>>();
  private readonly reviewTtlMs: number;
  private readonly negativeReviewTtlMs: number;
  private readonly pods: ExpiringLru<string, ProgressKey | ProgressRefusal>;
  private readonly podCacheTtlMs: number;
  private readonly rateLimiter: TokenBuckets;

  constructor(
    private readonly options: ProgressReceiverOptions,
    private readonly logger: Logger,
  ) {
    this.maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes;
    const clock = options.clock ?? { now: () => Date.now() };
    this.now = () => clock.now();
    this.reviews = new ExpiringLru(options.reviewCache?.maxEntries ?? defaultReviewCacheEntries);
    this.reviewTtlMs = options.reviewCache?.ttlMs ?? defaultReviewTtlMs;
    this.negativeReviewTtlMs = options.reviewCache?.negativeTtlMs ?? defaultNegativeReviewTtlMs;
    this.pods = new ExpiringLru(podCacheEntries);
    this.podCacheTtlMs = options.podCacheTtlMs ?? defaultPodCacheTtlMs;
    this.rateLimiter = new TokenBuckets(options.rateLimit ?? defaultRateLimit, rateLimiterEntries);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const accepted = await this.accept(req);
      await this.options.onEvent(accepted);
      res.writeHead(204, { "cache-control": "no-store" });
      res.end();
    } catch (err: unknown) {
      const refusal =
        err instanceof ProgressRefusal
          ? err
          : new ProgressRefusal(500, "InternalError", "the controller could not record the event");
      if (!(err instanceof ProgressRefusal)) {
        this.logger.error({ err: errorMessage(err) }, "recording a training event failed");
      } else {
        this.logger.debug(
          { status: refusal.status, reason: refusal.reason, remote: req.socket.remoteAddress },
          `training progress refused: ${refusal.message}`,
        );
      }
      reply(req, res, refusal);
    }
  }

  private async accept(req: IncomingMessage): Promise<AttributedTrainerEvent> {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== progressPath)
      throw new ProgressRefusal(404, "NotFound", `only ${progressPath} is served`);
    if (req.method !== "POST") {
      throw new ProgressRefusal(405, "MethodNotAllowed", `${progressPath} takes POST`);
    }
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) {
      throw new ProgressRefusal(
        401,
        "Unauthenticated",
        "send Authorization: Bearer <projected token>",
      );
    }
    const body = await readBoundedBody(req, this.maxBodyBytes);
    const identity = await this.review(token);
    const key = await this.attribute(identity);
    if (!this.rateLimiter.take(identity.podUid, this.now())) {
      throw new ProgressRefusal(
        429,
        "TooManyRequests",
        "too many events from this pod; slow down",
        1,
      );
    }
    const event = parseEvent(body);
    if (event.event === "started" && (event.runId !== key.runId || event.attempt !== key.attempt)) {
      throw new ProgressRefusal(
        403,
        "WrongRun",
        `the event is for run ${event.runId} attempt ${String(event.attempt)}, but the pod runs ${key.runId} attempt ${String(key.attempt)}`,
      );
    }
    return {
      ...key,
      event,
      pod: { name: identity.podName, uid: identity.podUid },
      receivedAt: new Date(this.now()),
    };
  }

  /** The token's bound pod, from a cached or fresh TokenReview. */
  private async review(token: string): Promise<BoundPodIdentity> {
    const hash = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    let result = this.reviews.get(hash, now);
    if (result === undefined) {
      // Concurrent requests with one token share one review.
      let pending = this.reviewsInFlight.get(hash);
      if (pending === undefined) {
        pending = this.reviewFresh(token, hash).finally(() => {
          this.reviewsInFlight.delete(hash);
        });
        this.reviewsInFlight.set(hash, pending);
      }
      result = await pending;
    }
    if (result instanceof ProgressRefusal) throw result;
    return result;
  }

  private async reviewFresh(
    token: string,
    hash: string,
  ): Promise<BoundPodIdentity | ProgressRefusal> {
    let status;
    try {
      status = await this.options.client.reviewToken(token, { audiences: [this.options.audience] });
    } catch (err: unknown) {
      // Not cached: the apiserver or our RBAC may recover on the next report.
      this.logger.warn({ err: errorMessage(err) }, "TokenReview failed");
      return new ProgressRefusal(503, "ReviewUnavailable", "cannot check the token now; retry", 1);
    }
    const result = identityFromReview(status, this.options.audience);
    const now = this.now();
    const ttl =
      result instanceof ProgressRefusal
        ? this.negativeReviewTtlMs
        : Math.min(this.reviewTtlMs, tokenLifetimeLeftMs(token, now));
    if (ttl > 0) this.reviews.set(hash, result, now + ttl);
    return result;
  }

  /** Reads the bound pod and derives the attempt from its labels. */
  private async attribute(identity: BoundPodIdentity): Promise<ProgressKey> {
    const now = this.now();
    let result = this.pods.get(identity.podUid, now);
    if (result === undefined) {
      result = await this.readPod(identity);
      if (this.podCacheTtlMs > 0) this.pods.set(identity.podUid, result, now + this.podCacheTtlMs);
    }
    if (result instanceof ProgressRefusal) throw result;
    return result;
  }

  private async readPod(identity: BoundPodIdentity): Promise<ProgressKey | ProgressRefusal> {
    const where = `${identity.namespace}/${identity.podName}`;
    let pod;
    try {
      pod = await this.options.client.tryGet<Pod>(PodType, {
        namespace: identity.namespace,
        name: identity.podName,
      });
    } catch (err: unknown) {
      this.logger.warn({ err: errorMessage(err), pod: where }, "reading the reporting pod failed");
      throw new ProgressRefusal(503, "PodUnavailable", "cannot read the pod now; retry", 1);
    }
    if (pod === undefined || pod.metadata.uid !== identity.podUid) {
      return new ProgressRefusal(
        403,
        "PodGone",
        `pod ${where} the token is bound to no longer exists`,
      );
    }
    if ((pod.spec?.serviceAccountName ?? "default") !== identity.serviceAccount) {
      return new ProgressRefusal(
        403,
        "WrongServiceAccount",
        `pod ${where} runs as another ServiceAccount`,
      );
    }
    const labels = pod.metadata.labels ?? {};
    const trainingJob = labels[trainingJobLabel];
    const runId = labels[runIdLabel];
    const attempt = Number(labels[attemptLabel]);
    if (!trainingJob || !runId || !Number.isInteger(attempt) || attempt < 1) {
      return new ProgressRefusal(
        403,
        "NotATrainingPod",
        `pod ${where} lacks the labels ${trainingJobLabel}, ${runIdLabel} and ${attemptLabel} of a training attempt`,
      );
    }
    return { namespace: identity.namespace, trainingJob, runId, attempt };
  }
}

/** Reads what a TokenReview says into a bound-pod identity, or the refusal it calls for. */
export function identityFromReview(
  status: Awaited<ReturnType<KubeClient["reviewToken"]>>,
  audience: string,
): BoundPodIdentity | ProgressRefusal {
  if (status.authenticated !== true) {
    return new ProgressRefusal(
      401,
      "Unauthenticated",
      `the token is not valid (expired, revoked, or not for audience ${audience})`,
    );
  }
  // An authenticated review without our audience in status.audiences means the token is valid
  // for the apiserver itself (or the authenticator ignores audiences): not a token for us.
  if (!(status.audiences ?? []).includes(audience)) {
    return new ProgressRefusal(401, "Unauthenticated", `the token is not for audience ${audience}`);
  }
  const username = status.user?.username ?? "";
  const [namespace, serviceAccount, ...rest] = username.startsWith(serviceAccountUserPrefix)
    ? username.slice(serviceAccountUserPrefix.length).split(":")
    : [];
  if (!namespace || !serviceAccount || rest.length > 0) {
    return new ProgressRefusal(
      403,
      "NotAServiceAccount",
      "only a pod's ServiceAccount token can report",
    );
  }
  const podName = status.user?.extra?.[podNameExtra]?.[0];
  const podUid = status.user?.extra?.[podUidExtra]?.[0];
  if (!podName || !podUid) {
    return new ProgressRefusal(
      403,
      "NotBoundToPod",
      "the token is not bound to a pod: mount a projected serviceAccountToken",
    );
  }
  return { namespace, serviceAccount, podName, podUid };
}

/** The event in a request body, or a 400 that says what is wrong with it. */
function parseEvent(body: string): TrainerEvent {
  const event = parseTrainerLine(body);
  if (event === undefined) {
    throw new ProgressRefusal(
      400,
      "MalformedEvent",
      'the body must be one JSON trainer event with "llmops": 1 and an "event"',
    );
  }
  const problem = trainerEventProblem(event);
  if (problem !== undefined) throw new ProgressRefusal(400, "MalformedEvent", problem);
  return event;
}

/** What is wrong with an event's fields, or undefined; the shapes are trainer-contract.ts's. */
export function trainerEventProblem(event: TrainerEvent): string | undefined {
  const record = event as unknown as Record<string, unknown>;
  const need = (fields: readonly string[], type: "number" | "string" | "object"): string[] =>
    fields.filter((f) =>
      type === "number"
        ? typeof record[f] !== "number" || !Number.isFinite(record[f])
        : type === "object"
          ? typeof record[f] !== "object" || record[f] === null
          : typeof record[f] !== "string",
    );
  let bad: string[];
  switch (event.event) {
    case "started":
      bad = [...need(["runId"], "string"), ...need(["attempt", "totalSteps"], "number")];
      break;
    case "progress":
      bad = need(["step", "totalSteps", "epoch"], "number");
      break;
    case "checkpoint":
      bad = [...need(["step"], "number"), ...need(["path"], "string")];
      break;
    case "completed":
      bad = need(["output", "metrics"], "object");
      break;
    case "failed":
      bad = need(["reason", "message"], "string");
      if (typeof record.retryable !== "boolean") bad.push("retryable");
      break;
    default:
      return `unknown event "${String((event as { event: unknown }).event)}"`;
  }
  return bad.length === 0 ? undefined : `"${event.event}" event: bad or missing ${bad.join(", ")}`;
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? "");
  return match?.[1];
}

/**
 * Seconds of life a JWT says it has left (its `exp`), so a cached review never outlives the
 * token. Read without verifying: it can only shorten the cache, and the TokenReview verified it.
 */
function tokenLifetimeLeftMs(token: string, now: number): number {
  try {
    const payload = token.split(".")[1];
    if (payload === undefined) return Number.POSITIVE_INFINITY;
    const exp = (
      JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp?: unknown }
    ).exp;
    return typeof exp === "number" ? exp * 1000 - now : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

async function readBoundedBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = new ProgressRefusal(413, "TooLarge", `the body is over ${String(limit)} bytes`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw tooLarge;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function reply(req: IncomingMessage, res: ServerResponse, refusal: ProgressRefusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "cache-control": "no-store",
  };
  if (refusal.status === 401) headers["www-authenticate"] = "Bearer";
  if (refusal.status === 405) headers.allow = "POST";
  if (refusal.retryAfterSeconds !== undefined) {
    headers["retry-after"] = String(refusal.retryAfterSeconds);
  }
  // A body we stopped reading (413, or refused before reading) would desynchronise keep-alive.
  if (!req.complete) headers.connection = "close";
  res.writeHead(refusal.status, headers);
  res.end(JSON.stringify({ reason: refusal.reason, message: refusal.message }) + "\n");
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
    // Trainers keep connections alive between reports; do not let them hold the shutdown.
    server.closeAllConnections();
  });
}

/** A Map bounded by entry count (least recently used out first) whose entries expire. */
export class ExpiringLru<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(private readonly maxEntries: number) {}

  get(key: K, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V, expiresAt: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Token buckets per key, bounded: a key not seen for a while starts again with a full bucket. */
export class TokenBuckets {
  private readonly buckets: ExpiringLru<string, { tokens: number; at: number }>;

  constructor(
    private readonly limit: { perSecond: number; burst: number },
    maxKeys: number,
  ) {
    this.buckets = new ExpiringLru(maxKeys);
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string, now: number): boolean {
    const bucket = this.buckets.get(key, now) ?? { tokens: this.limit.burst, at: now };
    const refilled = Math.min(
      this.limit.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond,
    );
    const allowed = refilled >= 1;
    const tokens = allowed ? refilled - 1 : refilled;
    // Once full again the bucket carries no state worth keeping.
    const fullInMs = ((this.limit.burst - tokens) / Math.max(this.limit.perSecond, 1e-9)) * 1000;
    this.buckets.set(key, { tokens, at: now }, now + Math.max(fullInMs, 1));
    return allowed;
  }
}

/** The latest of each kind of event one attempt reported. */
export interface ProgressSnapshot {
  started?: Extract<TrainerEvent, { event: "started" }>;
  progress?: Extract<TrainerEvent, { event: "progress" }>;
  checkpoint?: Extract<TrainerEvent, { event: "checkpoint" }>;
  completed?: Extract<TrainerEvent, { event: "completed" }>;
  failed?: Extract<TrainerEvent, { event: "failed" }>;
  /** When the last event of this attempt arrived. */
  updatedAt: Date;
}

/**
 * What pods reported, per attempt, in memory: the Kubernetes Job backend's `observe` and the
 * reconciler read it; `record` is the receiver's onEvent. Bounded: the attempts used least
 * recently are dropped first (a dropped attempt just reports afresh with its next event). Lost on
 * restart, by design: the pod's next report (and the Job's own status) bring it back.
 */
export class ProgressStore {
  private readonly attempts: ExpiringLru<string, ProgressSnapshot>;

  constructor(options: { maxAttempts?: number } = {}) {
    this.attempts = new ExpiringLru(options.maxAttempts ?? 1000);
  }

  /** Keeps `event` if it is newer than what the attempt already reported. */
  record(event: AttributedTrainerEvent): void {
    const id = progressKeyString(event);
    const current = this.attempts.get(id, 0) ?? { updatedAt: event.receivedAt };
    const next: ProgressSnapshot = { ...current, updatedAt: event.receivedAt };
    const e = event.event;
    switch (e.event) {
      case "started":
        next.started = e;
        break;
      // Reports may arrive out of order (retries, parallel connections): keep the furthest step.
      case "progress":
        if (current.progress === undefined || e.step >= current.progress.step) next.progress = e;
        break;
      case "checkpoint":
        if (current.checkpoint === undefined || e.step >= current.checkpoint.step) {
          next.checkpoint = e;
        }
        break;
      case "completed":
        next.completed = e;
        break;
      case "failed":
        next.failed = e;
        break;
    }
    this.attempts.set(id, next, Number.POSITIVE_INFINITY);
  }

  /** The attempt's latest events, or undefined when it reported nothing (or was dropped). */
  latest(key: ProgressKey): Readonly<ProgressSnapshot> | undefined {
    const snapshot = this.attempts.get(progressKeyString(key), 0);
    return snapshot === undefined ? undefined : { ...snapshot };
  }

  /** Drops what the attempt reported (it finished and its result is in status). */
  forget(key: ProgressKey): void {
    this.attempts.delete(progressKeyString(key));
  }

  get size(): number {
    return this.attempts.size;
  }
}

function progressKeyString(key: ProgressKey): string {
  return JSON.stringify([key.namespace, key.trainingJob, key.runId, key.attempt]);
}

/** Environment variables the trainer reads (trainer/…/events.py posts each event there). */
export const progressUrlEnv = "LLMOPS_PROGRESS_URL";
export const progressCaFileEnv = "LLMOPS_PROGRESS_CA_FILE";
export const progressTokenFileEnv = "LLMOPS_PROGRESS_TOKEN_FILE";
/** Key of the receiver's CA in the ConfigMap the Job backend writes (progressCaConfigMapData). */
export const progressCaConfigMapKey = "ca.crt";

export interface ProgressPodOptions {
  /** What pods POST to, e.g. `https://llmops-controller.llmops-system.svc:8443` + progressPath. */
  url: string;
  /** The receiver's audience. */
  audience: string;
  /** ConfigMap in the pod's namespace holding the receiver's CA (progressCaConfigMapData). */
  caConfigMap: { name: string; key?: string };
  /** Token lifetime; the kubelet rotates it at 80% (minimum 600, default 3600). */
  expirationSeconds?: number;
  /** Where the token and the CA are mounted (default /var/run/secrets/llmops.dev/progress). */
  mountPath?: string;
  /** Name of the pod volume (default llmops-progress). */
  volumeName?: string;
}

/** What to add to the trainer's pod spec so it can report progress. */
export interface ProgressPodConfig {
  /** For the trainer container's `env`. */
  env: { name: string; value: string }[];
  /** For the pod's `volumes`. */
  volumes: Record<string, unknown>[];
  /** For the trainer container's `volumeMounts`. */
  volumeMounts: { name: string; mountPath: string; readOnly: boolean }[];
}

/**
 * The env, volume and mount a trainer pod needs: one projected volume (as the kubelet's own
 * kube-api-access volume) with a token bound to the pod for the receiver's audience, and the CA.
 * The kubelet rotates the token in place, so the trainer must read the file at every report.
 */
export function progressEnv(options: ProgressPodOptions): ProgressPodConfig {
  const mountPath = (options.mountPath ?? "/var/run/secrets/llmops.dev/progress").replace(
    /\/+$/,
    "",
  );
  const volumeName = options.volumeName ?? "llmops-progress";
  const expirationSeconds = options.expirationSeconds ?? 3600;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
    throw new RangeError(
      `expirationSeconds must be an integer of at least 600 (the apiserver's minimum), got ${String(expirationSeconds)}`,
    );
  }
  return {
    env: [
      { name: progressUrlEnv, value: options.url },
      { name: progressCaFileEnv, value: `${mountPath}/ca.crt` },
      { name: progressTokenFileEnv, value: `${mountPath}/token` },
    ],
    volumes: [
      {
        name: volumeName,
        projected: {
          defaultMode: 0o444,
          sources: [
            {
              serviceAccountToken: {
                audience: options.audience,
                expirationSeconds,
                path: "token",
              },
            },
            {
              configMap: {
                name: options.caConfigMap.name,
                items: [{ key: options.caConfigMap.key ?? progressCaConfigMapKey, path: "ca.crt" }],
              },
            },
          ],
        },
      },
    ],
    volumeMounts: [{ name: volumeName, mountPath, readOnly: true }],
  };
}

/** The `data` of the CA ConfigMap progressEnv mounts. */
export function progressCaConfigMapData(caPem: string): Record<string, string> {
  return { [progressCaConfigMapKey]: caPem };
}
