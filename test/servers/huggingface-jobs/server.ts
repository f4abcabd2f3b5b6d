// A local server that speaks the Hugging Face Jobs API as @huggingface/hub's jobs functions (and
// huggingface_hub's HfApi) call it, so tests drive the official client against the routes,
// payloads, status codes and error bodies of the service:
//
//   GET  /api/whoami-v2                         the token's user and organisations
//   GET  /api/jobs/hardware                     the flavors (public)
//   POST /api/jobs/{namespace}                  create a job: flavor, dockerImage | spaceId,
//                                               command, arguments, environment, secrets,
//                                               timeoutSeconds, labels
//   GET  /api/jobs/{namespace}                  list, newest first; `label=key=value` and
//                                               `stage=` filters; pages linked by a Link header
//   GET  /api/jobs/{namespace}/{id}             one job (secrets as names only)
//   POST /api/jobs/{namespace}/{id}/cancel      cancel; a finished job is returned as it is
//   GET  /api/jobs/{namespace}/{id}/logs        server-sent events: `data: {"data": line,
//                                               "timestamp": iso}`, a "===== Job started" line
//                                               first, `: keep-alive` comments, ends when the
//                                               job has finished
//
// Errors as the Hub sends them: JSON `{ "error": "…" }`, 401 "Invalid credentials in
// Authorization header" for a missing or unknown token, 403 for a namespace the token may not run
// jobs in, 404 "Job not found", 400 for a body the service rejects (unknown flavor, both or
// neither of dockerImage and spaceId, non-string values). The label rules enforced here
// ([A-Za-z0-9._/-] keys up to 128 characters, string values up to 256) are conservative
// assumptions, not documented limits.
//
// The test drives each job's life through a handle: run(), log(), complete(), error(),
// remove(); dropLogStreams() and stallLogStreams() break the log connections; failNext answers
// the next requests with a status (429 with Retry-After, 500…). Test-only: never imported by
// controller/ code.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** The flavors the service runs (huggingface_hub's JobHardware). */
export const jobsTestFlavors: readonly string[] = [
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

export interface JobsTestUser {
  name: string;
  token: string;
  /** Organisations the user may run jobs in, besides their own namespace. */
  orgs?: string[];
  /** false: the account has no Jobs (not PRO): creating or listing jobs gets 403. */
  canRunJobs?: boolean;
}

export interface RecordedJobsRequest {
  method: string;
  /** Path and query as sent (still URL-encoded). */
  url: string;
  authorization: string | null;
  /** The parsed JSON body, when one was sent. */
  body: unknown;
}

export interface StoredTestJob {
  id: string;
  namespace: string;
  /** The creation request's body as received (secrets included, for assertions). */
  spec: Record<string, unknown>;
  stage: string;
  message: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  logs: { data: string; timestamp: string }[];
  createdBy: string;
}

interface LogStream {
  job: StoredTestJob;
  res: ServerResponse;
  frozen: boolean;
  keepAlive: NodeJS.Timeout | undefined;
}

class JobsHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Drives one job's life from a test. */
export class TestJobHandle {
  constructor(
    private readonly server: HuggingFaceJobsTestServer,
    readonly job: StoredTestJob,
  ) {}

  get id(): string {
    return this.job.id;
  }

  get stage(): string {
    return this.job.stage;
  }

  /** SCHEDULING → RUNNING, with the service's "Job started" line. */
  run(): this {
    this.job.stage = "RUNNING";
    this.job.startedAt = new Date();
    this.server.appendLog(
      this.job,
      `===== Job started at ${this.job.startedAt.toISOString()} =====`,
    );
    return this;
  }

  /** Prints lines (objects are written as one JSON line each, like the trainer's records). */
  log(...lines: (string | Record<string, unknown>)[]): this {
    for (const line of lines) {
      this.server.appendLog(this.job, typeof line === "string" ? line : JSON.stringify(line));
    }
    return this;
  }

  /** The process exited 0. */
  complete(): this {
    this.server.finish(this.job, "COMPLETED", null);
    return this;
  }

  /** The process failed (or the service stopped it, e.g. at its timeout). */
  error(message: string | null = null): this {
    this.server.finish(this.job, "ERROR", message);
    return this;
  }

  /** Sets any stage string (to check how unknown or Space-style stages are read). */
  setStage(stage: string): this {
    this.job.stage = stage;
    return this;
  }

  /** The job is deleted: GET answers DELETED. */
  remove(): this {
    this.server.finish(this.job, "DELETED", null);
    return this;
  }
}

export class HuggingFaceJobsTestServer {
  readonly requests: RecordedJobsRequest[] = [];
  /** Answer the next `count` requests (matching `path`, when set) with `status`. */
  failNext: { count: number; status: number; retryAfter?: string; path?: RegExp } = {
    count: 0,
    status: 500,
  };
  /** Stage of a new job; the service schedules before it runs. */
  initialStage = "SCHEDULING";
  /** Jobs per listing page. */
  pageSize = 50;
  /** false: the listing ignores `label=` (and `stage=`) filters, as an older service might. */
  honourListFilters = true;
  /** true: a job's log route answers 404 until the job runs (a log not opened yet). */
  logsNotFoundUntilRunning = false;
  /** Interval of `: keep-alive` comments on log streams (the service sends one every 30 s). */
  keepAliveMs = 1000;
  /** http://127.0.0.1:<port>, once started. */
  baseUrl = "";
  private readonly users = new Map<string, JobsTestUser>();
  private readonly jobs = new Map<string, StoredTestJob>();
  private readonly streams = new Set<LogStream>();
  private counter = 0;
  private server: Server | undefined;

  addUser(user: JobsTestUser): this {
    this.users.set(user.token, user);
    return this;
  }

  /** Starts on a free loopback port; returns the base URL. */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const stream of this.streams) this.closeStream(stream);
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }

  /** Every job, oldest first. */
  allJobs(): StoredTestJob[] {
    return [...this.jobs.values()];
  }

  job(id: string): TestJobHandle {
    const job = this.jobs.get(id);
    if (!job) throw new Error(`no job ${id}`);
    return new TestJobHandle(this, job);
  }

  /** Creates a job directly (fills listings without going through the client). */
  seedJob(namespace: string, spec: Record<string, unknown>, createdBy = namespace): TestJobHandle {
    return new TestJobHandle(this, this.create(namespace, spec, createdBy));
  }

  /** Open log connections now. */
  openLogStreams(): number {
    return this.streams.size;
  }

  /** Log connections opened so far. */
  logConnections(): number {
    return this.requests.filter((r) => r.method === "GET" && /\/logs(\?|$)/.test(r.url)).length;
  }

  /** Cuts every open log connection mid-stream (a dropped connection). */
  dropLogStreams(): void {
    for (const stream of this.streams) {
      this.streams.delete(stream);
      if (stream.keepAlive) clearInterval(stream.keepAlive);
      stream.res.destroy();
    }
  }

  /** Open log connections go silent (no lines, no keep-alive): a half-open connection. */
  stallLogStreams(): void {
    for (const stream of this.streams) stream.frozen = true;
  }

  /** @internal */
  appendLog(job: StoredTestJob, data: string): void {
    const entry = { data, timestamp: new Date().toISOString() };
    job.logs.push(entry);
    for (const stream of this.streams) {
      if (stream.job === job && !stream.frozen) writeEvent(stream.res, entry);
    }
  }

  /** @internal */
  finish(job: StoredTestJob, stage: string, message: string | null): void {
    job.stage = stage;
    job.message = message;
    job.finishedAt = new Date();
    // The service ends a finished job's log stream once everything has been sent.
    for (const stream of this.streams) {
      if (stream.job === job && !stream.frozen) this.closeStream(stream);
    }
  }

  private closeStream(stream: LogStream): void {
    this.streams.delete(stream);
    if (stream.keepAlive) clearInterval(stream.keepAlive);
    stream.res.end();
  }

  private create(
    namespace: string,
    spec: Record<string, unknown>,
    createdBy: string,
  ): StoredTestJob {
    this.counter += 1;
    const id = (Date.now().toString(16) + this.counter.toString(16).padStart(12, "0"))
      .slice(-24)
      .padStart(24, "0");
    const job: StoredTestJob = {
      id,
      namespace,
      spec,
      stage: this.initialStage,
      message: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      logs: [],
      createdBy,
    };
    this.jobs.set(id, job);
    return job;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const rawUrl = req.url ?? "/";
    const text = await readBody(req);
    let body: unknown = undefined;
    let badJson = false;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
        badJson = true;
      }
    }
    this.requests.push({
      method,
      url: rawUrl,
      authorization: req.headers.authorization ?? null,
      body,
    });
    try {
      const url = new URL(rawUrl, "http://jobs.invalid");
      if (this.failNext.count > 0 && (this.failNext.path?.test(url.pathname) ?? true)) {
        this.failNext.count -= 1;
        const headers: Record<string, string> =
          this.failNext.retryAfter === undefined ? {} : { "Retry-After": this.failNext.retryAfter };
        throw new JobsHttpError(
          this.failNext.status,
          this.failNext.status === 429
            ? "You have exceeded the rate limit. Please retry later."
            : "Internal Error - We're working hard to fix this as soon as possible!",
          headers,
        );
      }
      const segments = url.pathname.split("/").slice(1).map(decodeURIComponent);
      if (segments[0] !== "api") throw new JobsHttpError(404, "Not Found");
      if (segments[1] === "whoami-v2" && segments.length === 2 && method === "GET") {
        this.serveWhoAmI(req, res);
        return;
      }
      if (segments[1] !== "jobs" || segments[2] === undefined)
        throw new JobsHttpError(404, "Not Found");
      if (segments[2] === "hardware" && segments.length === 3 && method === "GET") {
        sendJson(res, 200, jobsTestFlavors.map(hardwareEntry));
        return;
      }
      const namespace = segments[2];
      const [, , , jobId, action] = segments;
      const user = this.authenticate(req);
      if (jobId === undefined) {
        this.authorizeNamespace(user, namespace);
        if (method === "POST") {
          if (badJson || !isRecord(body)) throw new JobsHttpError(400, "Invalid JSON body");
          validateJobSpec(body);
          const job = this.create(namespace, body, user.name);
          sendJson(res, 200, this.render(job));
          return;
        }
        if (method === "GET") {
          this.serveList(res, url, namespace);
          return;
        }
        throw new JobsHttpError(405, `${method} is not allowed`);
      }
      const job = this.jobs.get(jobId);
      if (!job || job.namespace !== namespace || !this.mayRead(user, namespace)) {
        throw new JobsHttpError(404, "Job not found");
      }
      if (action === undefined && method === "GET") {
        sendJson(res, 200, this.render(job));
      } else if (action === "cancel" && method === "POST" && segments.length === 5) {
        if (!isFinished(job.stage)) this.finish(job, "CANCELED", null);
        sendJson(res, 200, this.render(job));
      } else if (action === "logs" && method === "GET" && segments.length === 5) {
        if (this.logsNotFoundUntilRunning && job.startedAt === null) {
          throw new JobsHttpError(404, "Logs not found");
        }
        this.serveLogs(res, job);
      } else {
        throw new JobsHttpError(404, "Not Found");
      }
    } catch (err: unknown) {
      const e = err instanceof JobsHttpError ? err : new JobsHttpError(500, String(err));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(e.status, {
        "Content-Type": "application/json; charset=utf-8",
        "X-Request-Id": `Root=test-${String(this.requests.length)}`,
        ...e.headers,
      });
      res.end(JSON.stringify({ error: e.message }));
    }
  }

  private authenticate(req: IncomingMessage): JobsTestUser {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const user = match?.[1] === undefined ? undefined : this.users.get(match[1]);
    if (!user) throw new JobsHttpError(401, "Invalid credentials in Authorization header");
    return user;
  }

  private mayRead(user: JobsTestUser, namespace: string): boolean {
    return namespace === user.name || (user.orgs ?? []).includes(namespace);
  }

  private authorizeNamespace(user: JobsTestUser, namespace: string): void {
    if (!this.mayRead(user, namespace)) {
      throw new JobsHttpError(
        403,
        `You don't have the rights to run jobs in namespace ${namespace}`,
      );
    }
    if (user.canRunJobs === false) {
      throw new JobsHttpError(
        403,
        "Jobs are available only to PRO users and Team or Enterprise organizations",
      );
    }
  }

  private serveWhoAmI(req: IncomingMessage, res: ServerResponse): void {
    const user = this.authenticate(req);
    sendJson(res, 200, {
      type: "user",
      id: `user-${user.name}`,
      name: user.name,
      fullname: user.name,
      isPro: user.canRunJobs !== false,
      orgs: (user.orgs ?? []).map((name) => ({
        type: "org",
        id: `org-${name}`,
        name,
        fullname: name,
      })),
      auth: {
        type: "access_token",
        accessToken: { displayName: "llmops", role: "write", createdAt: new Date(0).toISOString() },
      },
    });
  }

  private serveList(res: ServerResponse, url: URL, namespace: string): void {
    const labels = url.searchParams.getAll("label");
    const stages = url.searchParams.getAll("stage").map((s) => s.toUpperCase());
    let jobs = [...this.jobs.values()].filter((job) => job.namespace === namespace).reverse();
    if (this.honourListFilters) {
      jobs = jobs.filter((job) => {
        const jobLabels = isRecord(job.spec.labels) ? job.spec.labels : {};
        const labelled = labels.every((filter) => {
          const at = filter.indexOf("=");
          return at > 0 && jobLabels[filter.slice(0, at)] === filter.slice(at + 1);
        });
        return labelled && (stages.length === 0 || stages.includes(job.stage));
      });
    }
    const page = Math.max(0, Number(url.searchParams.get("p") ?? "0") || 0);
    const slice = jobs.slice(page * this.pageSize, (page + 1) * this.pageSize);
    const headers: Record<string, string> = {};
    if ((page + 1) * this.pageSize < jobs.length) {
      const next = new URL(url.href);
      next.searchParams.set("p", String(page + 1));
      headers.Link = `<${this.baseUrl}${next.pathname}${next.search}>; rel="next"`;
    }
    sendJson(
      res,
      200,
      slice.map((job) => this.render(job)),
      headers,
    );
  }

  private serveLogs(res: ServerResponse, job: StoredTestJob): void {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
    });
    for (const entry of job.logs) writeEvent(res, entry);
    if (isFinished(job.stage)) {
      res.end();
      return;
    }
    const stream: LogStream = { job, res, frozen: false, keepAlive: undefined };
    stream.keepAlive = setInterval(() => {
      if (!stream.frozen) res.write(": keep-alive\n\n");
    }, this.keepAliveMs);
    this.streams.add(stream);
    res.on("close", () => {
      this.streams.delete(stream);
      if (stream.keepAlive) clearInterval(stream.keepAlive);
    });
  }

  /** A job as the API returns it: secrets by name only. */
  private render(job: StoredTestJob): Record<string, unknown> {
    const spec = job.spec;
    const secrets = isRecord(spec.secrets) ? Object.keys(spec.secrets) : [];
    const ownerType = this.isUserName(job.namespace) ? "user" : "org";
    return {
      type: "job",
      id: job.id,
      createdAt: job.createdAt.toISOString(),
      startedAt: job.startedAt?.toISOString() ?? null,
      finishedAt: job.finishedAt?.toISOString() ?? null,
      dockerImage: spec.dockerImage ?? null,
      spaceId: spec.spaceId ?? null,
      command: spec.command ?? null,
      arguments: spec.arguments ?? [],
      environment: spec.environment ?? {},
      secrets,
      flavor: spec.flavor,
      arch: spec.arch ?? "amd64",
      timeoutSeconds: spec.timeoutSeconds ?? 1800,
      labels: spec.labels ?? null,
      status: {
        stage: job.stage,
        message: job.message,
        failureCount: job.stage === "ERROR" ? 1 : 0,
      },
      owner: { id: `id-${job.namespace}`, name: job.namespace, type: ownerType },
      createdBy: { id: `user-${job.createdBy}`, name: job.createdBy },
      initiator: { type: "user", id: `user-${job.createdBy}`, name: job.createdBy },
    };
  }

  private isUserName(name: string): boolean {
    return [...this.users.values()].some((user) => user.name === name);
  }
}

function validateJobSpec(body: Record<string, unknown>): void {
  const flavor = body.flavor;
  if (typeof flavor !== "string" || !jobsTestFlavors.includes(flavor)) {
    throw new JobsHttpError(
      400,
      `Invalid flavor ${JSON.stringify(flavor)}: expected one of ${jobsTestFlavors.join(", ")}`,
    );
  }
  const hasImage = typeof body.dockerImage === "string" && body.dockerImage !== "";
  const hasSpace = typeof body.spaceId === "string" && body.spaceId !== "";
  if (hasImage === hasSpace) {
    throw new JobsHttpError(400, "Exactly one of dockerImage or spaceId must be provided");
  }
  for (const name of ["command", "arguments"]) {
    const value = body[name];
    if (
      value !== undefined &&
      !(Array.isArray(value) && value.every((v) => typeof v === "string"))
    ) {
      throw new JobsHttpError(400, `${name} must be an array of strings`);
    }
  }
  for (const name of ["environment", "secrets", "labels"]) {
    const value = body[name];
    if (value === undefined) continue;
    if (!isRecord(value) || !Object.values(value).every((v) => typeof v === "string")) {
      throw new JobsHttpError(400, `${name} must be an object of strings`);
    }
  }
  if (isRecord(body.labels)) {
    for (const [key, value] of Object.entries(body.labels)) {
      if (!/^[A-Za-z0-9._/-]{1,128}$/.test(key) || String(value).length > 256) {
        throw new JobsHttpError(400, `Invalid label ${JSON.stringify(key)}`);
      }
    }
  }
  const timeout = body.timeoutSeconds;
  if (timeout !== undefined && timeout !== null) {
    if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout <= 0) {
      throw new JobsHttpError(400, "timeoutSeconds must be a positive integer");
    }
  }
}

function isFinished(stage: string): boolean {
  return ["COMPLETED", "ERROR", "CANCELED", "DELETED"].includes(stage);
}

function hardwareEntry(name: string): Record<string, unknown> {
  const gpu = !name.startsWith("cpu-");
  return {
    name,
    prettyName: name,
    cpu: "8 vCPU",
    ram: "32 GB",
    accelerator: gpu
      ? {
          type: "gpu",
          model: name.split(/[-x]/)[0]?.toUpperCase() ?? "",
          quantity: "1",
          vram: "24 GB",
          manufacturer: "Nvidia",
        }
      : null,
    unitCostMicroUSD: 167,
    unitCostUSD: 0.000167,
    unitLabel: "minute",
  };
}

function writeEvent(res: ServerResponse, entry: { data: string; timestamp: string }): void {
  res.write(`data: ${JSON.stringify(entry)}\n\n`);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
