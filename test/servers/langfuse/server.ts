// A local server that speaks the Langfuse public API (the parts llmops uses), so tests drive the
// official @langfuse/client and @langfuse/otel against the documented wire format, status codes and
// error bodies: prompts, datasets and dataset items, scores (created, and listed through the
// deprecated GET /api/public/v2/scores with page-based pagination and through Langfuse v4's
// GET /api/public/v3/scores with cursors), observations (GET /api/public/v2/observations with its
// field groups, `filter` and cursors, built from seeded traces and OTLP spans), and OTLP/HTTP
// traces in the JSON encoding (the one @opentelemetry/exporter-trace-otlp-http sends; Langfuse
// also takes protobuf, which this server answers with 415).
// Test-only: never shipped.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface StoredPrompt {
  name: string;
  version: number;
  type: "chat" | "text";
  prompt: unknown;
  config: unknown;
  labels: string[];
  tags: string[];
  commitMessage: string | null;
  createdAt: string;
}

/** An OTLP span as upserted through `POST /api/public/otel/v1/traces` (by trace id and span id). */
export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  /** ISO 8601, from the span's unix-nano times. */
  startTime: string;
  endTime: string;
  /** Decoded OTLP attributes: strings, numbers, booleans and arrays of them. */
  attributes: Record<string, unknown>;
  status: { code: number; message?: string };
  scope: { name: string; version?: string };
  resource: Record<string, unknown>;
}

export interface StoredScore {
  id: string;
  name: string;
  value: number | string;
  dataType?: string;
  traceId?: string;
  observationId?: string;
  sessionId?: string;
  comment?: string;
  metadata?: unknown;
  [field: string]: unknown;
}

/**
 * A trace as listings see it: its tags (Langfuse aggregates them from its observations); the
 * observation listing shows it as one root observation that started at `timestamp`.
 */
export interface StoredTrace {
  id: string;
  tags: string[];
  userId?: string;
  environment?: string;
  /** ISO 8601; when it was seeded unless given. */
  timestamp: string;
}

export interface StoredDataset {
  id: string;
  name: string;
  description: string | null;
  metadata: unknown;
  projectId: string;
  createdAt: string;
  updatedAt: string;
}

export interface StoredDatasetItem {
  id: string;
  datasetId: string;
  datasetName: string;
  status: "ACTIVE" | "ARCHIVED";
  input: unknown;
  expectedOutput: unknown;
  metadata: unknown;
  sourceTraceId: string | null;
  sourceObservationId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The project every key pair of this server belongs to. */
export const testProjectId = "llmops-test-project";

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface LangfuseTestServerOptions {
  publicKey: string;
  secretKey: string;
  /** Largest accepted request body; larger bodies get 413. */
  maxBodyBytes?: number;
}

/** Langfuse label rule: lowercase letters, digits, `_`, `-`, `.`; "latest" is managed by Langfuse. */
const labelPattern = /^[a-z0-9_.-]+$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errorName: string,
  ) {
    super(message);
  }
}

export class LangfuseTestServer {
  readonly prompts: StoredPrompt[] = [];
  readonly requests: RecordedRequest[] = [];
  /** OTLP spans by `traceId/spanId` (Langfuse upserts observations on that pair), scores by id. */
  readonly spans = new Map<string, StoredSpan>();
  readonly scores = new Map<string, StoredScore>();
  /** Traces by id, as seeded with seedTrace (spans' `langfuse.trace.tags` add to their tags). */
  readonly traces = new Map<string, StoredTrace>();
  /** Datasets by name, their items by id. */
  readonly datasets = new Map<string, StoredDataset>();
  readonly datasetItems = new Map<string, StoredDatasetItem>();
  /** Fail the next N requests (of one method, if given) with this status before serving normally. */
  failNext: { count: number; status: number; method?: string } = { count: 0, status: 500 };
  /** http://127.0.0.1:<port>, once started. */
  baseUrl = "";
  private server: Server | undefined;

  constructor(private readonly options: LangfuseTestServerOptions) {}

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
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }

  /** Versions created through POST /api/public/v2/prompts for `name`. */
  createCalls(name: string): number {
    return this.requests.filter(
      (r) =>
        r.method === "POST" &&
        r.path === "/api/public/v2/prompts" &&
        (r.body as { name?: string } | undefined)?.name === name,
    ).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      if (
        url.pathname === "/api/public/otel/v1/traces" &&
        !(req.headers["content-type"] ?? "").startsWith("application/json")
      ) {
        throw new HttpError(
          415,
          "this test server takes OTLP/HTTP JSON only",
          "UnsupportedMediaType",
        );
      }
      const body = await this.readBody(req);
      this.requests.push({ method: req.method ?? "GET", path: url.pathname, body });
      this.authenticate(req);
      const failMethod = this.failNext.method;
      if (this.failNext.count > 0 && (failMethod === undefined || failMethod === req.method)) {
        this.failNext.count -= 1;
        throw new HttpError(this.failNext.status, "injected failure", "InternalServerError");
      }
      const result = this.route(req.method ?? "GET", url, body);
      if (result === undefined) {
        res.writeHead(204).end();
        return;
      }
      res.writeHead(result.status, { "content-type": "application/json" });
      res.end(JSON.stringify(result.body));
    } catch (err: unknown) {
      const e =
        err instanceof HttpError
          ? err
          : new HttpError(500, (err as Error).message, "InternalServerError");
      res.writeHead(e.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: e.message, error: e.errorName }));
    }
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const limit = this.options.maxBodyBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, "Request body too large", "PayloadTooLarge");
      chunks.push(chunk);
    }
    if (size === 0) return undefined;
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    } catch {
      throw new HttpError(400, "Invalid JSON body", "InvalidRequestError");
    }
  }

  private authenticate(req: IncomingMessage): void {
    const expected =
      "Basic " +
      Buffer.from(`${this.options.publicKey}:${this.options.secretKey}`).toString("base64");
    if (req.headers.authorization !== expected) {
      throw new HttpError(
        401,
        "Invalid credentials. Confirm that you've configured the correct host.",
        "UnauthorizedError",
      );
    }
  }

  private route(
    method: string,
    url: URL,
    body: unknown,
  ): { status: number; body: unknown } | undefined {
    const path = url.pathname;
    if (path === "/api/public/health") return { status: 200, body: { status: "OK", version: "3" } };
    const tracking = this.routeTracking(method, url, body);
    if (tracking !== undefined) return tracking;
    if (path === "/api/public/v2/prompts" && method === "POST") {
      return { status: 200, body: this.createPrompt(body) };
    }
    if (path === "/api/public/v2/prompts" && method === "GET") {
      return { status: 200, body: this.listPrompts(url) };
    }
    const version = /^\/api\/public\/v2\/prompts\/([^/]+)\/versions\/(\d+)$/.exec(path);
    if (version && method === "PATCH") {
      return {
        status: 200,
        body: this.updateLabels(decodeURIComponent(version[1] ?? ""), Number(version[2]), body),
      };
    }
    const one = /^\/api\/public\/v2\/prompts\/([^/]+)$/.exec(path);
    if (one && method === "GET") {
      return { status: 200, body: this.getPrompt(decodeURIComponent(one[1] ?? ""), url) };
    }
    if (one && method === "DELETE") {
      this.deletePrompt(decodeURIComponent(one[1] ?? ""), url);
      return undefined;
    }
    throw new HttpError(404, `No route for ${method} ${path}`, "NotFoundError");
  }

  private checkLabels(labels: unknown): string[] {
    if (labels === undefined) return [];
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === "string")) {
      throw new HttpError(400, "labels must be an array of strings", "InvalidRequestError");
    }
    for (const label of labels) {
      if (!labelPattern.test(label) || label === "latest") {
        throw new HttpError(
          400,
          `Invalid label "${label}": use lowercase letters, digits, "_", "-" or "."; "latest" is reserved`,
          "InvalidRequestError",
        );
      }
    }
    return [...new Set(labels)];
  }

  /** A label names at most one version of a prompt: taking it moves it off the others. */
  private moveLabels(name: string, labels: readonly string[], to: StoredPrompt): void {
    for (const p of this.prompts) {
      if (p.name === name && p !== to) p.labels = p.labels.filter((l) => !labels.includes(l));
    }
  }

  private refreshLatest(name: string): void {
    const versions = this.prompts.filter((p) => p.name === name);
    const newest = Math.max(...versions.map((p) => p.version));
    for (const p of versions) {
      p.labels = p.labels.filter((l) => l !== "latest");
      if (p.version === newest) p.labels.push("latest");
    }
  }

  private createPrompt(body: unknown): StoredPrompt {
    const b = (body ?? {}) as Record<string, unknown>;
    const { name, type, prompt } = b;
    if (typeof name !== "string" || name === "") {
      throw new HttpError(400, "name is required", "InvalidRequestError");
    }
    if (type !== "chat" && type !== "text" && type !== undefined) {
      throw new HttpError(400, `type must be "chat" or "text"`, "InvalidRequestError");
    }
    const kind = type ?? "text";
    if (kind === "text" ? typeof prompt !== "string" : !Array.isArray(prompt)) {
      throw new HttpError(400, `prompt does not match type ${kind}`, "InvalidRequestError");
    }
    const labels = this.checkLabels(b.labels);
    const existing = this.prompts.filter((p) => p.name === name);
    const tags = Array.isArray(b.tags) ? (b.tags as string[]) : (existing[0]?.tags ?? []);
    const created: StoredPrompt = {
      name,
      version: existing.length === 0 ? 1 : Math.max(...existing.map((p) => p.version)) + 1,
      type: kind,
      prompt,
      config: b.config ?? {},
      labels,
      tags,
      commitMessage: typeof b.commitMessage === "string" ? b.commitMessage : null,
      createdAt: new Date().toISOString(),
    };
    for (const p of existing) p.tags = tags;
    this.prompts.push(created);
    this.moveLabels(name, labels, created);
    this.refreshLatest(name);
    return this.view(created);
  }

  private getPrompt(name: string, url: URL): StoredPrompt {
    const version = url.searchParams.get("version");
    const label = url.searchParams.get("label") ?? (version === null ? "production" : null);
    const found = this.prompts.find(
      (p) =>
        p.name === name &&
        (version === null || p.version === Number(version)) &&
        (label === null || p.labels.includes(label)),
    );
    if (!found) {
      throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    }
    return this.view(found);
  }

  private updateLabels(name: string, version: number, body: unknown): StoredPrompt {
    const target = this.prompts.find((p) => p.name === name && p.version === version);
    if (!target) throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    const labels = this.checkLabels((body as { newLabels?: unknown } | undefined)?.newLabels);
    // newLabels replaces the version's labels; "latest" stays where Langfuse put it.
    target.labels = [...labels, ...(target.labels.includes("latest") ? ["latest"] : [])];
    this.moveLabels(name, labels, target);
    return this.view(target);
  }

  private listPrompts(url: URL): unknown {
    const name = url.searchParams.get("name");
    const label = url.searchParams.get("label");
    const page = Number(url.searchParams.get("page") ?? "1");
    const limit = Number(url.searchParams.get("limit") ?? "50");
    const names = [...new Set(this.prompts.map((p) => p.name))].filter(
      (n) => name === null || n === name,
    );
    const metas = names
      .map((n) => {
        const versions = this.prompts.filter((p) => p.name === n);
        return {
          name: n,
          type: versions[0]?.type ?? "text",
          versions: versions.map((p) => p.version),
          labels: [...new Set(versions.flatMap((p) => p.labels))],
          tags: versions[0]?.tags ?? [],
          lastUpdatedAt: versions.at(-1)?.createdAt ?? "",
          lastConfig: versions.at(-1)?.config ?? {},
        };
      })
      .filter((m) => label === null || m.labels.includes(label));
    return {
      data: metas.slice((page - 1) * limit, page * limit),
      meta: { page, limit, totalItems: metas.length, totalPages: Math.ceil(metas.length / limit) },
    };
  }

  private deletePrompt(name: string, url: URL): void {
    const version = url.searchParams.get("version");
    const label = url.searchParams.get("label");
    const before = this.prompts.length;
    for (let i = this.prompts.length - 1; i >= 0; i--) {
      const p = this.prompts[i];
      if (
        p &&
        p.name === name &&
        (version === null || p.version === Number(version)) &&
        (label === null || p.labels.includes(label))
      ) {
        this.prompts.splice(i, 1);
      }
    }
    if (this.prompts.length === before) {
      throw new HttpError(404, "Prompt not found", "LangfuseNotFoundError");
    }
  }

  /** Creates dataset `name` with items (ARCHIVED ones too), as if made in the Langfuse UI. */
  seedDataset(
    name: string,
    items: readonly {
      id?: string;
      input: unknown;
      expectedOutput?: unknown;
      metadata?: unknown;
      status?: "ACTIVE" | "ARCHIVED";
    }[],
  ): StoredDataset {
    const dataset = this.upsertDataset({ name });
    for (const item of items) {
      this.upsertDatasetItem({ datasetName: name, ...item });
    }
    return dataset;
  }

  /**
   * Records a trace with tags, as if an application had sent it (listings filter on them), that
   * started at `timestamp` (ISO 8601; default now).
   */
  seedTrace(trace: {
    id: string;
    tags?: string[];
    userId?: string;
    environment?: string;
    timestamp?: string;
  }): void {
    this.traces.set(trace.id, {
      ...trace,
      tags: [...(trace.tags ?? [])],
      timestamp: trace.timestamp ?? new Date().toISOString(),
    });
  }

  /**
   * Stores a score as if it had been created at `timestamp` (ISO 8601; default now), which the API
   * cannot do: POST /api/public/scores always stamps the current time.
   */
  seedScore(score: {
    name: string;
    value: number | string;
    traceId?: string;
    dataType?: "NUMERIC" | "BOOLEAN" | "CATEGORICAL" | "TEXT";
    timestamp?: string;
    id?: string;
  }): StoredScore {
    const id = score.id ?? randomUUID();
    const error = this.checkScore({ ...score, id });
    if (error !== null) throw new Error(error);
    const stored: StoredScore = {
      ...score,
      id,
      timestamp: score.timestamp ?? new Date().toISOString(),
    };
    this.scores.set(id, stored);
    return stored;
  }

  /** The tags of trace `id`: seeded ones and those its spans carry in `langfuse.trace.tags`. */
  private traceTags(id: string): string[] {
    const tags = new Set(this.traces.get(id)?.tags ?? []);
    for (const span of this.spans.values()) {
      const attribute = span.attributes["langfuse.trace.tags"];
      if (span.traceId !== id || !Array.isArray(attribute)) continue;
      for (const tag of attribute) if (typeof tag === "string") tags.add(tag);
    }
    return [...tags];
  }

  /**
   * GET /api/public/v2/scores: filters name, traceId, dataType, fromTimestamp (inclusive),
   * toTimestamp (exclusive) and traceTags (the trace must carry every one); newest first; `page`
   * from 1 and `limit` up to 100 (more is a 400, as Langfuse documents); `fields` picks the
   * `score` and `trace` groups (both by default; filtering by trace tags needs `trace`).
   */
  private listScores(url: URL): unknown {
    const q = url.searchParams;
    const limit = Number(q.get("limit") ?? "50");
    if (Number.isInteger(limit) && limit > 100) {
      throw new HttpError(400, "limit must be at most 100", "InvalidRequestError");
    }
    const time = (key: string): number | null => {
      const value = q.get(key);
      if (value === null) return null;
      const parsed = Date.parse(value);
      if (Number.isNaN(parsed)) {
        throw new HttpError(400, `${key} must be an ISO 8601 datetime`, "InvalidRequestError");
      }
      return parsed;
    };
    const from = time("fromTimestamp");
    const to = time("toTimestamp");
    const tags = q.getAll("traceTags").flatMap((t) => t.split(","));
    const fields = (q.get("fields") ?? "score,trace").split(",").map((f) => f.trim());
    if (fields.some((f) => f !== "score" && f !== "trace")) {
      throw new HttpError(400, "fields may name score and trace only", "InvalidRequestError");
    }
    if (tags.length > 0 && !fields.includes("trace")) {
      throw new HttpError(
        400,
        "filtering by trace properties needs the trace field group",
        "InvalidRequestError",
      );
    }
    const name = q.get("name");
    const traceId = q.get("traceId");
    const dataType = q.get("dataType");
    const matching = [...this.scores.values()]
      .filter((s) => {
        const at = Date.parse(String(s.timestamp));
        if (name !== null && s.name !== name) return false;
        if (traceId !== null && s.traceId !== traceId) return false;
        if (dataType !== null && scoreDataType(s) !== dataType) return false;
        if (from !== null && at < from) return false;
        if (to !== null && at >= to) return false;
        if (tags.length === 0) return true;
        const traceTags = s.traceId === undefined ? [] : this.traceTags(s.traceId);
        return tags.every((t) => traceTags.includes(t));
      })
      .sort((a, b) => Date.parse(String(b.timestamp)) - Date.parse(String(a.timestamp)))
      .map((s) => this.scoreView(s, fields.includes("trace")));
    return paginate(matching, url);
  }

  /**
   * GET /api/public/v3/scores: comma-separated list filters id, name, source, dataType,
   * environment, traceId, sessionId, observationId (needs traceId) and experimentId (OR within a
   * filter, AND across), fromTimestamp (inclusive), toTimestamp (exclusive); traceId excludes
   * sessionId and experimentId (400, as documented); newest first; `limit` up to 100 (more is a
   * 400) and a base64url `cursor`, absent on the last page; `fields` adds the details, subject and
   * annotation groups (others are a 400). `value` is typed: a number, a boolean, or a string.
   */
  private listScoresV3(url: URL): unknown {
    const q = url.searchParams;
    const limit = pageLimit(q, 100);
    const list = (key: string): string[] | null => {
      const value = q.get(key);
      if (value === null || value === "") return null;
      return value.split(",").map((v) => v.trim());
    };
    const fields = list("fields") ?? [];
    const unknown = fields.filter((f) => !["details", "subject", "annotation"].includes(f));
    if (unknown.length > 0) {
      throw new HttpError(
        400,
        `unknown field groups: ${unknown.join(", ")}; allowed: details, subject, annotation`,
        "InvalidRequestError",
      );
    }
    const traceIds = list("traceId");
    const sessionIds = list("sessionId");
    const observationIds = list("observationId");
    const experimentIds = list("experimentId");
    if (traceIds !== null && (sessionIds !== null || experimentIds !== null)) {
      throw new HttpError(
        400,
        "traceId is mutually exclusive with sessionId and experimentId",
        "InvalidRequestError",
      );
    }
    if (observationIds !== null && traceIds === null) {
      throw new HttpError(400, "observationId requires traceId", "InvalidRequestError");
    }
    const from = isoParam(q, "fromTimestamp");
    const to = isoParam(q, "toTimestamp");
    const ids = list("id");
    const names = list("name");
    const sources = list("source")?.map((v) => v.toUpperCase()) ?? null;
    const dataTypes = list("dataType")?.map((v) => v.toUpperCase()) ?? null;
    const environments = list("environment");
    const among = (allowed: string[] | null, value: unknown): boolean =>
      allowed === null || (typeof value === "string" && allowed.includes(value));
    const matching = [...this.scores.values()]
      .filter((s) => {
        const at = Date.parse(String(s.timestamp));
        return (
          among(ids, s.id) &&
          among(names, s.name) &&
          among(sources, s.source ?? "API") &&
          among(dataTypes, scoreDataType(s)) &&
          among(environments, s.environment ?? "default") &&
          among(traceIds, s.traceId) &&
          among(sessionIds, s.sessionId) &&
          among(observationIds, s.observationId) &&
          among(experimentIds, s.datasetRunId) &&
          (from === null || at >= from) &&
          (to === null || at < to)
        );
      })
      .sort(
        (a, b) =>
          Date.parse(String(b.timestamp)) - Date.parse(String(a.timestamp)) ||
          a.id.localeCompare(b.id),
      )
      .map((s) => scoreViewV3(s, fields));
    const { data, cursor } = cursorPage(matching, q.get("cursor"), limit, "base64url");
    return { data, meta: { limit, ...(cursor === undefined ? {} : { cursor }) } };
  }

  /** Every observation: one root per seeded trace, and every OTLP span. */
  private observations(): ObservationRow[] {
    const rows: ObservationRow[] = [];
    for (const trace of this.traces.values()) {
      rows.push({
        id: `root-${trace.id}`,
        traceId: trace.id,
        startTime: trace.timestamp,
        endTime: trace.timestamp,
        parentObservationId: null,
        type: "SPAN",
        name: null,
        userId: trace.userId ?? null,
        sessionId: null,
        environment: trace.environment ?? "default",
      });
    }
    for (const span of this.spans.values()) {
      const attribute = (key: string): string | null => {
        const value = span.attributes[key];
        return typeof value === "string" ? value : null;
      };
      rows.push({
        id: span.spanId,
        traceId: span.traceId,
        startTime: span.startTime,
        endTime: span.endTime,
        parentObservationId: span.parentSpanId,
        type: (attribute("langfuse.observation.type") ?? "span").toUpperCase(),
        name: span.name,
        userId: attribute("user.id") ?? attribute("langfuse.user.id"),
        sessionId: attribute("session.id") ?? attribute("langfuse.session.id"),
        environment: attribute("langfuse.environment") ?? "default",
      });
    }
    return rows;
  }

  /**
   * GET /api/public/v2/observations: newest first (by startTime), `limit` up to 1000 (default 50,
   * more is a 400) and a base64 `cursor`, absent on the last page; `fields` picks the groups
   * (core always; core and basic by default; trace_context adds tags, release and traceName;
   * the other documented groups are accepted and add nothing here; unknown ones are a 400).
   * Filters: the query parameters traceId, name, type, fromStartTime (inclusive) and toStartTime
   * (exclusive), or a JSON `filter`, which takes precedence over them, as documented; it may use
   * the columns traceTags/tags (arrayOptions: any of, all of, none of), startTime (datetime),
   * traceId, name and type (string =) and isRootObservation (boolean =); others are a 400 here.
   */
  private listObservationsV2(url: URL): unknown {
    const q = url.searchParams;
    const limit = pageLimit(q, 1000);
    if (q.get("parseIoAsJson") === "true") {
      throw new HttpError(400, "parseIoAsJson is no longer supported", "InvalidRequestError");
    }
    const fields = (q.get("fields") ?? "core,basic").split(",").map((f) => f.trim());
    const unknown = fields.filter((f) => !observationFieldGroups.includes(f));
    if (unknown.length > 0) {
      throw new HttpError(
        400,
        `unknown field groups: ${unknown.join(", ")}`,
        "InvalidRequestError",
      );
    }
    const conditions = observationConditions(q);
    const matching = this.observations()
      .filter((o) => {
        const tags = o.traceId === null ? [] : this.traceTags(o.traceId);
        return conditions.every((c) => c(o, tags));
      })
      .sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime) || a.id.localeCompare(b.id))
      .map((o) => this.observationView(o, fields));
    const { data, cursor } = cursorPage(matching, q.get("cursor"), limit, "base64");
    return { data, meta: cursor === undefined ? {} : { cursor } };
  }

  /** An observation as GET /api/public/v2/observations returns it, with the `fields` groups. */
  private observationView(o: ObservationRow, fields: readonly string[]): Record<string, unknown> {
    const view: Record<string, unknown> = {
      id: o.id,
      traceId: o.traceId,
      startTime: o.startTime,
      endTime: o.endTime,
      projectId: testProjectId,
      parentObservationId: o.parentObservationId,
      type: o.type,
    };
    if (fields.includes("basic")) {
      Object.assign(view, {
        name: o.name,
        level: "DEFAULT",
        statusMessage: null,
        version: null,
        environment: o.environment,
        bookmarked: false,
        public: false,
        userId: o.userId,
        sessionId: o.sessionId,
        isRootObservation: o.parentObservationId === null,
      });
    }
    if (fields.includes("trace_context")) {
      Object.assign(view, {
        tags: o.traceId === null ? [] : this.traceTags(o.traceId),
        release: null,
        traceName: null,
      });
    }
    return view;
  }

  /** A stored score as GET /api/public/v2/scores returns it. */
  private scoreView(s: StoredScore, withTrace: boolean): Record<string, unknown> {
    const dataType = scoreDataType(s);
    const timestamp = String(s.timestamp);
    const view: Record<string, unknown> = {
      id: s.id,
      projectId: testProjectId,
      traceId: s.traceId ?? null,
      sessionId: s.sessionId ?? null,
      observationId: s.observationId ?? null,
      datasetRunId: s.datasetRunId ?? null,
      name: s.name,
      source: s.source ?? "API",
      timestamp,
      createdAt: timestamp,
      updatedAt: timestamp,
      authorUserId: null,
      comment: s.comment ?? null,
      metadata: s.metadata ?? null,
      configId: null,
      queueId: null,
      environment: s.environment ?? "default",
      dataType,
    };
    if (dataType === "NUMERIC") view.value = s.value;
    if (dataType === "BOOLEAN") {
      view.value = s.value;
      view.stringValue = s.value === 1 ? "True" : "False";
    }
    // A categorical score's value maps its category through a score config; without one it is 0.
    if (dataType === "CATEGORICAL") Object.assign(view, { value: 0, stringValue: String(s.value) });
    if (dataType === "TEXT") view.stringValue = String(s.value);
    if (withTrace && s.traceId !== undefined) {
      const trace = this.traces.get(s.traceId);
      view.trace = {
        tags: this.traceTags(s.traceId),
        ...(trace?.userId === undefined ? {} : { userId: trace.userId }),
        environment: trace?.environment ?? "default",
      };
    }
    return view;
  }

  private routeTracking(
    method: string,
    url: URL,
    body: unknown,
  ): { status: number; body: unknown } | undefined {
    const path = url.pathname;
    if (path === "/api/public/projects" && method === "GET") {
      return {
        status: 200,
        body: { data: [{ id: testProjectId, name: "llmops-test", metadata: {} }] },
      };
    }
    if (path === "/api/public/otel/v1/traces" && method === "POST") {
      this.storeOtlpSpans(body);
      // An ExportTraceServiceResponse without partialSuccess: every span was accepted.
      return { status: 200, body: {} };
    }
    if (path === "/api/public/scores" && method === "POST") {
      const b = object(body, "body");
      const id = typeof b.id === "string" ? b.id : randomUUID();
      const error = this.checkScore({ ...b, id });
      if (error !== null) throw new HttpError(400, error, "InvalidRequestError");
      const existing = this.scores.get(id);
      // Langfuse stamps a score when it is created; listings filter and sort on that timestamp.
      const timestamp = existing?.timestamp ?? new Date().toISOString();
      this.scores.set(id, { ...(existing ?? {}), timestamp, ...b, id } as StoredScore);
      return { status: 200, body: { id } };
    }
    if (path === "/api/public/v2/scores" && method === "GET") {
      return { status: 200, body: this.listScores(url) };
    }
    if (path === "/api/public/v3/scores" && method === "GET") {
      return { status: 200, body: this.listScoresV3(url) };
    }
    if (path === "/api/public/v2/observations" && method === "GET") {
      return { status: 200, body: this.listObservationsV2(url) };
    }
    if (path === "/api/public/v2/datasets" && method === "POST") {
      return { status: 200, body: this.upsertDataset(body) };
    }
    if (path === "/api/public/v2/datasets" && method === "GET") {
      return { status: 200, body: paginate([...this.datasets.values()], url) };
    }
    const dataset = /^\/api\/public\/v2\/datasets\/([^/]+)$/.exec(path);
    if (dataset && method === "GET") {
      return { status: 200, body: this.datasetNamed(decodeURIComponent(dataset[1] ?? "")) };
    }
    if (path === "/api/public/dataset-items" && method === "POST") {
      return { status: 200, body: this.upsertDatasetItem(body) };
    }
    if (path === "/api/public/dataset-items" && method === "GET") {
      const name = url.searchParams.get("datasetName");
      const datasetId = name === null ? null : this.datasetNamed(name).id;
      // Langfuse lists items newest first, archived ones included.
      const items = [...this.datasetItems.values()]
        .filter((i) => datasetId === null || i.datasetId === datasetId)
        .reverse();
      return { status: 200, body: paginate(items, url) };
    }
    const item = /^\/api\/public\/dataset-items\/([^/]+)$/.exec(path);
    if (item && method === "GET") {
      const found = this.datasetItems.get(decodeURIComponent(item[1] ?? ""));
      if (!found) throw new HttpError(404, "Dataset item not found", "LangfuseNotFoundError");
      return { status: 200, body: structuredClone(found) };
    }
    return undefined;
  }

  /** Stores the spans of an OTLP ExportTraceServiceRequest (JSON), upserting by trace id and span id. */
  private storeOtlpSpans(body: unknown): void {
    const resourceSpans = object(body, "body").resourceSpans;
    if (!Array.isArray(resourceSpans)) {
      throw new HttpError(400, "resourceSpans must be an array", "InvalidRequestError");
    }
    const decoded: StoredSpan[] = [];
    for (const rs of resourceSpans as Record<string, unknown>[]) {
      const resource = otlpAttributes(
        (rs.resource as { attributes?: unknown } | undefined)?.attributes,
      );
      for (const ss of (rs.scopeSpans ?? []) as Record<string, unknown>[]) {
        const scope = (ss.scope ?? {}) as { name?: string; version?: string };
        for (const span of (ss.spans ?? []) as Record<string, unknown>[]) {
          const traceId = otlpId(span.traceId, 32, "traceId");
          const spanId = otlpId(span.spanId, 16, "spanId");
          const parent = span.parentSpanId;
          const status = (span.status ?? {}) as { code?: number; message?: string };
          decoded.push({
            traceId,
            spanId,
            parentSpanId:
              parent === undefined || parent === "" ? null : otlpId(parent, 16, "parentSpanId"),
            name: typeof span.name === "string" ? span.name : "",
            startTime: unixNanoToIso(span.startTimeUnixNano, "startTimeUnixNano"),
            endTime: unixNanoToIso(span.endTimeUnixNano, "endTimeUnixNano"),
            attributes: otlpAttributes(span.attributes),
            status: {
              code: status.code ?? 0,
              ...(status.message === undefined ? {} : { message: status.message }),
            },
            scope: {
              name: scope.name ?? "",
              ...(scope.version === undefined ? {} : { version: scope.version }),
            },
            resource,
          });
        }
      }
    }
    // All or nothing: a malformed span fails the request before any span is stored.
    for (const span of decoded) this.spans.set(`${span.traceId}/${span.spanId}`, span);
  }

  private checkScore(body: Record<string, unknown>): string | null {
    if (typeof body.name !== "string" || body.name === "") return "score name is required";
    const { value, dataType } = body;
    if (typeof value !== "number" && typeof value !== "string") {
      return "score value must be a number or a string";
    }
    if (typeof value === "number" && !Number.isFinite(value)) return "score value must be finite";
    if ((dataType === "NUMERIC" || dataType === "BOOLEAN") && typeof value !== "number") {
      return `a ${dataType} score needs a numeric value`;
    }
    if (dataType === "BOOLEAN" && value !== 0 && value !== 1) return "a BOOLEAN score is 0 or 1";
    if (
      typeof body.traceId !== "string" &&
      typeof body.sessionId !== "string" &&
      typeof body.datasetRunId !== "string"
    ) {
      return "a score needs a traceId, sessionId or datasetRunId";
    }
    return null;
  }

  private datasetNamed(name: string): StoredDataset {
    const found = this.datasets.get(name);
    if (!found) throw new HttpError(404, "Dataset not found", "LangfuseNotFoundError");
    return structuredClone(found);
  }

  /** POST /api/public/v2/datasets upserts on the name. */
  private upsertDataset(body: unknown): StoredDataset {
    const b = object(body, "body");
    if (typeof b.name !== "string" || b.name === "") {
      throw new HttpError(400, "name is required", "InvalidRequestError");
    }
    const now = new Date().toISOString();
    const existing = this.datasets.get(b.name);
    const dataset: StoredDataset = {
      id: existing?.id ?? `ds-${randomUUID()}`,
      name: b.name,
      description:
        typeof b.description === "string" ? b.description : (existing?.description ?? null),
      metadata: b.metadata ?? existing?.metadata ?? null,
      projectId: testProjectId,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.datasets.set(b.name, dataset);
    return structuredClone(dataset);
  }

  /** POST /api/public/dataset-items upserts on the id; ids are unique per project, not per dataset. */
  private upsertDatasetItem(body: unknown): StoredDatasetItem {
    const b = object(body, "body");
    if (typeof b.datasetName !== "string") {
      throw new HttpError(400, "datasetName is required", "InvalidRequestError");
    }
    const dataset = this.datasets.get(b.datasetName);
    if (!dataset) throw new HttpError(404, "Dataset not found", "LangfuseNotFoundError");
    if (
      b.status !== undefined &&
      b.status !== null &&
      b.status !== "ACTIVE" &&
      b.status !== "ARCHIVED"
    ) {
      throw new HttpError(400, "status must be ACTIVE or ARCHIVED", "InvalidRequestError");
    }
    const id = typeof b.id === "string" && b.id !== "" ? b.id : randomUUID();
    const existing = this.datasetItems.get(id);
    if (existing && existing.datasetId !== dataset.id) {
      throw new HttpError(
        404,
        `The dataset item with id ${id} already exists in a dataset other than ${dataset.name}`,
        "LangfuseNotFoundError",
      );
    }
    const now = new Date().toISOString();
    const item: StoredDatasetItem = {
      id,
      datasetId: dataset.id,
      datasetName: dataset.name,
      status: b.status ?? existing?.status ?? "ACTIVE",
      input: b.input ?? existing?.input ?? null,
      expectedOutput: b.expectedOutput ?? existing?.expectedOutput ?? null,
      metadata: b.metadata ?? existing?.metadata ?? null,
      sourceTraceId:
        (b.sourceTraceId as string | null | undefined) ?? existing?.sourceTraceId ?? null,
      sourceObservationId:
        (b.sourceObservationId as string | null | undefined) ??
        existing?.sourceObservationId ??
        null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    this.datasetItems.set(id, item);
    return structuredClone(item);
  }

  private view(p: StoredPrompt): StoredPrompt & { resolutionGraph: null } {
    return structuredClone({ ...p, resolutionGraph: null });
  }
}

/** A score's data type: the one it was created with, else NUMERIC for numbers, CATEGORICAL for strings. */
function scoreDataType(score: StoredScore): string {
  if (typeof score.dataType === "string") return score.dataType;
  return typeof score.value === "number" ? "NUMERIC" : "CATEGORICAL";
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${what} must be a JSON object`, "InvalidRequestError");
  }
  return value as Record<string, unknown>;
}

/** An OTLP/JSON id: lowercase hex (the OTLP JSON encoding) of `hexLength` digits. */
function otlpId(value: unknown, hexLength: number, what: string): string {
  if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${String(hexLength)}}$`).test(value)) {
    throw new HttpError(
      400,
      `${what} must be ${String(hexLength)} hex digits`,
      "InvalidRequestError",
    );
  }
  return value;
}

/** OTLP/JSON times are unix nanoseconds as a decimal string (or a number). */
function unixNanoToIso(value: unknown, what: string): string {
  if ((typeof value !== "string" || !/^\d+$/.test(value)) && typeof value !== "number") {
    throw new HttpError(400, `${what} must be unix nanoseconds`, "InvalidRequestError");
  }
  const nanos = BigInt(value);
  return new Date(Number(nanos / 1_000_000n)).toISOString();
}

/** Decodes an OTLP AnyValue. */
function otlpValue(value: unknown): unknown {
  const v = (value ?? {}) as Record<string, unknown>;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return v.doubleValue;
  if ("arrayValue" in v) {
    return ((v.arrayValue as { values?: unknown[] }).values ?? []).map(otlpValue);
  }
  if ("kvlistValue" in v) {
    return otlpAttributes((v.kvlistValue as { values?: unknown }).values);
  }
  return null;
}

/** Decodes an OTLP KeyValue list into an object. */
function otlpAttributes(list: unknown): Record<string, unknown> {
  if (list === undefined) return {};
  if (!Array.isArray(list)) {
    throw new HttpError(400, "attributes must be an array of key-values", "InvalidRequestError");
  }
  return Object.fromEntries(
    (list as { key?: unknown; value?: unknown }[]).map((kv) => [
      String(kv.key),
      otlpValue(kv.value),
    ]),
  );
}

/** Langfuse's page-based pagination: `page` from 1, `limit` default 50, and a `meta` block. */
function paginate(all: readonly unknown[], url: URL): unknown {
  const page = Number(url.searchParams.get("page") ?? "1");
  const limit = Number(url.searchParams.get("limit") ?? "50");
  if (!Number.isInteger(page) || page < 1 || !Number.isInteger(limit) || limit < 1) {
    throw new HttpError(400, "page and limit must be positive integers", "InvalidRequestError");
  }
  return {
    data: structuredClone(all.slice((page - 1) * limit, page * limit)),
    meta: { page, limit, totalItems: all.length, totalPages: Math.ceil(all.length / limit) },
  };
}

/** An observation as the v2 listing sees it (from a seeded trace or an OTLP span). */
interface ObservationRow {
  id: string;
  traceId: string | null;
  startTime: string;
  endTime: string | null;
  parentObservationId: string | null;
  type: string;
  name: string | null;
  userId: string | null;
  sessionId: string | null;
  environment: string;
}

/** The field groups GET /api/public/v2/observations documents. */
const observationFieldGroups = [
  "core",
  "basic",
  "time",
  "io",
  "metadata",
  "model",
  "usage",
  "prompt",
  "metrics",
  "trace_context",
];

type ObservationCondition = (o: ObservationRow, traceTags: readonly string[]) => boolean;

/** The conditions of an observation listing: its `filter`, else its query parameters. */
function observationConditions(q: URLSearchParams): ObservationCondition[] {
  const filter = q.get("filter");
  if (filter !== null && filter !== "") return filterConditions(filter);
  const conditions: ObservationCondition[] = [];
  for (const key of ["traceId", "name", "type"] as const) {
    const value = q.get(key);
    if (value !== null) conditions.push((o) => o[key] === value);
  }
  const from = isoParam(q, "fromStartTime");
  const to = isoParam(q, "toStartTime");
  if (from !== null) conditions.push((o) => Date.parse(o.startTime) >= from);
  if (to !== null) conditions.push((o) => Date.parse(o.startTime) < to);
  return conditions;
}

/** The conditions of a v2 observations `filter` (a JSON array), as far as this server knows them. */
function filterConditions(filter: string): ObservationCondition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(filter);
  } catch {
    throw new HttpError(400, "filter must be a JSON array of conditions", "InvalidRequestError");
  }
  if (!Array.isArray(parsed)) {
    throw new HttpError(400, "filter must be a JSON array of conditions", "InvalidRequestError");
  }
  return parsed.map((raw: unknown, i): ObservationCondition => {
    const c = object(raw, `filter[${String(i)}]`);
    const { type, column, operator, value } = c;
    const bad = (why: string): HttpError =>
      new HttpError(400, `filter[${String(i)}]: ${why}`, "InvalidRequestError");
    if (type === "arrayOptions" && (column === "traceTags" || column === "tags")) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw bad("value must be an array of strings");
      }
      const wanted = value;
      if (operator === "any of") return (_o, tags) => wanted.some((t) => tags.includes(t));
      if (operator === "all of") return (_o, tags) => wanted.every((t) => tags.includes(t));
      if (operator === "none of") return (_o, tags) => !wanted.some((t) => tags.includes(t));
      throw bad(`arrayOptions takes any of, all of or none of, not ${String(operator)}`);
    }
    if (type === "datetime" && column === "startTime") {
      const at = typeof value === "string" ? Date.parse(value) : NaN;
      if (Number.isNaN(at)) throw bad("value must be an ISO 8601 datetime");
      const compare: Record<string, (t: number) => boolean> = {
        ">": (t) => t > at,
        "<": (t) => t < at,
        ">=": (t) => t >= at,
        "<=": (t) => t <= at,
      };
      const test = typeof operator === "string" ? compare[operator] : undefined;
      if (test === undefined) throw bad(`datetime takes >, <, >= or <=, not ${String(operator)}`);
      return (o) => test(Date.parse(o.startTime));
    }
    if (
      type === "string" &&
      (column === "traceId" || column === "name" || column === "type") &&
      operator === "="
    ) {
      if (typeof value !== "string") throw bad("value must be a string");
      return (o) => o[column] === value;
    }
    if (type === "boolean" && column === "isRootObservation" && operator === "=") {
      if (typeof value !== "boolean") throw bad("value must be a boolean");
      return (o) => (o.parentObservationId === null) === value;
    }
    throw bad(
      `this test server does not filter on ${String(type)} ${String(column)} ${String(operator)}`,
    );
  });
}

/** A stored score as GET /api/public/v3/scores returns it, with the `fields` groups. */
function scoreViewV3(s: StoredScore, fields: readonly string[]): Record<string, unknown> {
  const dataType = scoreDataType(s);
  const timestamp = String(s.timestamp);
  const value =
    dataType === "NUMERIC"
      ? s.value
      : dataType === "BOOLEAN"
        ? s.value === 1 || s.value === "true" || s.value === "True"
        : String(s.value);
  const view: Record<string, unknown> = {
    id: s.id,
    projectId: testProjectId,
    name: s.name,
    source: s.source ?? "API",
    timestamp,
    environment: s.environment ?? "default",
    createdAt: timestamp,
    updatedAt: timestamp,
    dataType,
    value,
  };
  if (fields.includes("details")) {
    Object.assign(view, {
      comment: s.comment ?? null,
      configId: null,
      metadata: s.metadata ?? {},
    });
  }
  if (fields.includes("annotation")) Object.assign(view, { authorUserId: null, queueId: null });
  if (fields.includes("subject")) {
    view.subject =
      s.observationId !== undefined
        ? { kind: "observation", id: s.observationId, traceId: s.traceId ?? null }
        : s.traceId !== undefined
          ? { kind: "trace", id: s.traceId }
          : s.sessionId !== undefined
            ? { kind: "session", id: s.sessionId }
            : { kind: "experiment", id: s.datasetRunId ?? null };
  }
  return view;
}

/** `limit` of a cursor listing: default 50, at most `max` (more is a 400, as documented). */
function pageLimit(q: URLSearchParams, max: number): number {
  const limit = Number(q.get("limit") ?? "50");
  if (!Number.isInteger(limit) || limit < 1) {
    throw new HttpError(400, "limit must be a positive integer", "InvalidRequestError");
  }
  if (limit > max) {
    throw new HttpError(400, `limit must be at most ${String(max)}`, "InvalidRequestError");
  }
  return limit;
}

/** An ISO 8601 query parameter as epoch ms, null when absent; a 400 when malformed. */
function isoParam(q: URLSearchParams, key: string): number | null {
  const value = q.get(key);
  if (value === null) return null;
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) {
    throw new HttpError(400, `${key} must be an ISO 8601 datetime`, "InvalidRequestError");
  }
  return parsed;
}

/**
 * One page of `all` from an opaque cursor (the offset, encoded), and the next page's cursor,
 * absent on the last page. A cursor this server did not hand out is a 400.
 */
function cursorPage(
  all: readonly unknown[],
  cursor: string | null,
  limit: number,
  encoding: "base64" | "base64url",
): { data: unknown[]; cursor?: string } {
  let offset = 0;
  if (cursor !== null && cursor !== "") {
    const decoded = (() => {
      try {
        return JSON.parse(Buffer.from(cursor, encoding).toString("utf8")) as unknown;
      } catch {
        return undefined;
      }
    })();
    const at = (decoded as { offset?: unknown } | undefined)?.offset;
    if (typeof at !== "number" || !Number.isInteger(at) || at < 0) {
      throw new HttpError(400, "invalid cursor", "InvalidRequestError");
    }
    offset = at;
  }
  const data = structuredClone(all.slice(offset, offset + limit));
  const next = offset + limit;
  return next < all.length
    ? { data, cursor: Buffer.from(JSON.stringify({ offset: next })).toString(encoding) }
    : { data };
}
